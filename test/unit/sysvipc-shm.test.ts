import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  formatKey,
  parseSysvShm,
  readSysvShm,
  shmStatus,
  type ShmSegment,
  type ShmStatus,
} from '../../src/proc/sysvipc-shm.js';

// Captured from a 6.18 kernel while one process (pid 14839) held four segments: key
// 0x1234abcd attached; key 0xdeadbeef attached, touched and detached (orphaned); an
// IPC_PRIVATE one attached then IPC_RMID-ed (removed-attached, perms 1666); and one
// SHM_LOCK-ed and never attached (perms 2600). sysvipc-shm-after-exit.txt is the same table
// once the process was killed; sysvipc-shm-empty.txt after every segment was removed.
function fixture(name: string): string {
  return readFileSync(new URL(`../../../test/fixtures/proc/${name}`, import.meta.url), 'latin1');
}

function segment(fields: Partial<ShmSegment> & Pick<ShmSegment, 'key' | 'shmid' | 'mode'>): ShmSegment {
  return {
    keyHex: formatKey(fields.key),
    perms: fields.mode & 0o777,
    removed: (fields.mode & 0o1000) !== 0,
    locked: (fields.mode & 0o2000) !== 0,
    sizeBytes: 4096,
    cpid: 14839,
    lpid: 14839,
    nattch: 0,
    uid: 0,
    gid: 0,
    cuid: 0,
    cgid: 0,
    atime: 1795432778,
    dtime: 0,
    ctime: 1795432778,
    rssBytes: 0,
    swapBytes: 0,
    ...fields,
  };
}

const attached = segment({
  key: 305441741,
  shmid: 0,
  mode: 0o640,
  sizeBytes: 16384,
  nattch: 1,
  rssBytes: 8192,
});
const orphaned = segment({
  key: -559038737,
  shmid: 1,
  mode: 0o600,
  sizeBytes: 65536,
  dtime: 1795432778,
  rssBytes: 4096,
});
const removed = segment({ key: 0, shmid: 2, mode: 0o1666, sizeBytes: 12288, nattch: 1, rssBytes: 4096 });
const locked = segment({ key: 0, shmid: 3, mode: 0o2600, lpid: 0, atime: 0 });

describe('parseSysvShm on a captured table', () => {
  const segments = parseSysvShm(fixture('sysvipc-shm.txt'));

  it('reads every row', () => {
    assert.equal(segments?.length, 4);
  });

  const cases: [string, ShmSegment][] = [
    ['an attached segment with a positive key', attached],
    ['an orphaned segment whose key is negative in decimal', orphaned],
    ['a removed-but-attached segment (SHM_DEST, key already 0)', removed],
    ['a locked segment never attached (SHM_LOCKED, lpid and atime 0)', locked],
  ];
  for (const [name, expected] of cases) {
    it(`reads ${name}`, () => {
      assert.deepEqual(
        segments?.find((s) => s.shmid === expected.shmid),
        expected,
      );
    });
  }

  it('reads the table once its creator has exited: the removed segment is gone, the rest orphaned', () => {
    const after = parseSysvShm(fixture('sysvipc-shm-after-exit.txt'));
    assert.deepEqual(
      after?.map((s) => [s.shmid, s.nattch, s.dtime, shmStatus(s)]),
      [
        [0, 0, 1795432821, 'orphaned'],
        [1, 0, 1795432778, 'orphaned'],
        [3, 0, 0, 'orphaned'],
      ],
    );
  });

  it('reads a table with no segments as empty', () => {
    assert.deepEqual(parseSysvShm(fixture('sysvipc-shm-empty.txt')), []);
  });
});

describe('formatKey prints keys as ipcs does', () => {
  const cases: [number, string][] = [
    [0, '0x00000000'],
    [305441741, '0x1234abcd'],
    [-559038737, '0xdeadbeef'],
    [-1, '0xffffffff'],
    [1, '0x00000001'],
    [2147483647, '0x7fffffff'],
    [-2147483648, '0x80000000'],
  ];
  for (const [key, expected] of cases) {
    it(`formats ${key} as ${expected}`, () => {
      assert.equal(formatKey(key), expected);
    });
  }
});

describe('shmStatus', () => {
  const cases: [string, ShmSegment, ShmStatus][] = [
    ['attached and not removed', attached, 'attached'],
    ['attached nowhere and not removed', orphaned, 'orphaned'],
    ['removed while attached', removed, 'removed-attached'],
    ['locked and attached nowhere', locked, 'orphaned'],
    ['attached by several processes', { ...attached, nattch: 3 }, 'attached'],
  ];
  for (const [name, input, expected] of cases) {
    it(`calls a segment ${name} '${expected}'`, () => {
      assert.equal(shmStatus(input), expected);
    });
  }
});

describe('parseSysvShm on malformed text', () => {
  const captured = fixture('sysvipc-shm.txt');
  const [header = ''] = captured.split('\n');
  const row = (fields: string): string => `${header}\n${fields}\n`;
  const good =
    '         5          9   600                  4096   100   100      1     0     0     0     0          1          0          1                  4096                     0';

  it('reads a hand-written good row', () => {
    assert.equal(parseSysvShm(row(good))?.[0]?.shmid, 9);
  });

  const nulls: [string, string][] = [
    ['empty text', ''],
    ['no header', captured.split('\n').slice(1).join('\n')],
    ['a header without rss and swap', header.replace(/ +rss +swap$/, '')],
    ['text that is not the table', 'hello world\n'],
  ];
  for (const [name, text] of nulls) {
    it(`returns null for ${name}`, () => {
      assert.equal(parseSysvShm(text), null);
    });
  }

  const skipped: [string, string][] = [
    ['a row with a field missing', good.replace(/ +0$/, '')],
    ['a row with a field too many', `${good}     0`],
    ['a key that is not a number', good.replace('         5', '0x00000005')],
    ['a key beyond 32 bits', good.replace('         5', '4294967296')],
    ['perms with a digit 8', good.replace('   600', '   680')],
    ['a negative size', good.replace('                  4096   100', '                 -4096   100')],
    ['a word for nattch', good.replace('     1     0', '  many     0')],
  ];
  for (const [name, line] of skipped) {
    it(`skips ${name}`, () => {
      assert.deepEqual(parseSysvShm(row(`${line}\n${good}`))?.length, 1);
    });
  }

  it('reads a table without a trailing newline', () => {
    assert.equal(parseSysvShm(`${header}\n${good}`)?.length, 1);
  });

  it("finds columns by the header's names, whatever their order", () => {
    const names = header.trim().split(/\s+/);
    const fields = good.trim().split(/\s+/);
    const text = `${[...names].reverse().join(' ')}\n${[...fields].reverse().join(' ')}\n`;
    assert.deepEqual(parseSysvShm(text), parseSysvShm(row(good)));
  });
});

describe('readSysvShm', () => {
  const root = mkdtempSync(join(tmpdir(), 'limbo-shm-'));
  after(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(join(root, 'sysvipc'));
  writeFileSync(join(root, 'sysvipc/shm'), fixture('sysvipc-shm.txt'));

  it('reads from the given root', () => {
    const read = readSysvShm(root);
    assert.ok(read.ok);
    assert.deepEqual(read.value?.map(shmStatus), ['attached', 'orphaned', 'removed-attached', 'orphaned']);
  });

  it('reports a root without sysvipc as gone', () => {
    assert.deepEqual(readSysvShm(join(root, 'missing')), { ok: false, failure: 'gone' });
  });

  it('reads the live /proc by default', () => {
    const read = readSysvShm();
    assert.ok(read.ok && Array.isArray(read.value));
  });
});
