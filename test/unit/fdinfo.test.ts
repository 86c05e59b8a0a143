import assert from 'node:assert/strict';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parseFdInfo, readFdInfo, type FdInfo } from '../../src/proc/fdinfo.js';

// Captured from a 6.18 kernel: one process put every kind of fd into a real state (a file with
// a flock and a POSIX lock, an OFD lock, two fds in flight to a unix socket, an epoll watching
// three fds, two inotify watches, two fanotify marks, a pidfd to a live and to a reaped child, ...).
function fixture(name: string): string {
  return readFileSync(new URL(`../../../test/fixtures/proc/fdinfo-${name}.txt`, import.meta.url), 'latin1');
}

const O_RDWR = 0o2;
const O_APPEND = 0o2000;
const O_NONBLOCK = 0o4000;
const O_LARGEFILE = 0o100000;
const O_DIRECTORY = 0o200000;
const O_CLOEXEC = 0o2000000;
const O_PATH = 0o10000000;

function info(fields: Partial<FdInfo> & Pick<FdInfo, 'flags' | 'mntId' | 'ino'>): FdInfo {
  return {
    pos: 0,
    locks: 0,
    eventfdId: null,
    pidfdPid: null,
    scmFds: null,
    epollTargets: 0,
    inotifyWatches: 0,
    fanotifyMarks: 0,
    ...fields,
  };
}

// Every anon_inode fd but io_uring and userfaultfd shares the one anon inode (17 here) on the anon_inodefs mount.
const anon = { mntId: 17, ino: 17n } as const;

describe('parseFdInfo on captured fdinfo', () => {
  const cases: [string, string, FdInfo][] = [
    ['a regular file read 3 bytes in', 'regular', info({ pos: 3, flags: O_LARGEFILE, mntId: 27, ino: 612n })],
    [
      'a file holding a flock and a POSIX lock (two lock: lines)',
      'flock-posix',
      info({ pos: 12, flags: O_LARGEFILE | O_RDWR, mntId: 27, ino: 2146379n, locks: 2 }),
    ],
    [
      'a file holding an OFD lock, opened O_APPEND|O_CLOEXEC',
      'ofd-lock',
      info({ flags: O_CLOEXEC | O_LARGEFILE | O_APPEND | O_RDWR, mntId: 27, ino: 2146380n, locks: 1 }),
    ],
    ['a directory', 'directory', info({ flags: O_LARGEFILE | O_DIRECTORY, mntId: 27, ino: 260072n })],
    ['a block device', 'block-device', info({ flags: O_LARGEFILE, mntId: 24, ino: 94n })],
    ['an O_PATH fd', 'o-path', info({ flags: O_PATH, mntId: 27, ino: 612n })],
    ['the read end of a pipe (flags printed "00")', 'pipe', info({ flags: 0, mntId: 16, ino: 1307532n })],
    [
      'a unix socket with two fds in flight',
      'unix-in-flight',
      info({ flags: O_RDWR, mntId: 10, ino: 1307534n, scmFds: 2 }),
    ],
    ['a listening unix socket', 'unix-listen', info({ flags: O_RDWR, mntId: 10, ino: 1307535n, scmFds: 0 })],
    ['a TCP socket (no scm_fds line)', 'tcp', info({ flags: O_RDWR, mntId: 10, ino: 1307536n })],
    ['an eventfd', 'eventfd', info({ flags: O_CLOEXEC | O_RDWR, ...anon, eventfdId: 1 })],
    [
      'a non-blocking semaphore eventfd',
      'eventfd-semaphore',
      info({ flags: O_NONBLOCK | O_RDWR, ...anon, eventfdId: 2 }),
    ],
    ['an epoll watching three fds', 'epoll', info({ flags: O_CLOEXEC | O_RDWR, ...anon, epollTargets: 3 })],
    ['an epoll watching nothing', 'epoll-empty', info({ flags: O_RDWR, ...anon })],
    ['an inotify with two watches', 'inotify', info({ flags: O_NONBLOCK, ...anon, inotifyWatches: 2 })],
    ['an inotify without watches', 'inotify-empty', info({ flags: 0, ...anon })],
    [
      'a fanotify group with an inode and a mount mark',
      'fanotify',
      info({ flags: O_RDWR, ...anon, fanotifyMarks: 2 }),
    ],
    ['a timerfd (its clock lines ignored)', 'timerfd', info({ flags: O_CLOEXEC | O_RDWR, ...anon })],
    ['a signalfd (its sigmask ignored)', 'signalfd', info({ flags: O_CLOEXEC | O_RDWR, ...anon })],
    [
      'a pidfd to a live child (pidfs: its own inode, not the pid)',
      'pidfd',
      info({ flags: O_CLOEXEC | O_RDWR, mntId: 4, ino: 14846n, pidfdPid: 14845 }),
    ],
    [
      'a pidfd to a reaped child (Pid -1)',
      'pidfd-reaped',
      info({ flags: O_CLOEXEC | O_RDWR, mntId: 4, ino: 14847n, pidfdPid: -1 }),
    ],
    [
      'an io_uring (its own anon inode; ring lines ignored)',
      'io-uring',
      info({ flags: O_CLOEXEC | O_RDWR, mntId: 17, ino: 1307543n }),
    ],
    ['a userfaultfd', 'userfaultfd', info({ flags: O_CLOEXEC, mntId: 17, ino: 1307545n })],
    ['a bpf map', 'bpf-map', info({ flags: O_CLOEXEC | O_RDWR, ...anon })],
    ['a memfd (mnt_id 0)', 'memfd', info({ flags: O_CLOEXEC | O_LARGEFILE | O_RDWR, mntId: 0, ino: 7n })],
    ['a memfd_secret file', 'secretmem', info({ flags: O_LARGEFILE | O_RDWR, mntId: 15, ino: 1307544n })],
    [
      'a network namespace fd (an inode above 2^32)',
      'nsfs',
      info({ flags: O_LARGEFILE, mntId: 3, ino: 4026531833n }),
    ],
    ['a pty master (tty-index ignored)', 'ptmx', info({ flags: O_LARGEFILE | O_RDWR, mntId: 24, ino: 91n })],
  ];
  for (const [name, file, expected] of cases) {
    it(`reads ${name}`, () => {
      assert.deepEqual(parseFdInfo(fixture(file)), expected);
    });
  }
});

