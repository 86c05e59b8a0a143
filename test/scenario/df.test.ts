// `limbo df` on filesystems made for the test: an ext4 image on a loop device with visible
// files, hard links, a deleted file still held open, and files hidden under a mount point.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, linkSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { DfJson } from '../../src/analyses/df-json.js';
import { kernelStat, startHolder, type Holder } from '../helpers/holder.js';
import { runLimbo } from '../helpers/limbo.js';
import { assertMatchesSchema } from '../helpers/schema.js';

const isRoot = process.geteuid?.() === 0;
const hasTools = (() => {
  try {
    execFileSync('sh', ['-c', 'command -v mkfs.ext4 && command -v losetup && test -e /dev/loop-control'], {
      stdio: 'ignore',
    });
    return true;
  } catch {
    return false;
  }
})();
const skip = !isRoot ? 'needs root to mount' : !hasTools ? 'needs mkfs.ext4 and loop devices' : false;

let dir: string;
let mnt: string;
const mounted: string[] = [];
const holders: Holder[] = [];

function duBytes(path: string): number {
  return Number(execFileSync('du', ['-sx', '-B1', path], { encoding: 'utf8' }).split('\t')[0]);
}

function limboDf(args: string[], env: NodeJS.ProcessEnv = {}): DfJson['filesystems'][number] {
  const run = runLimbo(['df', '--json', ...args], { env });
  assert.equal(run.code, 0, run.stderr);
  const fs = (JSON.parse(run.stdout) as DfJson).filesystems.find((f) => f.mount === mnt);
  assert.ok(fs, 'the test filesystem is reported');
  return fs;
}

describe('limbo df on a real ext4 filesystem', { skip }, () => {
  let hiddenTruth = 0;
  let heldTruth = 0;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'limbo-df-'));
    mnt = join(dir, 'mnt');
    mkdirSync(mnt);
    const image = join(dir, 'fs.img');
    execFileSync('truncate', ['-s', '64M', image]);
    execFileSync('mkfs.ext4', ['-q', '-F', image]);
    execFileSync('mount', ['-o', 'loop', image, mnt]);
    mounted.push(mnt);
    writeFileSync(join(mnt, 'visible.bin'), Buffer.alloc(1024 * 1024, 1));
    linkSync(join(mnt, 'visible.bin'), join(mnt, 'second-name.bin'));
    mkdirSync(join(mnt, 'logs'));
    writeFileSync(join(mnt, 'logs', 'app.log'), Buffer.alloc(300 * 1024, 2));
    const held = join(mnt, 'held.log');
    // A forked child holds it too: both must let go, and df must say so.
    const holder = await startHolder(['create', held, String(2 * 1024 * 1024), 'unlink', held, 'fork']);
    holders.push(holder);
    heldTruth = kernelStat(`/proc/${holder.pid}/fd/3`).allocated;
    const covered = join(mnt, 'covered');
    mkdirSync(covered);
    writeFileSync(join(covered, 'secret.bin'), Buffer.alloc(512 * 1024, 3));
    execFileSync('sync', ['-f', mnt]);
    hiddenTruth = duBytes(covered);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'limbo-cover', covered]);
    mounted.push(covered);
  });

  after(async () => {
    await Promise.all(holders.map((holder) => holder.stop()));
    for (const path of mounted.reverse()) execFileSync('umount', ['-l', path]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('reconciles df with du to the block: visible, held by deleted files, hidden under a mount', () => {
    const fs = limboDf(['--walk', mnt]);
    const statfs = execFileSync('stat', ['-f', '-c', '%b %f %a %S', mnt], { encoding: 'utf8' })
      .trim()
      .split(' ')
      .map(Number);
    const [blocks, free, avail, bsize] = statfs as [number, number, number, number];
    assert.equal(fs.fstype, 'ext4');
    assert.equal(fs.size, blocks * bsize);
    assert.equal(fs.used, (blocks - free) * bsize);
    assert.equal(fs.available, avail * bsize);
    assert.equal(fs.reserved, (free - avail) * bsize);
    assert.equal(fs.visible, duBytes(mnt), 'visible is what du -sx sees (the hard link counted once)');
    assert.equal(fs.heldByDeleted, heldTruth);
    assert.equal(fs.hiddenUnderMounts, hiddenTruth);
    assert.equal(
      fs.unexplained,
      fs.used - (fs.visible ?? 0) - fs.heldByDeleted - (fs.hiddenUnderMounts ?? 0),
    );
    assert.ok((fs.unexplained ?? -1) >= 0, `unexplained ${fs.unexplained} is metadata, never negative here`);
    assert.equal(fs.topHolders[0]?.pid, holders[0]?.pid);
    assert.match(fs.summary, /is held by 1 deleted file still open in holder/);
    assert.ok(fs.summary.includes(`is hidden under mount points (${join(mnt, 'covered')})`), fs.summary);
    assert.deepEqual(fs.hiddenUnder, [join(mnt, 'covered')]);
    const [parent, child] = [holders[0]?.pid, holders[0]?.children[0]];
    assert.ok(
      fs.summary.includes(`for the biggest: restart holder master ${parent} and 1 worker (${child})`),
      `every holder is named, the forked child too: ${fs.summary}`,
    );
    const run = runLimbo(['df', '--json', mnt]);
    assertMatchesSchema('limbo.df-1', JSON.parse(run.stdout));
  });

  it('gives the same answer with the pure JavaScript walker', () => {
    const native = limboDf([mnt]);
    const js = limboDf([mnt], { LIMBO_NO_NATIVE: '1' });
    assert.equal(js.visible, native.visible);
    assert.equal(js.hiddenUnderMounts, native.hiddenUnderMounts);
  });

  it('prints the table and one sentence per filesystem', () => {
    const run = runLimbo(['df', mnt]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(
      run.stdout,
      /MOUNT\s+TYPE\s+SIZE\s+USED\s+AVAIL\s+RESERVED\s+DELETED\s+VISIBLE\s+HIDDEN\s+UNEXPLAINED/,
    );
    assert.ok(run.stdout.includes(`${mnt}: df `));
  });

  it('as a normal user, never says no deleted file is held: a process it could not read may hold one', () => {
    chmodSync(dir, 0o755);
    const run = runLimbo(['df', '--json', mnt], { uid: 65534 });
    assert.equal(run.code, 0, run.stderr);
    const report = JSON.parse(run.stdout) as DfJson;
    const fs = report.filesystems.find((f) => f.mount === mnt);
    assert.equal(fs?.heldByDeleted, 0, "root's holder is out of sight");
    assert.match(fs?.summary ?? '', /or held by a process limbo could not read/);
    assert.doesNotMatch(fs?.summary ?? '', /no deleted file is held open/);
    assert.ok(report.incomplete?.processes?.some((p) => p.pid === holders[0]?.pid));
    assertMatchesSchema('limbo.df-1', report);
    assert.match(runLimbo(['df', mnt], { uid: 65534 }).stdout, /\nPartial view: \d+ process/);
  });
});

describe('limbo df without a walk', () => {
  it('lists real filesystems only, with statfs figures and no walk columns', () => {
    const run = runLimbo(['df', '--json']);
    assert.equal(run.code, 0, run.stderr);
    const report = JSON.parse(run.stdout) as DfJson;
    assert.ok(report.filesystems.some((fs) => fs.mount === '/'));
    assert.ok(!report.filesystems.some((fs) => ['proc', 'sysfs', 'cgroup2', 'devpts'].includes(fs.fstype)));
    for (const fs of report.filesystems) {
      assert.equal(fs.visible, null);
      assert.equal(fs.unexplained, null);
    }
  });

  it(
    'lists a mount point covered by another mount once, as the mount on top',
    { skip: !isRoot && 'needs root to mount' },
    () => {
      const root = mkdtempSync(join(tmpdir(), 'limbo-overmount-'));
      try {
        execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'limbo-under', root]);
        execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'limbo-over', root]);
        const report = JSON.parse(runLimbo(['df', '--json']).stdout) as DfJson;
        const listed = report.filesystems.filter((fs) => fs.mount === root);
        assert.deepEqual(
          listed.map((fs) => [fs.source, fs.size]),
          [['limbo-over', 2 * 1024 * 1024]],
        );
      } finally {
        execFileSync('umount', ['-l', root]);
        execFileSync('umount', ['-l', root]);
        rmSync(root, { recursive: true, force: true });
      }
    },
  );

  it('exits 1 for a path that does not exist, as links does', () => {
    const run = runLimbo(['df', '/no/such/path']);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /cannot stat '\/no\/such\/path': ENOENT/);
  });
});

