// The file-type bits of st_mode, the one table every module reads a mode through.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fileTypeOf, isDirectoryMode, isRegularMode } from '../../src/proc/file-mode.js';

describe('fileTypeOf', () => {
  const cases: [number | bigint, ReturnType<typeof fileTypeOf>][] = [
    [0o100644, 'regular'],
    [0o040755, 'directory'],
    [0o120777, 'symlink'],
    [0o010644, 'fifo'],
    [0o140777, 'socket'],
    [0o020666, 'char-device'],
    [0o060660, 'block-device'],
    [0o600, 'other'], // an anonymous inode: no type bits
    [0o100600n, 'regular'],
  ];
  for (const [mode, type] of cases) {
    it(`reads ${mode.toString(8)} as ${type}`, () => assert.equal(fileTypeOf(mode), type));
  }
  it('tells regular files and directories apart', () => {
    assert.equal(isRegularMode(0o100644), true);
    assert.equal(isRegularMode(0o040755), false);
    assert.equal(isDirectoryMode(0o040755n), true);
    assert.equal(isDirectoryMode(0o100644), false);
  });
});
