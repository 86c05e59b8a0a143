// The native and the pure JavaScript fd scanners must give the same answers on real processes,
// including a name longer than PATH_MAX, which readlink cannot return at all.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { nativeAddon } from '../../src/native.js';
import { scanFdTableJs, scanFdTables } from '../../src/proc/fd-table.js';
import { kernelStat, startHolder, type Holder } from '../helpers/holder.js';
import { findFile, limboDeleted } from '../helpers/limbo.js';

const holders: Holder[] = [];
const dir = mkdtempSync(join(tmpdir(), 'limbo-fd-table-'));

after(async () => {
  await Promise.all(holders.map((holder) => holder.stop()));
  // GNU rm walks with openat, so it removes a tree deeper than PATH_MAX; rmSync cannot.
  execFileSync('rm', ['-rf', dir]);
});

/** 17 components of 250 bytes: past PATH_MAX (4096), built with chdir one level at a time. */
function deepDirOps(): string[] {
  return Array.from({ length: 17 }, (_, i) => [
    'mkcd',
    `${String(i).padStart(2, '0')}${'d'.repeat(248)}`,
  ]).flat();
}

describe('fd table scanners', () => {
  it('agree with each other and with stat, native and JavaScript alike', async () => {
    const a = join(dir, 'a.log');
    const holder = await startHolder([
      'create',
      a,
      '4096',
      'unlink',
      a,
      'dup',
      '2',
      'create',
      join(dir, 'kept'),
      '10',
    ]);
    holders.push(holder);
    const fdDir = `/proc/${holder.pid}/fd`;
    const js = scanFdTableJs(fdDir);
    assert.ok(js.ok);
    assert.deepEqual(
      js.value.candidates.map((c) => c.fd),
      [3, 4, 5],
    );
    assert.equal(js.value.count, readdirSync(fdDir).length);
    const truth = kernelStat(`${fdDir}/3`);
    assert.equal(js.value.candidates[0]?.stat.allocatedBytes, truth.allocated);
    assert.equal(js.value.candidates[0]?.name?.toString(), a);
    if (nativeAddon()) {
      const [native] = scanFdTables([fdDir]);
      assert.deepEqual(native, js, 'the addon and node:fs see the same');
    }
  });

  it('reports a vanished or missing directory as gone, not as an error', () => {
    const results = scanFdTables(['/proc/999999999/fd']);
    assert.deepEqual(results, [{ ok: false, failure: 'gone' }]);
    assert.deepEqual(scanFdTableJs('/proc/999999999/fd'), { ok: false, failure: 'gone' });
  });

  it('finds a deleted file whose name is longer than PATH_MAX, where readlink fails', async () => {
    const holder = await startHolder([
      'mkcd',
      dir,
      ...deepDirOps(),
      'create',
      'deep.log',
      '8192',
      'unlink',
      'deep.log',
    ]);
    holders.push(holder);
    assert.throws(() => readlinkSync(`/proc/${holder.pid}/fd/3`), { code: 'ENAMETOOLONG' });
    const truth = kernelStat(`/proc/${holder.pid}/fd/3`);
    const file = findFile(limboDeleted(['--pid', String(holder.pid)]), truth.dev, truth.inode);
    assert.ok(file, 'listed although its name cannot be read');
    assert.equal(file.path, null);
    assert.equal(file.allocated, truth.allocated);
    const js = limboDeleted(['--pid', String(holder.pid)], { env: { LIMBO_NO_NATIVE: '1' } });
    assert.equal(findFile(js, truth.dev, truth.inode)?.path, null, 'the JavaScript scanner agrees');
  });
});
