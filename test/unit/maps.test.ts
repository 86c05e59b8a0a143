import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parseMaps, type MapEntry } from '../../src/proc/maps.js';

function fixture(name: string): Buffer {
  return readFileSync(new URL(`../../../test/fixtures/proc/${name}`, import.meta.url));
}

// `cat /proc/self/maps`: binaries, locale files, libc, [heap], [vdso], anonymous maps.
const catSelf = fixture('maps-cat-self.txt');
// test/fixtures/holder.c after mapping files it then unlinked: one named with a newline, one
// with the bytes ff fe (invalid UTF-8), one with a space; a kept file with a backslash in its
// name, a kept plain file and a memfd.
const holder = fixture('maps-holder.txt');

/** One maps line as the kernel prints it: header fields, padding to column 73, then the name. */
function mapsLine(header: string, name: Buffer | string = ''): Buffer {
  const name_ = typeof name === 'string' ? Buffer.from(name) : name;
  const head = name_.length > 0 ? `${header} `.padEnd(73) : `${header} `;
  return Buffer.concat([Buffer.from(head), name_]);
}

function entry(
  range: string,
  perms: string,
  dev: string,
  inode: bigint,
  path: Buffer | string,
  offset = 0,
): MapEntry {
  return { range, perms, offset, dev, inode, path: typeof path === 'string' ? Buffer.from(path) : path };
}

function byRange(entries: MapEntry[], range: string): MapEntry | undefined {
  return entries.find((e) => e.range === range);
}

describe('parseMaps on captured /proc/self/maps of cat', () => {
  const entries = parseMaps(catSelf);

  it('reads every line', () => {
    assert.equal(entries.length, catSelf.toString('latin1').trimEnd().split('\n').length);
  });

  const cases: [string, MapEntry][] = [
    [
      'a file-backed mapping, converting dev fe:00 to 254:0',
      entry('55907494c000-55907494e000', 'r--p', '254:0', 260131n, '/usr/bin/cat'),
    ],
    [
      'a shared mapping',
      entry(
        '7f5c60b64000-7f5c60b6b000',
        'r--s',
        '254:0',
        338846n,
        '/usr/lib/x86_64-linux-gnu/gconv/gconv-modules.cache',
      ),
    ],
    [
      'the text segment, at file offset 0x2000',
      entry('55907494e000-559074953000', 'r-xp', '254:0', 260131n, '/usr/bin/cat', 0x2000),
    ],
    ['[heap]', entry('55909872b000-55909874c000', 'rw-p', '0:0', 0n, '[heap]')],
    ['an anonymous mapping without a name', entry('7f5c608fc000-7f5c6091e000', 'rw-p', '0:0', 0n, '')],
    [
      '[vsyscall], with a 16-digit range',
      entry('ffffffffff600000-ffffffffff601000', '--xp', '0:0', 0n, '[vsyscall]'),
    ],
  ];
  for (const [name, expected] of cases) {
    it(`reads ${name}`, () => {
      assert.deepEqual(byRange(entries, expected.range), expected);
    });
  }

  it('finds nothing deleted', () => {
    assert.deepEqual(parseMaps(catSelf, true), []);
  });
});

describe('parseMaps on captured maps of a process holding unlinked files', () => {
  const entries = parseMaps(holder);
  const deletedNewline = entry(
    '7fd051dc5000-7fd051dc7000',
    'r--s',
    '254:0',
    2146587n,
    '/tmp/limbo-cap/line1\nline2.dat (deleted)',
  );
  const deletedInvalidUtf8 = entry(
    '7fd051dc4000-7fd051dc5000',
    'r--s',
    '254:0',
    2146588n,
    Buffer.concat([
      Buffer.from('/tmp/limbo-cap/bad'),
      Buffer.from([0xff, 0xfe]),
      Buffer.from('.bin (deleted)'),
    ]),
  );
  const deletedSpace = entry(
    '7fd051dc3000-7fd051dc4000',
    'r--s',
    '254:0',
    2146589n,
    '/tmp/limbo-cap/with space.log (deleted)',
  );
  const deletedMemfd = entry('7fd051dc0000-7fd051dc1000', 'r--s', '0:1', 1026n, '/memfd:scratch (deleted)');
  const cases: [string, MapEntry][] = [
    ['a name with a newline printed as \\012, as a real newline byte', deletedNewline],
    ['a name with invalid UTF-8, byte for byte', deletedInvalidUtf8],
    ['a name with a space', deletedSpace],
    ['a deleted memfd', deletedMemfd],
    [
      'a name with a backslash, which maps prints raw',
      entry('7fd051dc2000-7fd051dc3000', 'r--s', '254:0', 2146591n, '/tmp/limbo-cap/back\\slash.so'),
    ],
    [
      'a file that was not deleted',
      entry('7fd051dc1000-7fd051dc2000', 'r--s', '254:0', 2146592n, '/tmp/limbo-cap/kept.dat'),
    ],
  ];
  for (const [name, expected] of cases) {
    it(`reads ${name}`, () => {
      assert.deepEqual(byRange(entries, expected.range), expected);
    });
  }

  it('reads every line', () => {
    assert.equal(entries.length, 31);
  });

  it('keeps only the deleted mappings with onlyDeleted', () => {
    assert.deepEqual(parseMaps(holder, true), [
      deletedMemfd,
      deletedSpace,
      deletedInvalidUtf8,
      deletedNewline,
    ]);
  });
});

