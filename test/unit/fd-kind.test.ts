import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { classifyFdLink, classifyFdLinkText, type FdLink } from '../../src/proc/fd-kind.js';

// Captured from a 6.18 kernel: every fd of one process put into many states, one per line as
// "FD<tab>st_mode in octal<tab>readlink text". st_mode is from stat through the link: anon
// inodes have no file type bits (0600, pidfs 0700). Fd 7 names a live file whose real name
// ends in " (deleted)"; fd 12 is O_PATH; fd 19 is O_PATH on a unix socket's file.
const captured = new Map(
  readFileSync(new URL('../../../test/fixtures/proc/fd-links.txt', import.meta.url))
    .toString('latin1')
    .trimEnd()
    .split('\n')
    .map((line) => {
      const [fd = '', mode = '', link = ''] = line.split('\t');
      return [Number(fd), { mode: parseInt(mode, 8), link: Buffer.from(link, 'latin1') }] as const;
    }),
);

function link(fd: number): { mode: number; link: Buffer } {
  const entry = captured.get(fd);
  assert.ok(entry, `fd ${fd} is in the capture`);
  return entry;
}

const none = { path: null, deleted: false, inode: null, anonType: null } as const;

function path(kind: FdLink['kind'], name: string, deleted = false): FdLink {
  return { ...none, kind, basis: 'mode', path: Buffer.from(name), deleted };
}

function anon(anonType: string): FdLink {
  return { ...none, kind: 'anon_inode', basis: 'text', anonType };
}

describe('classifyFdLink on captured links with st_mode', () => {
  const cases: [number, string, FdLink][] = [
    [3, 'a regular file', path('regular', '/tmp/limbo-cap/files/locked')],
    [6, 'an unlinked regular file', path('regular', '/tmp/limbo-cap/files/gone', true)],
    [
      7,
      'a live file named "... (deleted)", which reads as deleted',
      path('regular', '/tmp/limbo-cap/files/with space', true),
    ],
    [8, 'a directory', path('directory', '/tmp')],
    [47, 'a /proc directory', path('directory', '/proc/14839')],
    [9, 'a character device', path('device', '/dev/null')],
    [48, 'the pty multiplexer', path('device', '/dev/ptmx')],
    [11, 'a block device', path('device', '/dev/loop0')],
    [12, 'an O_PATH fd of a regular file', path('regular', '/etc/hostname')],
    [15, 'a FIFO opened by its path (no inode in the text)', path('pipe', '/tmp/limbo-cap/files/fifo')],
    [19, "an O_PATH fd of a unix socket's file", path('other', '/tmp/limbo-cap/files/sock')],
    [13, 'a pipe', { ...none, kind: 'pipe', basis: 'text', inode: 1307532 }],
    [14, 'the other end of the same pipe', { ...none, kind: 'pipe', basis: 'text', inode: 1307532 }],
    [16, 'a socket', { ...none, kind: 'socket', basis: 'text', inode: 1307533 }],
    [26, 'a socket never bound', { ...none, kind: 'socket', basis: 'text', inode: 1307542 }],
    [27, 'an eventfd', anon('eventfd')],
    [29, 'an epoll', anon('eventpoll')],
    [31, 'an inotify (printed without brackets)', anon('inotify')],
    [33, 'a fanotify (printed with brackets)', anon('fanotify')],
    [34, 'a timerfd', anon('timerfd')],
    [35, 'a signalfd', anon('signalfd')],
    [36, 'a pidfd (still anon_inode:[pidfd] on pidfs)', anon('pidfd')],
    [39, 'an io_uring', anon('io_uring')],
    [43, 'a userfaultfd', anon('userfaultfd')],
    [44, 'a perf event', anon('perf_event')],
    [45, 'a bpf map (printed without brackets)', anon('bpf-map')],
    [
      40,
      'a named memfd',
      { ...none, kind: 'memfd', basis: 'text', path: Buffer.from('/memfd:limbo cache'), deleted: true },
    ],
    [
      41,
      'a memfd with an empty name',
      { ...none, kind: 'memfd', basis: 'text', path: Buffer.from('/memfd:'), deleted: true },
    ],
    [
      42,
      'a memfd_secret file',
      { ...none, kind: 'memfd', basis: 'text', path: Buffer.from('/secretmem'), deleted: true },
    ],
    [46, 'a namespace fd', { ...none, kind: 'nsfs', basis: 'text' }],
  ];
  for (const [fd, name, expected] of cases) {
    it(`classifies ${name} (fd ${fd})`, () => {
      const { mode, link: text } = link(fd);
      assert.deepEqual(classifyFdLink(text, mode), expected);
    });
  }

  it('classifies every captured link', () => {
    const kinds = new Set(
      [...captured.values()].map(({ mode, link: text }) => classifyFdLink(text, mode).kind),
    );
    assert.deepEqual([...kinds].sort(), [
      'anon_inode',
      'device',
      'directory',
      'memfd',
      'nsfs',
      'other',
      'pipe',
      'regular',
      'socket',
    ]);
  });
});

