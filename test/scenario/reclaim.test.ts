// `limbo reclaim` against real processes: every expectation is what the kernel reports through
// /proc and statfs for the same file. As root the files live on a tmpfs of the test's own, where
// free space moves by exactly what the files held.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { executeReclaim, planReclaim } from '../../src/actions/reclaim.js';
import type { ReclaimJson } from '../../src/actions/reclaim-json.js';
import { parseTarget, type Target } from '../../src/actions/target.js';
import { nativeAddon } from '../../src/native.js';
import { takeSnapshot } from '../../src/snapshot/take-snapshot.js';
import { runAction, runActionInProcess } from '../helpers/action-commands.js';
import { kernelStat, startHolder, type Holder } from '../helpers/holder.js';
import { availableBytes, makeScratch, waitUntil, type Scratch } from '../helpers/scratch.js';
import { assertMatchesSchema } from '../helpers/schema.js';

let scratch: Scratch;
const holders: Holder[] = [];
let counter = 0;

async function hold(ops: string[]): Promise<Holder> {
  const holder = await startHolder(ops);
  holders.push(holder);
  return holder;
}

/**
 * A file of random bytes written by the test, opened by a holder (`append`: write-only with
 * O_APPEND, as a log is; `open`: read-only; `rdwr`: read-write), then unlinked.
 */
async function holdDeleted(
  bytes: number,
  ops: string[] = [],
  how: 'append' | 'open' | 'rdwr' = 'append',
): Promise<{ holder: Holder; path: string }> {
  const path = join(scratch.dir, `file-${++counter}`);
  writeFileSync(path, randomBytes(bytes));
  const holder = await hold([how, path, ...ops]);
  unlinkSync(path);
  return { holder, path };
}

function fdTarget(pid: number, fd: number): Target {
  return parseTarget(`${pid}:${fd}`) as Target;
}

/**
 * Tells, for a /proc fd link, whether it still shows the file it showed at first, another one,
 * or none (mid-swap). Birth time is compared too: ext4 gives a freed inode number to the next
 * new file at once, so the inode number alone may not change.
 */
function swapWatcher(link: string): () => 'same' | 'other' | 'none' {
  const identity = () => {
    const st = statSync(link, { bigint: true });
    return `${st.dev}:${st.ino}:${st.birthtimeNs}`;
  };
  const first = identity();
  return () => {
    try {
      return identity() === first ? 'same' : 'other';
    } catch {
      return 'none';
    }
  };
}

function reclaimJson(args: string[]): { code: number; json: ReclaimJson; stderr: string } {
  const run = runAction(['reclaim', '--json', ...args]);
  assert.ok(run.stdout.startsWith('{'), `JSON expected, got: ${run.stdout}${run.stderr}`);
  return { code: run.code, json: JSON.parse(run.stdout) as ReclaimJson, stderr: run.stderr };
}

function assertValid(json: ReclaimJson): void {
  assertMatchesSchema('limbo.reclaim-1', json);
}

before(() => {
  scratch = makeScratch('limbo-reclaim-');
});

after(async () => {
  await Promise.all(holders.map((holder) => holder.stop()));
  scratch.remove();
});

