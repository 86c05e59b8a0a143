import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parseFileNr, parseNrOpen, readFileNr, readNrOpen, type FileNr } from '../../src/proc/file-nr.js';

// Captured from a 6.18 kernel (2 CPUs, 8 GiB): file-nr and nr_open as the kernel prints them.
function fixture(name: string): string {
  return readFileSync(new URL(`../../../test/fixtures/proc/${name}`, import.meta.url), 'latin1');
}

describe('parseFileNr', () => {
  const cases: [string, string, FileNr | null][] = [
    ['the captured file', fixture('file-nr.txt'), { allocated: 225, max: 2466174 }],
    ['a last line without a newline', '5\t0\t100', { allocated: 5, max: 100 }],
    // systemd sets fs.file-max to LONG_MAX; a number rounds it to 2^63, still far beyond any count.
    ["systemd's LONG_MAX ceiling", '1024\t0\t9223372036854775807\n', { allocated: 1024, max: 2 ** 63 }],
    ['empty text', '', null],
    ['spaces instead of tabs', '225 0 2466174\n', null],
    ['two fields', '225\t2466174\n', null],
    ['four fields', '225\t0\t2466174\t1\n', null],
    ['a negative count', '-1\t0\t2466174\n', null],
    ['a non-numeric field', '225\tx\t2466174\n', null],
    ['two lines', '225\t0\t2466174\n225\t0\t2466174\n', null],
  ];
  for (const [name, text, expected] of cases) {
    it(`reads ${name}`, () => {
      assert.deepEqual(parseFileNr(text), expected);
    });
  }
});

describe('parseNrOpen', () => {
  const cases: [string, string, number | null][] = [
    ['one count with a newline', '1048576\n', 1048576],
    ['one count without a newline', '1048576', 1048576],
    ['empty text', '', null],
    ['a negative number', '-1\n', null],
    ['a word', 'unlimited\n', null],
    ['two counts', '1 2\n', null],
  ];
  for (const [name, text, expected] of cases) {
    it(`parseNrOpen reads ${name}`, () => {
      assert.equal(parseNrOpen(text), expected);
    });
  }

  it('reads the captured nr_open', () => {
    assert.equal(parseNrOpen(fixture('nr-open.txt')), 1048576);
  });
});

describe('readFileNr and readNrOpen on a fixture /proc', () => {
  const root = mkdtempSync(join(tmpdir(), 'limbo-file-nr-'));
  after(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(join(root, 'sys/fs'), { recursive: true });
  writeFileSync(join(root, 'sys/fs/file-nr'), fixture('file-nr.txt'));
  writeFileSync(join(root, 'sys/fs/nr_open'), fixture('nr-open.txt'));

  it('reads both from the given root', () => {
    assert.deepEqual(readFileNr(root), { ok: true, value: { allocated: 225, max: 2466174 } });
    assert.deepEqual(readNrOpen(root), { ok: true, value: 1048576 });
  });

  it('reports a root without the files as gone', () => {
    assert.deepEqual(readFileNr(join(root, 'missing')), { ok: false, failure: 'gone' });
    assert.deepEqual(readNrOpen(join(root, 'missing')), { ok: false, failure: 'gone' });
  });

  it('reads the live /proc by default', () => {
    const live = readFileNr();
    assert.ok(live.ok && live.value !== null && live.value.allocated > 0 && live.value.max > 0);
  });
});