describe('parseMaps on hand-made lines', () => {
  const header = (dev: string, inode = '42') => `7f0000000000-7f0000001000 r--p 00000000 ${dev} ${inode}`;

  const devs: [string, string][] = [
    ['fe:00', '254:0'],
    ['103:02', '259:2'],
    ['08:01', '8:1'],
    ['fd:0a', '253:10'],
    ['00:1f', '0:31'],
    ['103:fffff', '259:1048575'],
  ];
  for (const [hex, decimal] of devs) {
    it(`converts dev ${hex} to ${decimal}`, () => {
      assert.equal(parseMaps(mapsLine(header(hex), '/f'))[0]?.dev, decimal);
    });
  }

  const inodes: [string, bigint][] = [
    ['2^53 + 1', 9007199254740993n],
    ['2^64 - 1', 18446744073709551615n],
  ];
  for (const [name, inode] of inodes) {
    it(`keeps an inode of ${name} exact as a bigint`, () => {
      assert.equal(parseMaps(mapsLine(header('fe:00', inode.toString()), '/f'))[0]?.inode, inode);
    });
  }

  const names: [string, Buffer, Buffer][] = [
    ['several escaped newlines', Buffer.from('/\\012a\\012\\012b\\012'), Buffer.from('/\na\n\nb\n')],
    [
      'runs of spaces inside the name',
      Buffer.from('/a  b   c (deleted)'),
      Buffer.from('/a  b   c (deleted)'),
    ],
    ['a trailing space', Buffer.from('/a '), Buffer.from('/a ')],
    [
      'a lone continuation byte and a truncated sequence',
      Buffer.from([0x2f, 0x80, 0x41, 0xe6, 0x97]),
      Buffer.from([0x2f, 0x80, 0x41, 0xe6, 0x97]),
    ],
    [
      'an overlong slash (c0 af)',
      Buffer.from([0x2f, 0x61, 0xc0, 0xaf, 0x62]),
      Buffer.from([0x2f, 0x61, 0xc0, 0xaf, 0x62]),
    ],
    ['valid UTF-8', Buffer.from('/tmp/日本/café 🎉'), Buffer.from('/tmp/日本/café 🎉')],
    ['an anonymous name', Buffer.from('[anon:v8 heap]'), Buffer.from('[anon:v8 heap]')],
  ];
  for (const [name, printed, expected] of names) {
    it(`returns the exact bytes of ${name}`, () => {
      const [parsed] = parseMaps(mapsLine(header('fe:00'), printed));
      assert.deepEqual(parsed?.path, expected);
    });
  }

  it('reads a name right after one space, without the usual padding', () => {
    const line = Buffer.from('7f0000000000-7f0000001000 r--p 00000000 fe:00 42 /short');
    assert.deepEqual(parseMaps(line)[0]?.path, Buffer.from('/short'));
  });

  it('returns names that do not share memory with the input', () => {
    const input = Buffer.concat([mapsLine(header('fe:00'), '/kept'), Buffer.from('\n')]);
    const [parsed] = parseMaps(input);
    input.fill(0x21);
    assert.deepEqual(parsed?.path, Buffer.from('/kept'));
  });

  const garbage: [string, string][] = [
    ['an empty line', ''],
    ['free text', 'not a maps line'],
    ['a range that is not hex', 'zz-7f0000001000 r--p 00000000 fe:00 42 /f'],
    ['a range without a dash', '7f0000000000 r--p 00000000 fe:00 42 /f'],
    ['a dev that is not hex', '7f0000000000-7f0000001000 r--p 00000000 sda:1 42 /f'],
    ['a dev without a colon', '7f0000000000-7f0000001000 r--p 00000000 fe00 42 /f'],
    ['an inode that is not a number', '7f0000000000-7f0000001000 r--p 00000000 fe:00 -1 /f'],
    ['a line cut inside the header', '7f0000000000-7f0000001000 r--p 00000000'],
  ];
  for (const [name, line] of garbage) {
    it(`skips ${name}`, () => {
      const good = mapsLine(header('fe:00'), '/good');
      const entries = parseMaps(Buffer.concat([good, Buffer.from(`\n${line}\n`), good, Buffer.from('\n')]));
      assert.deepEqual(
        entries.map((e) => e.path.toString()),
        ['/good', '/good'],
      );
    });
  }

  it('returns nothing for an empty buffer', () => {
    assert.deepEqual(parseMaps(Buffer.alloc(0)), []);
  });

  it('reads a last line without a trailing newline', () => {
    assert.equal(parseMaps(mapsLine(header('fe:00'), '/last')).length, 1);
  });

  const deletedCases: [string, string, boolean][] = [
    ['a name ending in " (deleted)"', '/tmp/x (deleted)', true],
    ['a memfd ending in " (deleted)"', '/memfd:x (deleted)', true],
    ['" (deleted)" in the middle of a name', '/tmp/x (deleted)/y', false],
    ['"(deleted)" without the space', '/tmp/x(deleted)', false],
    ['a live file', '/tmp/x', false],
    ['an anonymous mapping', '', false],
  ];
  for (const [name, path, kept] of deletedCases) {
    it(`onlyDeleted ${kept ? 'keeps' : 'drops'} ${name}`, () => {
      const line = mapsLine(path === '' ? header('00:00', '0') : header('fe:00'), path);
      assert.equal(parseMaps(line, true).length, kept ? 1 : 0);
      assert.equal(parseMaps(line, false).length, 1);
    });
  }
});