describe('classifyFdLink without st_mode', () => {
  const cases: [number, string, FdLink][] = [
    [8, 'a directory only as a guessed regular file', { ...path('regular', '/tmp'), basis: 'guess' }],
    [9, 'a device only as a guessed regular file', { ...path('regular', '/dev/null'), basis: 'guess' }],
    [
      6,
      'an unlinked file as a guessed regular file',
      { ...path('regular', '/tmp/limbo-cap/files/gone', true), basis: 'guess' },
    ],
    [13, 'a pipe from its text alone', { ...none, kind: 'pipe', basis: 'text', inode: 1307532 }],
    [
      40,
      'a memfd from its text alone',
      { ...none, kind: 'memfd', basis: 'text', path: Buffer.from('/memfd:limbo cache'), deleted: true },
    ],
    [45, 'an anon inode from its text alone', anon('bpf-map')],
  ];
  for (const [fd, name, expected] of cases) {
    it(`classifies ${name} (fd ${fd})`, () => {
      assert.deepEqual(classifyFdLink(link(fd).link), expected);
    });
  }
});

describe('classifyFdLink on hand-written links', () => {
  const cases: [string, string | Buffer, number | undefined, Partial<FdLink>][] = [
    ['a string link', 'socket:[42]', undefined, { kind: 'socket', inode: 42 }],
    ['a string path, as UTF-8', '/tmp/café', 0o100644, { kind: 'regular', path: Buffer.from('/tmp/café') }],
    [
      'a path of invalid UTF-8, kept as bytes',
      Buffer.from([0x2f, 0xff, 0xfe]),
      0o100644,
      { path: Buffer.from([0x2f, 0xff, 0xfe]) },
    ],
    [
      'a memfd named "x (deleted)": only the kernel\'s suffix goes',
      '/memfd:x (deleted) (deleted)',
      undefined,
      { kind: 'memfd', path: Buffer.from('/memfd:x (deleted)') },
    ],
    ['a live file named /memfd:x (no suffix)', '/memfd:x', 0o100644, { kind: 'regular', deleted: false }],
    [
      'a deleted directory named /memfd:x',
      '/memfd:x (deleted)',
      0o040755,
      { kind: 'directory', deleted: true },
    ],
    [
      'a deleted file named /secretmem.old',
      '/secretmem.old (deleted)',
      0o100644,
      { kind: 'regular', deleted: true },
    ],
    ['a symlink reached with O_PATH|O_NOFOLLOW', '/usr/bin/cc', 0o120777, { kind: 'other', basis: 'mode' }],
    ['a socket with a non-numeric inode', 'socket:[abc]', undefined, { kind: 'other' }],
    ['a pipe without brackets', 'pipe:42', undefined, { kind: 'other' }],
    ['a socket with trailing text', 'socket:[42] ', undefined, { kind: 'other' }],
    ['an anon inode with nothing after the colon', 'anon_inode:', undefined, { kind: 'other' }],
    [
      'an anon inode type with one bracket',
      'anon_inode:[odd',
      undefined,
      { kind: 'anon_inode', anonType: '[odd' },
    ],
    ['a mount namespace', 'mnt:[4026531841]', undefined, { kind: 'nsfs', inode: null }],
    ['a pid namespace (pid_for_children reads the same)', 'pid:[4026531836]', undefined, { kind: 'nsfs' }],
    ['an unknown namespace type', 'spam:[4026531841]', undefined, { kind: 'other' }],
    ['a namespace with a non-numeric inode', 'net:[x]', undefined, { kind: 'other' }],
    ['a relative-looking text', 'tmp/file', undefined, { kind: 'other', path: null }],
    ['an empty link', '', undefined, { kind: 'other' }],
    ['a mode given with a socket link (ignored)', 'socket:[7]', 0o140777, { kind: 'socket', basis: 'text' }],
  ];
  for (const [name, text, mode, expected] of cases) {
    it(`classifies ${name}`, () => {
      const classified = classifyFdLink(text, mode);
      for (const [key, value] of Object.entries(expected)) {
        assert.deepEqual(classified[key as keyof FdLink], value, key);
      }
    });
  }
});

describe('classifyFdLinkText, the full scan’s classifier', () => {
  it('says what classifyFdLink says for every captured link, with and without st_mode', () => {
    for (const [fd, entry] of captured) {
      for (const mode of [entry.mode, undefined]) {
        const full = classifyFdLink(entry.link, mode);
        const text = classifyFdLinkText(entry.link.toString('latin1'), mode);
        assert.deepEqual({ ...text, path: full.path }, full, `fd ${fd}`);
      }
    }
  });

  it('takes mode 0 as unknown: a path is a regular file by guess', () => {
    assert.deepEqual(
      { ...classifyFdLinkText('/var/log/x.log (deleted)', 0) },
      { kind: 'regular', basis: 'guess', deleted: true, inode: null, anonType: null },
    );
  });

  it('gives the socket inode, and calls a malformed one other', () => {
    assert.equal(classifyFdLinkText('socket:[4026]').inode, 4026);
    assert.equal(classifyFdLinkText('socket:[x]').kind, 'other');
  });
});
