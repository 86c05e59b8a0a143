// Deleted files on layered filesystems, in real kernel states: a file deleted through an overlay
// mount is counted on its upper layer's filesystem; a file libfuse renamed to .fuse_hidden… (bindfs)
// is a silly-renamed file whatever its cached nlink says, counted once by df and truncated through
// its holder; an unlinked POSIX message queue is never taken for a disk file.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { DfJson } from '../../src/analyses/df-json.js';
import type { ReclaimJson } from '../../src/actions/reclaim-json.js';
import type { MetricsContext } from '../../src/serve/metrics.js';
import { metricFamilies } from '../../src/serve/metrics.js';
import { scanSystem } from '../../src/serve/scan.js';
import { kernelStat, startHolder, type Holder } from '../helpers/holder.js';
import { findFile, limboDeleted, runLimbo } from '../helpers/limbo.js';
import { assertMatchesSchema } from '../helpers/schema.js';
import { availableBytes, isRoot, makeScratch, type Scratch } from '../helpers/scratch.js';

const MiB = 1024 * 1024;

const hasBindfs = (() => {
  try {
    execFileSync('sh', ['-c', 'command -v bindfs && command -v fusermount && test -c /dev/fuse'], {
      stdio: 'ignore',
    });
    return true;
  } catch {
    return false;
  }
})();

function df(args: readonly string[]): DfJson {
  const run = runLimbo(['df', '--json', ...args]);
  assert.equal(run.code, 0, run.stderr);
  const json = JSON.parse(run.stdout) as DfJson;
  assertMatchesSchema('limbo.df-1', json);
  return json;
}

/** `limbo reclaim --json ARGS`, which exits 1 when anything was refused (or needs --force). */
function reclaim(args: readonly string[], code = 0): ReclaimJson {
  const run = runLimbo(['reclaim', '--json', ...args]);
  assert.equal(run.code, code, run.stderr);
  const json = JSON.parse(run.stdout) as ReclaimJson;
  assertMatchesSchema('limbo.reclaim-1', json);
  return json;
}

