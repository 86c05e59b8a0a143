// writeJsonWithList writes a report's list one item at a time: its output must be byte for byte
// what JSON.stringify(…, null, 2) writes for the whole, whatever the items hold.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { writeJsonWithList } from '../../src/cli/write-json.js';

function written(json: object, key: string, items: readonly unknown[]): { text: string; parts: string[] } {
  const parts: string[] = [];
  writeJsonWithList({ write: (text: string) => parts.push(text) }, json, key, items, (item) => item);
  return { text: parts.join(''), parts };
}

const nested = {
  path: 'a\nb "quoted" \\ \u0000',
  holders: [{ pid: 1, fds: [3, 4], tids: [] }, { files: { empty: {} } }],
  none: null,
};

describe('writeJsonWithList', () => {
  const cases: { name: string; json: object; key: string; items: unknown[] }[] = [
    { name: 'no item', json: { schema: 's', files: [], totals: { files: 0 } }, key: 'files', items: [] },
    { name: 'one item', json: { schema: 's', files: [], totals: {} }, key: 'files', items: [nested] },
    {
      name: 'the list last, a nested key of the same name before it',
      json: { inner: { files: [] }, files: [] },
      key: 'files',
      items: [1, 'two', nested, [], {}],
    },
    {
      name: 'strings with newlines and the placeholder text itself',
      json: { a: '\n  "files": []', files: [], z: [1] },
      key: 'files',
      items: ['\n  "files": []', { x: '\n\n' }],
    },
  ];
  for (const { name, json, key, items } of cases) {
    it(`writes what JSON.stringify writes: ${name}`, () => {
      const whole = `${JSON.stringify({ ...json, [key]: items }, null, 2)}\n`;
      assert.equal(written(json, key, items).text, whole);
    });
  }

  it('writes a long list in pieces, not as one string', () => {
    const items = Array.from({ length: 5000 }, (_, i) => ({ i, name: `file-${i}`.repeat(4) }));
    const json = { schema: 's', files: [], totals: { files: items.length } };
    const { text, parts } = written(json, 'files', items);
    assert.equal(text, `${JSON.stringify({ ...json, files: items }, null, 2)}\n`);
    // About 450 kB: written in pieces of a few dozen kB.
    const longest = Math.max(...parts.map((part) => part.length));
    assert.ok(parts.length >= 6 && longest < 70_000, `${parts.length} writes, the longest ${longest}`);
  });

  it('refuses JSON without the empty list it stands for', () => {
    assert.throws(() => written({ files: [1] }, 'files', [2]), /no empty top-level "files"/);
  });
});
