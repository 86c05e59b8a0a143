import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { getOrMake, memoizeByText } from '../../src/core/memo.js';
import { readProcBytes, readProcText } from '../../src/proc/read.js';

describe('readProcText and readProcBytes (one shared buffer)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'limbo-read-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('reads a file larger than the buffer whole, and a small one after it', () => {
    const big = Buffer.alloc(300 * 1024);
    for (let i = 0; i < big.length; i++) big[i] = 0x20 + (i % 90);
    writeFileSync(join(dir, 'big'), big);
    writeFileSync(join(dir, 'small'), 'small\n');
    const text = readProcText(join(dir, 'big'));
    assert.ok(text.ok);
    assert.equal(text.value, big.toString('latin1'));
    assert.deepEqual(readProcText(join(dir, 'small')), { ok: true, value: 'small\n' });
  });

  it('hands out bytes that a later read does not overwrite', () => {
    writeFileSync(join(dir, 'a'), Buffer.from([0x61, 0xff, 0x0a]));
    writeFileSync(join(dir, 'b'), 'bbb');
    const a = readProcBytes(join(dir, 'a'));
    readProcBytes(join(dir, 'b'));
    assert.ok(a.ok);
    assert.deepEqual([...a.value], [0x61, 0xff, 0x0a]);
  });

  it('reads a live /proc file whose st_size is 0', () => {
    const status = readProcText('/proc/self/status');
    assert.ok(status.ok);
    assert.match(status.value, new RegExp(`^Pid:\\s+${process.pid}$`, 'm'));
  });

  it('says why a file could not be read', () => {
    assert.deepEqual(readProcText(join(dir, 'absent')), { ok: false, failure: 'gone' });
  });
});

describe('memoizeByText', () => {
  it('parses each distinct text once and shares a frozen answer', () => {
    let calls = 0;
    const parse = memoizeByText((text: string) => {
      calls++;
      return { length: text.length };
    });
    const first = parse('abc');
    assert.equal(parse('abc'), first);
    assert.ok(Object.isFrozen(first));
    assert.deepEqual(parse('abcd'), { length: 4 });
    assert.equal(calls, 2);
  });

  it('remembers a null answer too, and starts over past its limit', () => {
    let calls = 0;
    const parse = memoizeByText((text: string) => {
      calls++;
      return text === 'bad' ? null : text;
    }, 2);
    assert.equal(parse('bad'), null);
    assert.equal(parse('bad'), null);
    assert.equal(calls, 1);
    parse('x');
    parse('y'); // the third distinct text: the memory starts over
    parse('bad');
    assert.equal(calls, 4);
  });
});

describe('getOrMake', () => {
  it('makes a value once per key, a null one included, and hands back what it kept', () => {
    const map = new Map<string, number[] | null>();
    let made = 0;
    const list = getOrMake(map, 'a', () => (made++, []));
    list?.push(1);
    assert.deepEqual(
      getOrMake(map, 'a', () => (made++, [])),
      [1],
    );
    assert.equal(
      getOrMake(map, 'none', () => (made++, null)),
      null,
    );
    assert.equal(
      getOrMake(map, 'none', () => (made++, [])),
      null,
    );
    assert.equal(made, 2);
  });
});