describe('a file deleted through an overlay mount', { skip: isRoot ? false : 'needs root to mount' }, () => {
  let scratch: Scratch;
  let merged: string;
  let holder: Holder;
  let overlayMounted = false;

  before(async () => {
    scratch = makeScratch('limbo-overlay-');
    for (const layer of ['lower', 'upper', 'work']) mkdirSync(join(scratch.dir, layer));
    writeFileSync(join(scratch.dir, 'lower', 'only-below.txt'), 'in the lower layer only\n');
    merged = join(dirname(scratch.dir), 'merged');
    mkdirSync(merged);
    const layers = `lowerdir=${scratch.dir}/lower,upperdir=${scratch.dir}/upper,workdir=${scratch.dir}/work`;
    execFileSync('mount', ['-t', 'overlay', 'limbo-overlay', '-o', layers, merged]);
    overlayMounted = true;
    const written = join(merged, 'written.bin');
    const below = join(merged, 'only-below.txt');
    holder = await startHolder([
      'create',
      written,
      String(MiB),
      'unlink',
      written,
      'open',
      below,
      'unlink',
      below,
    ]);
  });

  after(async () => {
    await holder?.stop();
    if (overlayMounted) execFileSync('umount', ['-l', merged]);
    scratch?.remove();
  });

  it('reports the overlay device and mount id through the fd (the facts the attribution rests on)', () => {
    const fd = kernelStat(`/proc/${holder.pid}/fd/3`);
    const overlayDev = statSync(merged, { bigint: true }).dev;
    const upperDev = statSync(join(scratch.dir, 'upper'), { bigint: true }).dev;
    assert.notEqual(overlayDev, upperDev);
    assert.equal(fd.dev, kernelStat(merged).dev, 'st_dev through /proc/PID/fd is the overlay’s');
    assert.equal(fd.nlink, 0);
    const mntId = /mnt_id:\s+(\d+)/.exec(readFileSync(`/proc/${holder.pid}/fdinfo/3`, 'utf8'))?.[1];
    const overlayLine = readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .find((line) => line.split(' ')[4] === merged);
    assert.equal(mntId, overlayLine?.split(' ')[0], 'fdinfo mnt_id is the overlay mount');
  });

  it('lists it under the upper layer’s filesystem, with the overlay kept as the view', () => {
    const truth = kernelStat(`/proc/${holder.pid}/fd/3`);
    const report = limboDeleted(['--mount', scratch.dir]);
    assertMatchesSchema('limbo.deleted-1', report);
    const file = findFile(report, truth.dev, truth.inode);
    assert.ok(file, 'the overlay file is listed on the upper filesystem');
    assert.equal(file.mount, scratch.dir);
    assert.equal(file.mountPath, scratch.dir, 'the host path is the upper layer’s, not the overlay’s');
    assert.equal(file.fstype, 'tmpfs');
    assert.equal(file.allocated, truth.allocated);
    assert.deepEqual(file.overlay, { mount: merged, upperDir: join(scratch.dir, 'upper') });
    assert.deepEqual(report.totals.byMount, [
      {
        mount: scratch.dir,
        // The upper layer's mount, in limbo's own mount namespace, named on the host by its mount point.
        mountNamespace: readlinkSync('/proc/self/ns/mnt'),
        mountPath: scratch.dir,
        fstype: 'tmpfs',
        ramBacked: true,
        files: 1,
        size: truth.size,
        allocated: truth.allocated,
        reclaimable: truth.allocated,
        reclaimableUnknown: 0,
      },
    ]);
  });

  it('leaves out a lower-only file deleted through the merged view (nlink 1: a whiteout)', () => {
    assert.equal(kernelStat(`/proc/${holder.pid}/fd/4`).nlink, 1);
    assert.match(readlinkSync(`/proc/${holder.pid}/fd/4`), / \(deleted\)$/);
    const mine = limboDeleted(['--pid', String(holder.pid)]);
    assert.deepEqual(
      mine.files.map((file) => file.path),
      [join(merged, 'written.bin')],
    );
  });

  it('explains the upper filesystem with nothing unexplained, naming the overlay', () => {
    const truth = kernelStat(`/proc/${holder.pid}/fd/3`);
    const [fs] = df([scratch.dir, '--walk']).filesystems;
    assert.equal(fs?.mount, scratch.dir);
    assert.equal(fs.heldByDeleted, truth.allocated);
    assert.equal(fs.unexplained, 0);
    assert.deepEqual(fs.overlays, [merged]);
  });

  it('answers df MERGED as the upper filesystem, not with an absurd unexplained figure', () => {
    const truth = kernelStat(`/proc/${holder.pid}/fd/3`);
    const { filesystems } = df([merged]);
    assert.equal(filesystems.length, 1);
    const [fs] = filesystems;
    assert.equal(fs?.mount, scratch.dir);
    assert.equal(fs.heldByDeleted, truth.allocated);
    assert.equal(fs.unexplained, 0);
    assert.match(fs.summary, /Overlay mount .*merged keeps its upper layer here/);
  });

  it('offers it to reclaim --mount of the upper filesystem', () => {
    const truth = kernelStat(`/proc/${holder.pid}/fd/3`);
    // Its holder reads and writes it (O_RDWR): it would need --force, like any such file.
    const plan = reclaim(['--mount', scratch.dir, '--dry-run'], 1);
    assert.deepEqual(
      plan.results.map((r) => [r.dev, r.inode, r.kind]),
      [[truth.dev, truth.inode, 'file']],
    );
    assert.match(plan.results[0]?.reason ?? '', /^needs --force/);
  });

  it('counts it in /metrics under the upper filesystem', () => {
    const truth = kernelStat(`/proc/${holder.pid}/fd/3`);
    const context = {
      scanner: { failures: 0, scans: 1 },
      leaks: () => [],
    } as unknown as MetricsContext;
    const family = metricFamilies(scanSystem(), context, 5).find(
      (f) => f.name === 'limbo_deleted_allocated_bytes',
    );
    const sample = family?.samples.find(
      (s) => Buffer.from(s.labels?.['mount'] ?? '').toString() === scratch.dir,
    );
    assert.equal(sample?.value, truth.allocated);
    assert.equal(
      family?.samples.some((s) => Buffer.from(s.labels?.['mount'] ?? '').toString() === merged),
      false,
    );
  });
});

