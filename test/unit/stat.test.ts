import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parseStat, readStat, type ProcStat } from '../../src/proc/stat.js';

// Captured from a 6.18 kernel, read as latin1 like limbo reads it.
function fixture(name: string): string {
  return readFileSync(new URL(`../../../test/fixtures/proc/${name}`, import.meta.url), 'latin1');
}

describe('parseStat', () => {
  const cases: [string, string, ProcStat | null][] = [
    ['a sleeping process', fixture('stat-sleep.txt'), { state: 'S', ppid: 1, startTicks: 1495375 }],
    [
      'a comm holding ") R 1 (" and spaces: fields counted from the last ")"',
      fixture('stat-hostile-comm.txt'),
      { state: 'S', ppid: 1, startTicks: 1495375 },
    ],
    ['no closing parenthesis', '42 (cut', null],
    ['a line cut before starttime', '42 (sh) S 1 42 42 0 -1 4194304 1 0 0 0', null],
    ['a starttime that is not a number', fixture('stat-sleep.txt').replace(' 1495375 ', ' x '), null],
  ];
  for (const [name, text, expected] of cases) {
    it(name, () => assert.deepEqual(parseStat(text), expected));
  }

  it('reads this process: its start time is fixed while it runs', () => {
    const first = readStat('/proc', process.pid);
    const again = readStat('/proc', process.pid);
    assert.ok(first.ok && first.value && again.ok && again.value);
    assert.equal(first.value.ppid, process.ppid);
    assert.equal(again.value.startTicks, first.value.startTicks);
  });
});