describe('limbo deleted on btrfs', { skip: skip || !hasBtrfs() }, () => {
  it('places a deleted file on its btrfs mount, in deleted and in df, although btrfs reports another st_dev than mountinfo', async () => {
    const root = mkdtempSync(join(tmpdir(), 'limbo-btrfs-'));
    const mountPoint = join(root, 'mnt');
    mkdirSync(mountPoint);
    const image = join(root, 'fs.img');
    execFileSync('truncate', ['-s', '128M', image]);
    execFileSync('mkfs.btrfs', ['-q', '-f', image]);
    execFileSync('mount', ['-o', 'loop', image, mountPoint]);
    try {
      const path = join(mountPoint, 'held.log');
      const holder = await startHolder(['create', path, '65536', 'unlink', path]);
      try {
        const truth = kernelStat(`/proc/${holder.pid}/fd/3`);
        const run = runLimbo(['deleted', '--json', '--pid', String(holder.pid)]);
        const report = JSON.parse(run.stdout) as {
          files: { dev: string; inode: number; mount: string | null; fstype: string | null }[];
        };
        const file = report.files.find((f) => f.dev === truth.dev && f.inode === truth.inode);
        assert.ok(file);
        assert.equal(file.mount, mountPoint);
        assert.equal(file.fstype, 'btrfs');
        const df = JSON.parse(runLimbo(['df', '--json', mountPoint]).stdout) as DfJson;
        assert.equal(df.filesystems.length, 1);
        assert.equal(df.filesystems[0]?.fstype, 'btrfs');
        assert.equal(
          df.filesystems[0]?.heldByDeleted,
          truth.allocated,
          'df counts the held file on btrfs too',
        );
      } finally {
        await holder.stop();
      }
    } finally {
      execFileSync('umount', ['-l', mountPoint]);
      rmSync(root, { recursive: true, force: true });
    }
  });
});

function hasBtrfs(): boolean {
  try {
    execFileSync('sh', ['-c', 'command -v mkfs.btrfs && grep -qw btrfs /proc/filesystems'], {
      stdio: 'ignore',
    });
    return true;
  } catch {
    return false;
  }
}