describe(
  'a file libfuse renamed to .fuse_hidden (bindfs)',
  { skip: !isRoot ? 'needs root to mount' : !hasBindfs ? 'needs bindfs and /dev/fuse' : false },
  () => {
    let scratch: Scratch;
    let source: string;
    let mnt: string;
    let holder: Holder;
    let fuseMounted = false;

    before(async () => {
      scratch = makeScratch('limbo-fuse-');
      source = join(scratch.dir, 'src');
      mkdirSync(source);
      mnt = join(dirname(scratch.dir), 'mnt');
      mkdirSync(mnt);
      // Long attribute timeouts: the nlink the kernel caches stays what the last FUSE reply said.
      execFileSync('bindfs', ['-o', 'attr_timeout=600,entry_timeout=600', source, mnt]);
      fuseMounted = true;
      const file = join(mnt, 'spool.bin');
      // An appender (O_APPEND): reclaim may truncate it without --force.
      holder = await startHolder(['create', file, String(MiB), 'close', 'append', file, 'unlink', file]);
    });

    after(async () => {
      await holder?.stop();
      if (fuseMounted) execFileSync('fusermount', ['-u', '-z', mnt]);
      scratch?.remove();
    });

    /** The hidden name beside the deleted one, as ls shows it. */
    function hiddenName(): string {
      const names = readdirSync(mnt).filter((name) => name.startsWith('.fuse_hidden'));
      assert.equal(names.length, 1, `one hidden file in ${mnt}: ${names.join(', ')}`);
      return join(mnt, names[0] as string);
    }

    it('lists it as silly-renamed under its hidden name even while its cached nlink reads 1', () => {
      const hidden = hiddenName();
      statSync(hidden); // a lookup of the hidden name: FUSE now caches nlink 1 for the open file
      const truth = kernelStat(`/proc/${holder.pid}/fd/3`);
      assert.equal(truth.nlink, 1, 'the fd reports nlink 1 once the hidden name was looked up');
      assert.equal(readlinkSync(`/proc/${holder.pid}/fd/3`), `${join(mnt, 'spool.bin')} (deleted)`);
      const report = limboDeleted(['--mount', mnt]);
      assertMatchesSchema('limbo.deleted-1', report);
      const file = findFile(report, truth.dev, truth.inode);
      assert.ok(file, 'the silly-renamed file is listed');
      assert.equal(file.kind, 'silly-renamed');
      assert.equal(file.path, hidden);
      assert.equal(file.allocated, truth.allocated);
      assert.deepEqual(
        file.holders.map((h) => [h.pid, h.fds]),
        [[holder.pid, [3]]],
      );
      assert.equal(file.sillyRename?.by, 'fuse');
      assert.equal(file.sillyRename.deletedPath, join(mnt, 'spool.bin'));
      const [daemon] = file.sillyRename.backingHolders;
      assert.equal(daemon?.comm, 'bindfs');
      assert.equal(daemon.path, join(source, hidden.slice(mnt.length + 1)));
      assert.equal(
        readlinkSync(`/proc/${daemon.pid}/fd/${daemon.fds[0]}`),
        daemon.path,
        'the daemon holds the backing file under the hidden name',
      );
      const table = runLimbo(['deleted', '--kind', 'silly-renamed', '--mount', mnt]);
      assert.match(table.stdout, /silly-renamed/);
      assert.match(table.stdout, /FUSE removes it/);
    });

    it('counts it once in df: visible under its hidden name, not held by a deleted file', () => {
      const truth = kernelStat(`/proc/${holder.pid}/fd/3`);
      const [fs] = df([mnt, '--walk']).filesystems;
      assert.equal(fs?.mount, mnt);
      assert.equal(fs.heldByDeleted, 0);
      assert.equal(fs.heldByDeletedFiles, 0);
      assert.equal(fs.sillyRenamed, truth.allocated);
      assert.equal(fs.sillyRenamedFiles, 1);
      assert.equal(fs.visible, truth.allocated);
      assert.equal(fs.unexplained, 0);
    });

    it('truncates it through its holder, and the hidden name stays until the last close', () => {
      const truth = kernelStat(`/proc/${holder.pid}/fd/3`);
      const hidden = hiddenName();
      const plan = reclaim(['--mount', mnt, '--dry-run']);
      assert.deepEqual(
        plan.results.map((r) => [r.kind, r.path, r.reason]),
        [
          [
            'silly-renamed',
            hidden,
            'dry run: would be truncated through its holder; its hidden name stays, empty, until the last holder closes it and the filesystem removes it',
          ],
        ],
      );
      const freeBefore = availableBytes(scratch.dir);
      const done = reclaim(['--mount', mnt, '--yes']);
      assert.deepEqual(
        done.results.map((r) => [r.status, r.freedBytes]),
        [['truncated', truth.allocated]],
      );
      assert.equal(availableBytes(scratch.dir) - freeBefore, truth.allocated);
      assert.equal(statSync(hidden).size, 0);
    });
  },
);

describe('an unlinked POSIX message queue held open', () => {
  let holder: Holder;

  before(async () => {
    holder = await startHolder(['mqueue', `/limbo-test-${process.pid}`, '100']);
  });

  after(async () => {
    await holder?.stop();
  });

  it('is kind mqueue on the mqueue filesystem, RAM, not a disk file on "(unmounted)"', () => {
    const truth = kernelStat(`/proc/${holder.pid}/fd/3`);
    assert.equal(truth.nlink, 0);
    const report = limboDeleted(['--pid', String(holder.pid)]);
    assertMatchesSchema('limbo.deleted-1', report);
    const file = findFile(report, truth.dev, truth.inode);
    assert.ok(file);
    assert.equal(file.kind, 'mqueue');
    assert.equal(file.fstype, 'mqueue');
    assert.equal(file.ramBacked, true);
    assert.equal(file.path, `/limbo-test-${process.pid}`);
    const table = runLimbo(['deleted', '--pid', String(holder.pid)]);
    assert.doesNotMatch(table.stdout, /\(unmounted\)/);
    assert.match(table.stdout, /a POSIX message queue removed with mq_unlink/);
  });

  it('is never offered for truncation', () => {
    const [result] = reclaim([`${holder.pid}:3`, '--dry-run'], 1).results;
    assert.equal(result?.status, 'refused');
    assert.match(result.reason ?? '', /POSIX message queue .* truncation does not apply/);
  });
});
