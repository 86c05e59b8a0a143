import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parseLimits, readLimits, type ResourceLimit } from '../../src/proc/limits.js';

// Captured from a 6.18 kernel: limits-custom.txt from a process that set RLIMIT_NOFILE to
// 1024/4096 and RLIMIT_CORE to unlimited; limits-init.txt from pid 1.
function fixture(name: string): string {
  return readFileSync(new URL(`../../../test/fixtures/proc/${name}`, import.meta.url), 'latin1');
}

function limit(name: string, soft: number | null, hard: number | null, unit: string | null): ResourceLimit {
  return { name, soft, hard, unit };
}

describe('parseLimits on captured /proc/PID/limits', () => {
  const cases: [string, string, ResourceLimit][] = [
    [
      'custom open files (1024 soft, 4096 hard)',
      'limits-custom.txt',
      limit('Max open files', 1024, 4096, 'files'),
    ],
    ["init's open files", 'limits-init.txt', limit('Max open files', 32768, 32768, 'files')],
  ];
  for (const [name, file, expected] of cases) {
    it(`reads ${name}`, () => {
      assert.deepEqual(parseLimits(fixture(file))?.openFiles, expected);
    });
  }

  const rows: [string, ResourceLimit][] = [
    ['both limits unlimited, as null', limit('Max cpu time', null, null, 'seconds')],
    ['a raised soft limit of unlimited', limit('Max core file size', null, null, 'bytes')],
    ['a finite soft under an unlimited hard', limit('Max stack size', 8388608, null, 'bytes')],
    ['a row without a unit (nice)', limit('Max nice priority', 0, 0, null)],
    ['a row without a unit (realtime priority)', limit('Max realtime priority', 0, 0, null)],
    ['a microsecond unit', limit('Max realtime timeout', null, null, 'us')],
    ['a count unit', limit('Max pending signals', 96364, 96364, 'signals')],
  ];
  const custom = parseLimits(fixture('limits-custom.txt'));
  for (const [name, expected] of rows) {
    it(`reads ${name}`, () => {
      assert.deepEqual(custom?.byName[expected.name], expected);
    });
  }

  it("keeps every row, keyed by name, in the kernel's order", () => {
    assert.deepEqual(Object.keys(custom?.byName ?? {}), [
      'Max cpu time',
      'Max file size',
      'Max data size',
      'Max stack size',
      'Max core file size',
      'Max resident set',
      'Max processes',
      'Max open files',
      'Max locked memory',
      'Max address space',
      'Max file locks',
      'Max pending signals',
      'Max msgqueue size',
      'Max nice priority',
      'Max realtime priority',
      'Max realtime timeout',
    ]);
  });

  it("tells init's unlimited locked memory from the custom process's 8 MiB", () => {
    assert.deepEqual(
      parseLimits(fixture('limits-init.txt'))?.byName['Max locked memory'],
      limit('Max locked memory', null, null, 'bytes'),
    );
    assert.deepEqual(
      custom?.byName['Max locked memory'],
      limit('Max locked memory', 8388608, 8388608, 'bytes'),
    );
  });
});

describe('parseLimits on malformed text', () => {
  const captured = fixture('limits-custom.txt');
  const lines = captured.split('\n');
  const withoutOpenFiles = lines.filter((line) => !line.startsWith('Max open files')).join('\n');
  const cases: [string, string][] = [
    ['empty text', ''],
    ['no header', lines.slice(1).join('\n')],
    ['a header only', `${lines[0]}\n`],
    ['no "Max open files" row', withoutOpenFiles],
    [
      'a "Max open files" row with a word for a limit',
      captured.replace(/Max open files +1024/, 'Max open files            lots'),
    ],
    [
      'a negative "Max open files"',
      captured.replace(/Max open files +1024 /, 'Max open files            -1   '),
    ],
    ['text that is not a limits file', 'hello world\n'],
  ];
  for (const [name, text] of cases) {
    it(`returns null for ${name}`, () => {
      assert.equal(parseLimits(text), null);
    });
  }

  it('skips a row it cannot read and keeps the rest', () => {
    const text = captured.replace(
      /^Max cpu time.*$/m,
      'Max cpu time              soon                 later                seconds',
    );
    const parsed = parseLimits(text);
    assert.equal(parsed?.byName['Max cpu time'], undefined);
    assert.equal(Object.keys(parsed?.byName ?? {}).length, 15);
    assert.equal(parsed?.openFiles.soft, 1024);
  });

  it('reads a limit of 20 digits, which fills its column (rounded above 2^53)', () => {
    const text = captured.replace(
      /^Max file size.*$/m,
      'Max file size             18446744073709551614 18446744073709551614 bytes     ',
    );
    assert.deepEqual(
      parseLimits(text)?.byName['Max file size'],
      limit('Max file size', 2 ** 64, 2 ** 64, 'bytes'),
    );
  });
});

describe('readLimits', () => {
  it("reads this process's own limits", () => {
    const read = readLimits('/proc', 'self');
    assert.ok(read.ok && read.value !== null && read.value.openFiles.unit === 'files');
  });

  it('reports a pid that does not exist as gone', () => {
    assert.deepEqual(readLimits('/proc', 2 ** 22 + 1), { ok: false, failure: 'gone' });
  });
});
