import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parsePasswd } from '../../src/proc/passwd.js';

const typical = [
  'root:x:0:0:root:/root:/bin/bash',
  'daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin',
  'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin',
  'alice:x:1000:1000:Alice Example,,,:/home/alice:/bin/bash',
  'systemd-network:x:998:998:systemd Network Management:/:/usr/sbin/nologin',
  '',
].join('\n');

describe('parsePasswd', () => {
  it('maps every uid of a typical file to its name', () => {
    assert.deepEqual(
      parsePasswd(typical),
      new Map([
        [0, 'root'],
        [1, 'daemon'],
        [65534, 'nobody'],
        [1000, 'alice'],
        [998, 'systemd-network'],
      ]),
    );
  });

  const cases: [string, string, [number, string][]][] = [
    ['the first name for a uid wins, as getpwuid', 'root:x:0:0::/:\ntoor:x:0:0::/:\n', [[0, 'root']]],
    ['a uid above 2^31', 'big:x:4294967294:1::/:\n', [[4294967294, 'big']]],
    ['a line without a trailing newline', 'alice:x:1000:1000::/home/alice:/bin/sh', [[1000, 'alice']]],
    ['CRLF line endings', 'alice:x:1000:1000::/home/alice:/bin/sh\r\n', [[1000, 'alice']]],
    ['empty text', '', []],
    ['blank lines', '\n\n\n', []],
    ['a line without a uid', 'nouid:x::1::/:\n', []],
    ['a non-numeric uid', 'bad:x:abc:1::/:\n', []],
    ['a negative uid', 'neg:x:-1:1::/:\n', []],
    ['a line without a name', ':x:5:5::/:\n', []],
    ['a NIS compat line', '+::::::\n', []],
    ['a NIS netgroup line', '+@admins::::::\n', []],
    ['free text', 'this is not a passwd file\n', []],
  ];
  for (const [name, text, expected] of cases) {
    it(`handles ${name}`, () => {
      assert.deepEqual(parsePasswd(text), new Map(expected));
    });
  }

  // glibc's files backend (fgetpwent, getpwuid) skips lines starting with '#': checked on
  // glibc with fgetpwent over this text, which yields only alice.
  it('ignores commented-out lines, as getpwuid does', () => {
    const text = '#olduser:x:1000:1000::/home/old:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n';
    assert.deepEqual(parsePasswd(text), new Map([[1000, 'alice']]));
  });
});
