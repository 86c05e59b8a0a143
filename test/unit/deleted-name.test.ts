// The " (deleted)" marker: found and cut the same way on bytes and on latin1 text.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hasDeletedSuffix, stripDeletedSuffix } from '../../src/proc/deleted-name.js';

describe('the " (deleted)" marker', () => {
  const cases: [string, boolean, string][] = [
    ['/var/log/a.log (deleted)', true, '/var/log/a.log'],
    ['/var/log/a.log', false, '/var/log/a.log'],
    [' (deleted)', true, ''],
    ['(deleted)', false, '(deleted)'],
    ['/tmp/x (deleted) (deleted)', true, '/tmp/x (deleted)'],
    ['/tmp/\xff\n (deleted)', true, '/tmp/\xff\n'],
  ];
  for (const [name, marked, stripped] of cases) {
    it(`${JSON.stringify(name)}: ${marked ? 'marked' : 'not marked'}`, () => {
      const bytes = Buffer.from(name, 'latin1');
      assert.equal(hasDeletedSuffix(name), marked);
      assert.equal(hasDeletedSuffix(bytes), marked);
      assert.equal(stripDeletedSuffix(name), stripped);
      assert.deepEqual(stripDeletedSuffix(bytes), Buffer.from(stripped, 'latin1'));
    });
  }
});
