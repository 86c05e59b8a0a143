import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parseStatus, type ProcStatus } from '../../src/proc/status.js';

// Captured from a 6.18 kernel; limbo reads status as latin1, so the fixtures are read the same way.
function fixture(name: string): string {
  return readFileSync(new URL(`../../../test/fixtures/proc/${name}`, import.meta.url), 'latin1');
}

function withoutLine(text: string, key: string): string {
  return text
    .split('\n')
    .filter((line) => !line.startsWith(`${key}:`))
    .join('\n');
}

function replaceLine(text: string, key: string, value: string): string {
  return text
    .split('\n')
    .map((line) => (line.startsWith(`${key}:`) ? `${key}:\t${value}` : line))
    .join('\n');
}

describe('parseStatus on captured /proc/PID/status', () => {
  const cases: [string, string, ProcStatus][] = [
    [
      'a sleeping user process (uid 1000)',
      'status-sleep.txt',
      {
        state: 'S',
        tgid: 4098,
        ppid: 4096,
        uid: 1000,
        euid: 1000,
        threads: 1,
        kernelThread: false,
        nsPids: [4098],
      },
    ],
    [
      'a process whose real and effective uids differ',
      'status-ruid-euid-differ.txt',
      {
        state: 'S',
        tgid: 4099,
        ppid: 4096,
        uid: 1000,
        euid: 65534,
        threads: 1,
        kernelThread: false,
        nsPids: [4099],
      },
    ],
    [
      'a multi-threaded process (node)',
      'status-node-multithreaded.txt',
      {
        state: 'S',
        tgid: 4100,
        ppid: 4096,
        uid: 0,
        euid: 0,
        threads: 7,
        kernelThread: false,
        nsPids: [4100],
      },
    ],
    [
      'a zombie',
      'status-zombie.txt',
      {
        state: 'Z',
        tgid: 4103,
        ppid: 4101,
        uid: 0,
        euid: 0,
        threads: 1,
        kernelThread: false,
        nsPids: [4103],
      },
    ],
    [
      'kthreadd (pid 2, Kthread: 1)',
      'status-kthreadd.txt',
      { state: 'S', tgid: 2, ppid: 0, uid: 0, euid: 0, threads: 1, kernelThread: true, nsPids: [2] },
    ],
    [
      'an idle kworker (Kthread: 1, state I)',
      'status-kworker.txt',
      { state: 'I', tgid: 4, ppid: 2, uid: 0, euid: 0, threads: 1, kernelThread: true, nsPids: [4] },
    ],
    [
      'a process in its own pid namespace (unshare --pid --fork; NSpid 3225 1)',
      'status-pid-namespace.txt',
      {
        state: 'S',
        tgid: 3225,
        ppid: 3223,
        uid: 0,
        euid: 0,
        threads: 1,
        kernelThread: false,
        nsPids: [3225, 1],
      },
    ],
  ];
  for (const [name, file, expected] of cases) {
    it(`reads ${name}`, () => {
      assert.deepEqual(parseStatus(fixture(file)), expected);
    });
  }
});

describe('parseStatus on kernels without the Kthread line', () => {
  const cases: [string, string, boolean][] = [
    ['kthreadd itself (tgid 2) is a kernel thread', 'status-kthreadd.txt', true],
    ['a child of kthreadd (ppid 2) is a kernel thread', 'status-kworker.txt', true],
    ['a user process is not a kernel thread', 'status-sleep.txt', false],
  ];
  for (const [name, file, kernelThread] of cases) {
    it(name, () => {
      const text = withoutLine(fixture(file), 'Kthread');
      assert.equal(parseStatus(text)?.kernelThread, kernelThread);
    });
  }

  it('trusts Kthread: 0 over a ppid of 2', () => {
    const text = replaceLine(fixture('status-sleep.txt'), 'PPid', '2');
    assert.equal(parseStatus(text)?.kernelThread, false);
  });
});

describe('parseStatus on incomplete or malformed text', () => {
  const sleeping = fixture('status-sleep.txt');
  const cases: [string, string][] = [
    ['empty text', ''],
    ['no Uid line', withoutLine(sleeping, 'Uid')],
    ['no State line', withoutLine(sleeping, 'State')],
    ['no Tgid line', withoutLine(sleeping, 'Tgid')],
    ['no PPid line', withoutLine(sleeping, 'PPid')],
    ['no Threads line', withoutLine(sleeping, 'Threads')],
    ['an empty State', replaceLine(sleeping, 'State', '')],
    ['a Uid line with only one id', replaceLine(sleeping, 'Uid', '1000')],
    ['a Uid line that is not numeric', replaceLine(sleeping, 'Uid', 'root\troot\troot\troot')],
    ['a negative Tgid', replaceLine(sleeping, 'Tgid', '-1')],
    ['a non-numeric Threads count', replaceLine(sleeping, 'Threads', 'many')],
    ['text that is not a status file at all', 'hello world\nno colons here\n'],
  ];
  for (const [name, text] of cases) {
    it(`returns null for ${name}`, () => {
      assert.equal(parseStatus(text), null);
    });
  }
});

describe('parseStatus on hand-written lines', () => {
  it('needs only State, Tgid, PPid, Uid and Threads, in any order', () => {
    const text = 'Threads:\t3\nUid:\t10\t20\t20\t20\nPPid:\t1\nTgid:\t99\nState:\tD (disk sleep)\n';
    assert.deepEqual(parseStatus(text), {
      state: 'D',
      tgid: 99,
      ppid: 1,
      uid: 10,
      euid: 20,
      threads: 3,
      kernelThread: false,
      nsPids: [],
    });
  });

  it('is not fooled by a process name that looks like a field', () => {
    const text = replaceLine(fixture('status-sleep.txt'), 'Name', 'Uid: 0 0 0 0');
    assert.equal(parseStatus(text)?.uid, 1000);
  });
});