describe('limbo reclaim on real processes', () => {
  it('truncates a deleted file through its fd, and free space rises by exactly its allocated bytes', async (t) => {
    const { holder } = await holdDeleted(3_000_001);
    const link = `/proc/${holder.pid}/fd/3`;
    const truth = kernelStat(link);
    assert.equal(truth.nlink, 0);
    const before = availableBytes(scratch.dir);
    const { code, json } = reclaimJson([`${holder.pid}:3`, '--yes']);
    const after = availableBytes(scratch.dir);
    assert.equal(code, 0);
    assertValid(json);
    const [result] = json.results;
    assert.equal(result?.status, 'truncated', result?.reason ?? '');
    assert.equal(result?.dev, truth.dev);
    assert.equal(result?.inode, truth.inode);
    assert.equal(result?.expectedBytes, truth.allocated);
    assert.equal(result?.freedBytes, truth.allocated);
    assert.deepEqual(result?.via, { pid: holder.pid, fd: 3, mapping: null });
    assert.deepEqual(result?.warnings, [], 'a holder that only appends is not at risk');
    assert.equal(result?.decision?.verdict, 'truncate');
    assert.deepEqual(
      result?.decision?.reasons.map((r) => r.code),
      ['appenders-only'],
    );
    assert.deepEqual(kernelStat(link), { ...truth, size: 0, allocated: 0 }, 'same inode, now empty');
    process.kill(holder.pid, 0); // the holder lives on
    if (!scratch.exact) return t.skip('free space is exact only on our own tmpfs (needs root)');
    assert.equal(after - before, truth.allocated, 'statfs says exactly what the file held came back');
    const [fs] = json.filesystems;
    assert.equal(fs?.mount, scratch.dir);
    assert.equal(fs?.freedBytes, truth.allocated);
    assert.equal(fs?.expectedBytes, truth.allocated);
  });

  it('by MAJ:MIN:INODE empties the file for every holder: forks and dups included', async () => {
    const { holder } = await holdDeleted(200_000, ['dup', '2', 'fork']);
    const truth = kernelStat(`/proc/${holder.pid}/fd/3`);
    const { code, json } = reclaimJson([`${truth.dev}:${truth.inode}`, '--yes']);
    assert.equal(code, 0);
    assert.equal(json.results[0]?.status, 'truncated');
    assert.deepEqual(
      json.results[0]?.holders.map((h) => h.pid).sort(),
      [holder.pid, ...holder.children].sort(),
    );
    for (const pid of [holder.pid, ...holder.children]) {
      for (const fd of [3, 4, 5]) assert.equal(kernelStat(`/proc/${pid}/fd/${fd}`).size, 0);
    }
  });

  it('refuses a file still hard-linked under another name, and leaves its data alone', async () => {
    const a = join(scratch.dir, 'linked-a');
    const b = join(scratch.dir, 'linked-b');
    const holder = await hold(['create', a, '8192', 'link', a, b, 'unlink', a]);
    const truth = kernelStat(`/proc/${holder.pid}/fd/3`);
    assert.equal(truth.nlink, 1);
    for (const target of [`${holder.pid}:3`, `${truth.dev}:${truth.inode}`]) {
      const { code, json } = reclaimJson([target, '--yes', '--force']);
      assert.equal(code, 1);
      assert.equal(json.results[0]?.status, 'refused');
      assert.match(json.results[0]?.reason ?? '', /still linked \(nlink 1\)/);
    }
    assert.equal(statSync(b).size, 8192);
    assert.equal(readFileSync(b, 'latin1'), 'x'.repeat(8192), 'the other name still has every byte');
  });

  it('refuses when the fd number was reused between the scan and the act, and touches neither file', async () => {
    const replacement = join(scratch.dir, 'replacement');
    const { holder } = await holdDeleted(100_000, ['swap-on-usr2', replacement]);
    const link = `/proc/${holder.pid}/fd/3`;
    const old = kernelStat(link);
    const swapped = swapWatcher(link);
    const plan = planReclaim(takeSnapshot(), { targets: [fdTarget(holder.pid, 3)], filter: null });
    assert.equal(plan.candidates[0]?.verdict, 'ready');

    process.kill(holder.pid, 'SIGUSR2'); // close fd 3, open another (deleted) file: it gets number 3
    await waitUntil(() => swapped() === 'other', 'the holder to replace fd 3');
    const now = kernelStat(link);
    assert.equal(now.nlink, 0, 'the new file is deleted too: a blind `: > /proc/PID/fd/3` would wipe it');

    const [result] = executeReclaim(plan).results;
    assert.equal(result?.status, 'refused');
    assert.match(result?.reason ?? '', /now refers to another file.* number was reused/);
    assert.deepEqual(kernelStat(link), now, 'the file now behind fd 3 is untouched');

    // Reclaim by the old identity: nobody holds it any more, and closing it already freed it.
    // (Only on tmpfs: ext4 may already have given its inode number to the file swapped in.)
    if (!scratch.exact) return;
    const byOld = reclaimJson([`${old.dev}:${old.inode}`, '--yes']);
    assert.equal(byOld.code, 1, 'a target nothing holds any more does not exist: nothing was done');
    assert.equal(byOld.json.dryRun, false);
    assert.equal(byOld.json.results[0]?.status, 'skipped');
    assert.match(byOld.json.results[0]?.reason ?? '', /no process holds/);
  });

  it('re-checks after the person confirms: a swap while the prompt waits is refused', async () => {
    const replacement = join(scratch.dir, 'replacement-2');
    const { holder } = await holdDeleted(50_000, ['swap-on-usr2', replacement]);
    const link = `/proc/${holder.pid}/fd/3`;
    const swapped = swapWatcher(link);
    const run = await runActionInProcess(['reclaim', `${holder.pid}:3`], () => {
      process.kill(holder.pid, 'SIGUSR2');
      const deadline = Date.now() + 5000;
      while (swapped() !== 'other' && Date.now() < deadline);
      return true;
    });
    assert.equal(run.code, 1, run.stdout + run.stderr);
    assert.match(run.stdout, /Would truncate 1 deleted file/);
    assert.equal(run.asked.length, 1);
    assert.match(run.asked[0] ?? '', /^Truncate 1 file, giving back /);
    assert.match(run.stdout, /refused.*\n.*number was reused/);
    assert.equal(kernelStat(link).size, 4096, 'the new file keeps its 4096 bytes');
  });

  it('refuses a descriptor that is not a regular file', async () => {
    const { holder } = await holdDeleted(4096);
    const { code, json } = reclaimJson([`${holder.pid}:0`, '--yes', '--force']);
    assert.equal(code, 1);
    assertValid(json);
    assert.equal(json.results[0]?.status, 'refused');
    assert.match(json.results[0]?.reason ?? '', /is a (socket|pipe \(FIFO\)), not a regular file/);
  });

  it('warns about a writer without O_APPEND; with --force truncates, and its next write regrows a sparse file as reported', async (t) => {
    const path = join(scratch.dir, 'writer.log');
    const holder = await hold(['wronly', path, String(1024 * 1024), 'unlink', path, 'write-on-usr1', '4096']);
    const link = `/proc/${holder.pid}/fd/3`;
    const truth = kernelStat(link);

    const warned = reclaimJson([`${holder.pid}:3`, '--yes']);
    assert.equal(warned.code, 1);
    const [refused] = warned.json.results;
    assert.equal(refused?.status, 'refused');
    assert.match(refused?.reason ?? '', /^needs --force: .*writes through fd 3 without O_APPEND/);
    assert.deepEqual(
      refused?.warnings.map((w) => [w.kind, w.pid, w.fd, w.offset]),
      [['writer', holder.pid, 3, 1024 * 1024]],
    );
    assert.match(
      refused?.warnings[0]?.message ?? '',
      /a write\(2\) lands at 1\.0 MiB again, so the file regrows to 1\.0 MiB plus what it writes, the start a zero-filled hole; a pwrite\(2\) lands wherever the program chooses/,
    );
    assert.deepEqual(
      refused?.decision?.reasons.map((r) => [r.code, r.pid, r.fd]),
      [['writes-at-offset', holder.pid, 3]],
    );
    assert.equal(kernelStat(link).size, truth.size, 'nothing happened without --force');

    const table = runAction(['reclaim', `${holder.pid}:3`, '--yes', '--force']);
    assert.equal(table.code, 0, table.stderr);
    assert.match(
      table.stdout,
      /still writes through fd 3 without O_APPEND: its next write\(2\) recreates the file at 1\.0 MiB/,
    );
    assert.equal(kernelStat(link).size, 0);

    process.kill(holder.pid, 'SIGUSR1'); // it writes 4096 bytes at its old offset
    await waitUntil(() => kernelStat(link).size > 0, 'the holder to write again');
    const regrown = kernelStat(link);
    assert.equal(regrown.size, 1024 * 1024 + 4096, 'the old size is back, as the warning said');
    assert.ok(
      regrown.allocated < 1024 * 1024,
      `sparse: only what it wrote is allocated (${regrown.allocated})`,
    );
    if (scratch.exact) assert.equal(regrown.allocated, 4096);
    else t.diagnostic(`allocated after regrowth: ${regrown.allocated}`);
    assert.deepEqual(readFileSync(link).subarray(0, 16), Buffer.alloc(16), 'the hole reads as zeros');
  });

  it('needs --force for a memory-mapped file', async () => {
    const { holder } = await holdDeleted(16384, ['mmap'], 'open');
    const { code, json } = reclaimJson([`${holder.pid}:3`, '--yes']);
    assert.equal(code, 1);
    assert.equal(json.results[0]?.status, 'refused');
    assert.deepEqual(
      json.results[0]?.warnings.map((w) => w.kind),
      ['reader', 'mapped'],
    );
    assert.match(json.results[0]?.warnings[1]?.message ?? '', /SIGBUS/);
    assert.equal(kernelStat(`/proc/${holder.pid}/fd/3`).size, 16384);
  });

  it('refuses a memfd sealed against writes, which the kernel alone would truncate', async () => {
    const F_SEAL_WRITE = 8;
    const F_SEAL_SHRINK = 2;
    const holder = await hold([
      'sealed-memfd', 'write-sealed', '8192', String(F_SEAL_WRITE),
      'sealed-memfd', 'shrink-sealed', '8192', String(F_SEAL_SHRINK),
    ]); // prettier-ignore
    const { code, json } = reclaimJson([`${holder.pid}:3`, `${holder.pid}:4`, '--yes', '--force']);
    assert.equal(code, 1);
    assertValid(json);
    const native = typeof nativeAddon()?.memfdSeals === 'function';
    const [write, shrink] = json.results;
    assert.equal(write?.status, 'refused');
    assert.equal(shrink?.status, 'refused');
    assert.match(write?.reason ?? '', native ? /F_SEAL_WRITE/ : /seals cannot be read/);
    assert.match(shrink?.reason ?? '', native ? /F_SEAL_SHRINK/ : /seals cannot be read/);
    assert.equal(kernelStat(`/proc/${holder.pid}/fd/3`).size, 8192);
    assert.equal(kernelStat(`/proc/${holder.pid}/fd/4`).size, 8192);
  });

  it('truncates an unsealed memfd with --force, and says statfs cannot measure RAM it has no size for', async () => {
    const holder = await hold(['memfd', 'cache', '65536']);
    const { code, json } = reclaimJson([`${holder.pid}:3`, '--yes', '--force']);
    if (typeof nativeAddon()?.memfdSeals !== 'function') {
      assert.equal(json.results[0]?.status, 'refused');
      return;
    }
    assert.equal(code, 0);
    assert.equal(json.results[0]?.status, 'truncated');
    assert.equal(json.results[0]?.freedBytes, 65536);
    assert.deepEqual(
      json.filesystems.map((fs) => [fs.mount, fs.freeBefore, fs.freeAfter, fs.expectedBytes]),
      [[null, null, null, 65536]],
    );
  });

  it('previews on a terminal and truncates nothing when the person says no', async () => {
    const { holder } = await holdDeleted(40_000);
    const run = await runActionInProcess(['reclaim', `${holder.pid}:3`], () => false);
    assert.equal(run.code, 1);
    assert.match(run.stdout, /Would truncate 1 deleted file, giving back 40\.0 KiB:/);
    assert.ok(run.stdout.includes(`held by ${holder.pid} holder fd 3 (`), run.stdout);
    assert.deepEqual(run.asked, ['Truncate 1 file, giving back 40.0 KiB?']);
    assert.match(run.stderr, /Nothing was truncated/);
    assert.equal(kernelStat(`/proc/${holder.pid}/fd/3`).size, 40_000);
  });

  it('refuses to act without a terminal and without --yes (exit 2); --dry-run changes nothing', async () => {
    const { holder } = await holdDeleted(40_000);
    const noTerminal = runAction(['reclaim', `${holder.pid}:3`]);
    assert.equal(noTerminal.code, 2);
    assert.match(
      noTerminal.stderr,
      /no terminal to confirm on\. Preview with --dry-run, then run again with --yes/,
    );
    const dry = reclaimJson([`${holder.pid}:3`, '--dry-run']);
    assert.equal(dry.code, 0);
    assertValid(dry.json);
    assert.equal(dry.json.dryRun, true);
    assert.deepEqual(
      dry.json.results.map((r) => [r.status, r.reason, r.expectedBytes]),
      [['skipped', 'dry run: would be truncated', kernelStat(`/proc/${holder.pid}/fd/3`).allocated]],
    );
    assert.equal(kernelStat(`/proc/${holder.pid}/fd/3`).size, 40_000);
  });

  it('chooses files with the filters of limbo deleted', async () => {
    const { holder } = await holdDeleted(2 * 1024 * 1024);
    const small = join(scratch.dir, 'small');
    writeFileSync(small, randomBytes(4096));
    const second = await hold(['open', small]);
    unlinkSync(small);
    const { code, json } = reclaimJson(['--pid', String(holder.pid), '--min-size', '1M', '--yes']);
    assert.equal(code, 0);
    assert.deepEqual(
      json.results.map((r) => [r.status, r.via?.pid]),
      [['truncated', holder.pid]],
    );
    assert.equal(
      kernelStat(`/proc/${second.pid}/fd/3`).size,
      4096,
      'a file the filter did not choose is untouched',
    );
  });

  const usage: [string[], RegExp][] = [
    [['reclaim'], /nothing to reclaim: name a target/],
    [['reclaim', 'nonsense'], /'nonsense' is not a target: give PID:FD .* or MAJ:MIN:INODE/],
    [['reclaim', '1:2', '--from', 'x.json'], /--from cannot be used/],
    [['reclaim', '--pid', 'abc'], /--pid takes a process id/],
  ];
  for (const [args, message] of usage) {
    it(`exits 2 with a clear message for: limbo ${args.join(' ')}`, () => {
      const run = runAction(args);
      assert.equal(run.code, 2);
      assert.match(run.stderr, message);
      assert.equal(run.stdout, '');
    });
  }
});
