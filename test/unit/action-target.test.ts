import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { writesWithoutAppend } from '../../src/actions/holders.js';
import { parseTarget } from '../../src/actions/target.js';

describe('parseTarget', () => {
  const cases: [string, ReturnType<typeof parseTarget>][] = [
    ['1234:3', { kind: 'fd', text: '1234:3', pid: 1234, fd: 3 }],
    [
      '254:0:1450241',
      { kind: 'file', text: '254:0:1450241', dev: '254:0', ino: 1450241n, key: '254:0:1450241' },
    ],
    ['0:1:18446744073709551615', {
      kind: 'file', text: '0:1:18446744073709551615', dev: '0:1', ino: 18446744073709551615n, key: '0:1:18446744073709551615',
    }], // prettier-ignore
    ['007:01:42', { kind: 'file', text: '007:01:42', dev: '7:1', ino: 42n, key: '7:1:42' }],
    ['0:3', null], // pid 0 is no process
    ['1234', null],
    ['1234:', null],
    ['a:b', null],
    ['1:2:3:4', null],
    ['-1:3', null],
    ['1:2:18446744073709551616', null], // past 64 bits
    ['/proc/1/fd/3', null],
  ];
  for (const [text, expected] of cases) {
    it(`parses ${JSON.stringify(text)}`, () => assert.deepEqual(parseTarget(text), expected));
  }
});

describe('writesWithoutAppend (fdinfo flags, octal)', () => {
  const cases: [string, number, boolean][] = [
    ['O_RDONLY', 0o100000, false],
    ['O_WRONLY', 0o100001, true],
    ['O_RDWR', 0o100002, true],
    ['O_WRONLY|O_APPEND', 0o102001, false],
    ['O_RDWR|O_APPEND|O_CLOEXEC', 0o2102002, false],
    ['O_RDWR|O_CLOEXEC (memfd_create)', 0o2100002, true],
  ];
  for (const [name, flags, expected] of cases) {
    it(`${name} → ${expected}`, () => assert.equal(writesWithoutAppend(flags), expected));
  }
});
