// Reclaimable bytes on filesystems whose files share extents: XFS made with reflink=1 and btrfs,
// each a loop image mounted by the test. Every case holds a deleted file, reads what limbo says
// closing it frees, lets the holder exit, and holds that against the free space statfs gained.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { DfJson } from '../../src/analyses/df-json.js';
import type { ReclaimJson } from '../../src/actions/reclaim-json.js';
import type { ReportJson } from '../../src/analyses/report-json.js';
import { availableBytes } from '../helpers/scratch.js';
import { kernelStat, startHolder } from '../helpers/holder.js';
import { findFile, limboDeleted, runLimbo, type DeletedFileJson } from '../helpers/limbo.js';

const MiB = 1024 * 1024;
const isRoot = process.geteuid?.() === 0;

function has(tool: string, fstype: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${tool} && grep -qw ${fstype} /proc/filesystems`], {
      stdio: 'ignore',
    });
    return true;
  } catch {
    return false;
  }
}

/**
 * Waits until the kernel's free-space count includes every block freed so far, without sleeping.
 * Both filesystems free late. XFS hands the last close of an unlinked inode to a background
 * worker (inodegc): statfs right after the holder exits shows nothing freed, and syncfs(2) does
 * not wait for that worker either (observed on 6.18: `sync -f` missed it 1 time in 4, the blocks
 * appearing ~10 ms later). btrfs keeps freed extents pinned until its transaction commits. A
 * freeze waits for both: freeze_super syncs, XFS stops inodegc at SB_FREEZE_PAGEFAULT by running
 * every queued inactivation (xfs_fs_sync_fs, xfs_inodegc_stop), btrfs commits in btrfs_freeze.
 * 25 rounds of freeze and thaw on XFS and 10 on btrfs counted every freed block every time.
 */
function settle(path: string): void {
  execFileSync('fsfreeze', ['--freeze', path]);
  execFileSync('fsfreeze', ['--unfreeze', path]);
}

/** Writes `bytes` of random data (incompressible, so no filesystem can shrink it) to `path` at `offset`. */
function writeRandom(path: string, bytes: number, offset = 0, create = true): void {
  if (create) writeFileSync(path, '');
  const fd = openSync(path, 'r+');
  try {
    for (let done = 0; done < bytes; done += MiB) writeSync(fd, randomBytes(MiB), 0, MiB, offset + done);
  } finally {
    closeSync(fd);
  }
}

function reflink(from: string, to: string): void {
  execFileSync('cp', ['--reflink=always', from, to]);
}

/**
 * Holds `path` open, unlinks it, and returns what limbo deleted said about it and what statfs
 * gained once the holder exited. `check` runs while it is held (df, reclaim --dry-run).
 */
async function holdDeleteAndRelease(
  mountPoint: string,
  path: string,
  check?: (pid: number, fd: number) => void,
): Promise<{ file: DeletedFileJson; freed: number }> {
  settle(mountPoint);
  const holder = await startHolder(['open', path, 'unlink', path]);
  let file: DeletedFileJson | undefined;
  let before: number;
  try {
    const truth = kernelStat(`/proc/${holder.pid}/fd/${holder.fds[0]}`);
    file = findFile(limboDeleted(['--pid', String(holder.pid)]), truth.dev, truth.inode);
    assert.ok(file, 'limbo lists the held file');
    assert.equal(file.allocated, truth.allocated);
    check?.(holder.pid, holder.fds[0] as number);
    settle(mountPoint);
    before = availableBytes(mountPoint);
  } finally {
    await holder.stop();
  }
  settle(mountPoint);
  return { file, freed: availableBytes(mountPoint) - before };
}

const filesystems = [
  { fstype: 'xfs', mkfs: ['mkfs.xfs', '-q', '-f', '-m', 'reflink=1'], size: '320M' },
  { fstype: 'btrfs', mkfs: ['mkfs.btrfs', '-q', '-f'], size: '256M' },
] as const;

for (const { fstype, mkfs, size } of filesystems) {
  const skip = !isRoot ? 'needs root to mount' : !has(mkfs[0], fstype) ? `needs ${mkfs[0]}` : false;
  describe(`reclaimable bytes on ${fstype}`, { skip }, () => {
    let root: string;
    let mnt: string;
    before(() => {
      root = mkdtempSync(join(tmpdir(), `limbo-${fstype}-`));
      mnt = join(root, 'mnt');
      mkdirSync(mnt);
      const image = join(root, 'fs.img');
      execFileSync('truncate', ['-s', size, image]);
      execFileSync(mkfs[0], [...mkfs.slice(1), image], { stdio: 'ignore' });
      execFileSync('mount', ['-o', 'loop', image, mnt]);
    });
    after(() => {
      if (mnt) execFileSync('umount', [mnt]);
      if (root) rmSync(root, { recursive: true, force: true });
    });

    it('a reflinked copy deleted while held: all shared, reclaimable 0, and its exit frees nothing', async () => {
      writeRandom(join(mnt, 'orig-a'), 32 * MiB);
      reflink(join(mnt, 'orig-a'), join(mnt, 'copy-a'));
      const { file, freed } = await holdDeleteAndRelease(mnt, join(mnt, 'copy-a'), (pid, fd) => {
        const table = runLimbo(['deleted', '--pid', String(pid)]).stdout;
        assert.match(table, /32\.0 MiB allocated, all shared with other files .*: closing frees nothing/);
        const df = (JSON.parse(runLimbo(['df', '--json', mnt]).stdout) as DfJson).filesystems[0];
        assert.equal(df?.heldByDeleted, 0, 'df does not count blocks du sees under the original');
        assert.equal(df?.heldByDeletedShared, 32 * MiB);
        const plan = JSON.parse(
          runLimbo(['reclaim', `${pid}:${fd}`, '--dry-run', '--json']).stdout,
        ) as ReclaimJson;
        assert.equal(plan.results[0]?.status, 'skipped', 'reclaim does not truncate what frees nothing');
        const report = JSON.parse(runLimbo(['--json']).stdout) as ReportJson;
        const here = report.filesystems.find((f) => f.mount === mnt);
        assert.equal(here?.heldByDeleted, 32 * MiB);
        assert.equal(here?.reclaimable, 0, 'the report judges by what a restart frees');
        const truth = kernelStat(`/proc/${pid}/fd/${fd}`);
        const unknown = findFile(
          limboDeleted(['--pid', String(pid)], { env: { LIMBO_NO_NATIVE: '1' } }),
          truth.dev,
          truth.inode,
        );
        assert.equal(unknown?.reclaimable, null, 'without the addon (no ioctl) the split is unknown');
        assert.equal(unknown?.reclaimableUnknownReason, 'unreadable');
      });
      assert.equal(file.allocated, 32 * MiB);
      assert.equal(file.reclaimable, 0);
      assert.equal(freed, file.reclaimable);
    });

    it('a private file: reclaimable is all it has allocated', async () => {
      writeRandom(join(mnt, 'private'), 8 * MiB);
      const { file, freed } = await holdDeleteAndRelease(mnt, join(mnt, 'private'));
      assert.equal(file.reclaimable, file.allocated);
      assert.equal(freed, file.reclaimable);
    });

    it('a copy half rewritten after the reflink: reclaimable is the rewritten half', async () => {
      writeRandom(join(mnt, 'orig-h'), 32 * MiB);
      reflink(join(mnt, 'orig-h'), join(mnt, 'copy-h'));
      writeRandom(join(mnt, 'copy-h'), 16 * MiB, 0, false);
      const { file, freed } = await holdDeleteAndRelease(mnt, join(mnt, 'copy-h'));
      assert.equal(file.reclaimable, 16 * MiB);
      assert.equal(freed, file.reclaimable);
    });

    if (fstype === 'btrfs') {
      it('a file whose snapshot keeps its extents: all shared, reclaimable 0', async () => {
        execFileSync('btrfs', ['-q', 'subvolume', 'create', join(mnt, 'sv')]);
        writeRandom(join(mnt, 'sv', 'data'), 16 * MiB);
        settle(mnt);
        execFileSync('btrfs', ['-q', 'subvolume', 'snapshot', join(mnt, 'sv'), join(mnt, 'snap')]);
        const { file, freed } = await holdDeleteAndRelease(mnt, join(mnt, 'sv', 'data'));
        assert.equal(file.allocated, 16 * MiB);
        assert.equal(file.reclaimable, 0);
        assert.equal(freed, 0);
      });
    }
  });
}