describe('parseFdInfo on hand-written fdinfo', () => {
  const head = 'pos:\t0\nflags:\t02\nmnt_id:\t15\nino:\t42\n';
  const cases: [string, string, Partial<FdInfo>][] = [
    ['a kernel before 5.14, without ino', 'pos:\t5\nflags:\t02\nmnt_id:\t15\n', { pos: 5, ino: null }],
    [
      "a pidfd whose target is outside the reader's pid namespace",
      `${head}Pid:\t0\nNSpid:\t0\n`,
      { pidfdPid: 0 },
    ],
    ['an offset beyond 4 GiB', head.replace('pos:\t0', 'pos:\t8589934592'), { pos: 8589934592 }],
    [
      'an inode beyond 2^53',
      head.replace('ino:\t42', 'ino:\t18446744073709551615'),
      { ino: 18446744073709551615n },
    ],
    [
      'the lines in another order',
      'ino:\t42\nmnt_id:\t15\nflags:\t02\npos:\t0\n',
      { pos: 0, flags: 2, mntId: 15, ino: 42n },
    ],
    ['no trailing newline', 'pos:\t1\nflags:\t02\nmnt_id:\t15\nino:\t42', { pos: 1, ino: 42n }],
    [
      'an epoll target whose line holds "pos:" and "ino:"',
      `${head}tfd:        3 events:       19 data:                0  pos:99 ino:ff sdev:10\n`,
      { pos: 0, ino: 42n, epollTargets: 1 },
    ],
    [
      'a lock waiter line',
      `${head}lock:\t1: POSIX  ADVISORY  WRITE 1 00:1f:42 0 EOF\nlock:\t1: -> POSIX  ADVISORY  WRITE 2 00:1f:42 0 EOF\n`,
      { locks: 2 },
    ],
    ['an unknown extra line', `${head}future-field:\t7\n`, {}],
  ];
  for (const [name, text, expected] of cases) {
    it(`reads ${name}`, () => {
      const parsed = parseFdInfo(text);
      assert.ok(parsed);
      for (const [key, value] of Object.entries(expected)) {
        assert.deepEqual(parsed[key as keyof FdInfo], value, key);
      }
    });
  }
});

describe('parseFdInfo on malformed text', () => {
  const good = fixture('regular');
  const cases: [string, string][] = [
    ['empty text', ''],
    ['no pos line', good.replace(/^pos:.*\n/m, '')],
    ['no flags line', good.replace(/^flags:.*\n/m, '')],
    ['no mnt_id line', good.replace(/^mnt_id:.*\n/m, '')],
    ['flags not in octal (no leading 0)', good.replace('flags:\t0100000', 'flags:\t100000')],
    ['flags with a digit 9', good.replace('flags:\t0100000', 'flags:\t0109000')],
    ['a word for pos', good.replace('pos:\t3', 'pos:\tthree')],
    ['a negative ino', good.replace('ino:\t612', 'ino:\t-612')],
    ['a hex ino', good.replace('ino:\t612', 'ino:\t0x264')],
    ['text that is not fdinfo', 'hello: world\n'],
  ];
  for (const [name, text] of cases) {
    it(`returns null for ${name}`, () => {
      assert.equal(parseFdInfo(text), null);
    });
  }

  it('ignores a malformed eventfd-id rather than failing the whole fd', () => {
    assert.equal(parseFdInfo(`${good}eventfd-id: one\n`)?.eventfdId, null);
  });
});

describe('readFdInfo', () => {
  it('reads an fd this process opened', () => {
    const fd = openSync('/proc/self/status', 'r');
    try {
      const read = readFdInfo('/proc', 'self', fd);
      assert.ok(read.ok && read.value !== null);
      assert.equal(read.value.flags & 0o3, 0);
      assert.equal(read.value.locks, 0);
    } finally {
      closeSync(fd);
    }
  });

  it("reads an fd through the main thread's task directory", () => {
    const fd = openSync('/proc/self/status', 'r');
    try {
      const read = readFdInfo('/proc', `${process.pid}/task/${process.pid}`, fd);
      assert.ok(read.ok && read.value !== null);
    } finally {
      closeSync(fd);
    }
  });

  it('reports an fd that is not open as gone', () => {
    assert.deepEqual(readFdInfo('/proc', 'self', 999_999), { ok: false, failure: 'gone' });
  });
});
