// The SQLite header facts recover decides by: which files are databases, and which are in WAL mode.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseSqliteHeader } from '../../src/actions/recover-siblings.js';

/** A 100-byte header: the magic, then write/read versions at bytes 18 and 19. */
function header(writeVersion: number, magic = 'SQLite format 3\0'): Buffer {
  const bytes = Buffer.alloc(100);
  bytes.write(magic, 0, 'latin1');
  bytes[18] = writeVersion;
  bytes[19] = writeVersion;
  return bytes;
}

describe('parseSqliteHeader', () => {
  const cases: [string, Buffer, ReturnType<typeof parseSqliteHeader>][] = [
    ['WAL mode (write version 2)', header(2), { walMode: true }],
    ['rollback-journal mode (write version 1)', header(1), { walMode: false }],
    ['an empty file', Buffer.alloc(0), null],
    ['a file shorter than the fields read', header(2).subarray(0, 18), null],
    ['text that is not a database', header(2, 'SQLite format 2\0'), null],
    ['a log', Buffer.from('2026-11-30 17:00:00 started\n'.repeat(4)), null],
  ];
  for (const [name, bytes, expected] of cases) {
    it(name, () => assert.deepEqual(parseSqliteHeader(bytes), expected));
  }
});
