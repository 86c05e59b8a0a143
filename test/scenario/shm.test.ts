// `limbo shm` on real SysV segments in each state the kernel knows (attached, orphaned,
// removed but attached), checked against /proc/sysvipc/shm and each process's maps.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import type { ShmJson } from '../../src/analyses/shm-json.js';
import { kernelStat, startHolder, type Holder, type HolderOptions } from '../helpers/holder.js';
import { runLimbo } from '../helpers/limbo.js';

const isRoot = process.geteuid?.() === 0;
const holders: Holder[] = [];
/** Every segment a test created in this IPC namespace: removed in `after`, whatever happened. */
const created = new Set<number>();
const devShmFiles: string[] = [];

async function hold(ops: string[], options: HolderOptions = {}): Promise<Holder> {
  const holder = await startHolder(ops, options);
  holders.push(holder);
  if (!options.wrapper) for (const id of holder.shmids) created.add(id);
  return holder;
}

/** A key no earlier run left behind: "lm" and 16 random bits (the holder's shmget uses IPC_EXCL). */
function freshKey(): string {
  return `0x6c6d${Math.floor(Math.random() * 0x10000)
    .toString(16)
    .padStart(4, '0')}`;
}

function limboShm(args: string[] = []): ShmJson {
  const run = runLimbo(['shm', '--json', ...args]);
  assert.equal(run.code, 0, run.stderr);
  return JSON.parse(run.stdout) as ShmJson;
}

type SegmentJson = ShmJson['segments'][number];

function segmentOf(report: ShmJson, shmid: number | undefined): SegmentJson {
  const segment = report.segments.find((s) => s.shmid === shmid);
  assert.ok(segment, `shmid ${shmid} is listed`);
  return segment;
}

/** The kernel's own row for a segment: /proc/sysvipc/shm, by column name. */
function kernelRow(shmid: number | undefined): Record<string, string> | undefined {
  const [header = '', ...rows] = readFileSync('/proc/sysvipc/shm', 'utf8').split('\n');
  const names = header.trim().split(/\s+/);
  const row = rows.map((r) => r.trim().split(/\s+/)).find((fields) => fields[1] === String(shmid));
  return row && Object.fromEntries(names.map((name, i) => [name, row[i] ?? '']));
}

after(async () => {
  await Promise.all(holders.map((holder) => holder.stop()));
  for (const id of created) {
    try {
      execFileSync('ipcrm', ['-m', String(id)], { stdio: 'ignore' });
    } catch {
      // already gone: removed by the test, or freed with its last attacher
    }
  }
  for (const path of devShmFiles) rmSync(path, { force: true });
});

describe('limbo shm on real segments', () => {
  it('counts one process attaching one segment 1,000 times: nattch 1000, that pid ×1000', async () => {
    const holder = await hold(['shm', '65536', '1000']);
    const segment = segmentOf(limboShm(), holder.shmids[0]);
    assert.equal(kernelRow(holder.shmids[0])?.['nattch'], '1000', 'the kernel agrees');
    assert.equal(segment.nattch, 1000);
    assert.equal(segment.status, 'attached');
    assert.deepEqual(segment.attachedBy, [holder.pid]);
    assert.deepEqual(
      segment.attachments.map((a) => [a.pid, a.comm, a.count]),
      [[holder.pid, 'holder', 1000]],
    );
    assert.equal(segment.key, '0x00000000', 'IPC_PRIVATE');
    assert.equal(segment.unseenAttaches, 0);
    assert.equal(segment.cpid, holder.pid);
    assert.equal(segment.cpidComm, 'holder');
  });

  it('shows a segment left behind by its dead creator as orphaned, with the RAM the kernel says it holds', async () => {
    const key = freshKey();
    const holder = await hold(['shmkey', key, String(1024 * 1024), '1']);
    const shmid = holder.shmids[0];
    await holder.stop();
    const truth = kernelRow(shmid);
    assert.equal(truth?.['nattch'], '0', 'nothing attaches it any more');
    const report = limboShm();
    const segment = segmentOf(report, shmid);
    assert.equal(segment.status, 'orphaned');
    assert.equal(segment.key, key, 'as ipcs shows it');
    assert.equal(segment.rss, Number(truth?.['rss']));
    assert.ok(segment.rss >= 1024 * 1024, 'every page was touched, so all of it is resident');
    assert.equal(segment.size, 1024 * 1024);
    assert.deepEqual(segment.attachedBy, []);
    assert.equal(segment.cpid, holder.pid);
    assert.equal(segment.cpidComm, null, 'its creator is gone');
    assert.ok(segment.detachTime !== null && !Number.isNaN(Date.parse(segment.detachTime)));
    assert.ok(report.totals.byStatus.orphaned.rss >= segment.rss);
    assert.ok(report.totals.byStatus.orphaned.segments >= 1);
  });

  it('shows a segment removed while attached as removed-attached, key 0x00000000, and keeps its original key', async () => {
    const key = freshKey();
    const holder = await hold(['shmkey', key, '16384', '2', 'shm-rm']);
    const truth = kernelRow(holder.shmids[0]);
    assert.equal(truth?.['key'], '0', 'IPC_RMID zeroes the key in the table');
    assert.equal((parseInt(truth?.['perms'] ?? '0', 8) & 0o1000) !== 0, true, 'SHM_DEST');
    const segment = segmentOf(limboShm(), holder.shmids[0]);
    assert.equal(segment.status, 'removed-attached');
    assert.equal(segment.key, '0x00000000');
    assert.equal(segment.originalKey, key, 'the maps name /SYSV<key> still carries it');
    assert.deepEqual(
      segment.attachments.map((a) => [a.pid, a.count]),
      [[holder.pid, 2]],
    );
    await holder.stop();
    assert.equal(kernelRow(holder.shmids[0]), undefined, 'it went with its last attacher');
    created.delete(holder.shmids[0] ?? -1);
  });

  it('counts an attach split by mprotect three times, as the kernel’s nattch does', async () => {
    const holder = await hold(['shmkey', freshKey(), '12288', '1', 'shm-split']);
    assert.equal(kernelRow(holder.shmids[0])?.['nattch'], '3', 'one shmat, three VMAs');
    const segment = segmentOf(limboShm(), holder.shmids[0]);
    assert.equal(segment.nattch, 3);
    assert.deepEqual(
      segment.attachments.map((a) => [a.pid, a.count]),
      [[holder.pid, 3]],
    );
  });

  it('lists a forked child that inherited the attach beside its parent', async () => {
    const holder = await hold(['shm', '4096', '1', 'fork']);
    const segment = segmentOf(limboShm(), holder.shmids[0]);
    assert.equal(segment.nattch, 2);
    assert.deepEqual(
      segment.attachedBy,
      [holder.pid, ...holder.children].sort((a, b) => a - b),
    );
  });

  it(
    'does not credit a host segment with the attaches of a same-numbered segment in another IPC namespace',
    { skip: !isRoot && 'unshare -i needs root' },
    async () => {
      const hostKey = freshKey();
      const host = await hold(['shmkey', hostKey, '4096', '1']);
      const shmid = host.shmids[0] as number;
      // The new namespace hands out exactly the host's shmid, under another key.
      let foreignKey = freshKey();
      while (foreignKey === hostKey) foreignKey = freshKey();
      const foreign = await hold(['shmkey', foreignKey, '4096', '2'], {
        wrapper: [
          'unshare',
          '-i',
          'sh',
          '-c',
          `echo ${shmid} > /proc/sys/kernel/shm_next_id && exec "$0" "$@"`,
        ],
      });
      assert.deepEqual(foreign.shmids, [shmid], 'the two namespaces share a shmid');
      const report = limboShm();
      assert.deepEqual(segmentOf(report, shmid).attachedBy, [host.pid]);
      assert.deepEqual(
        report.unmatchedAttachments
          .filter((u) => u.pid === foreign.pid)
          .map((u) => [u.shmid, u.key, u.count]),
        [[shmid, foreignKey, 2]],
      );
    },
  );

  it(
    'as a normal user, counts attaches in processes it cannot read as unseen rather than dropping them',
    { skip: !isRoot && 'needs root to switch users' },
    async () => {
      const holder = await hold(['shm', '4096', '3']);
      const run = runLimbo(['shm', '--json'], { uid: 65534 });
      assert.equal(run.code, 0, run.stderr);
      const segment = segmentOf(JSON.parse(run.stdout) as ShmJson, holder.shmids[0]);
      assert.equal(segment.nattch, 3, '/proc/sysvipc/shm is readable by anyone');
      assert.deepEqual(segment.attachedBy, []);
      assert.equal(segment.unseenAttaches, 3);
    },
  );

  it('summarises /dev/shm, including a file unlinked while still open', async () => {
    const kept = `/dev/shm/limbo-test-${process.pid}-kept`;
    const gone = `/dev/shm/limbo-test-${process.pid}-gone`;
    devShmFiles.push(kept, gone);
    const holder = await hold(['create', kept, '65536', 'create', gone, '131072', 'unlink', gone]);
    const truth = kernelStat(`/proc/${holder.pid}/fd/${holder.fds[1]}`);
    const { posix } = limboShm();
    assert.equal(posix.mount, '/dev/shm');
    assert.ok(posix.files >= 1);
    assert.ok(posix.allocated >= kernelStat(kept).allocated);
    const deleted = posix.deleted.find((f) => f.inode === truth.inode);
    assert.ok(deleted, 'the unlinked file is listed');
    assert.equal(deleted.path, gone);
    assert.equal(deleted.allocated, truth.allocated);
    assert.deepEqual(
      deleted.holders.map((h) => h.pid),
      [holder.pid],
    );
  });

  it('makes orphans stand out in the table, with the ipcrm command, and filters by --status', async () => {
    const holder = await hold(['shmkey', freshKey(), '8192', '1']);
    const shmid = holder.shmids[0] as number;
    await holder.stop();
    const table = runLimbo(['shm']);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, new RegExp(`^\\s+${shmid}\\s+0x6c6d[0-9a-f]{4}\\s+orphaned\\s`, 'm'));
    assert.match(table.stdout, /\d+ orphaned: .* held by no process until ipcrm or reboot/);
    assert.match(table.stdout, new RegExp(`ipcrm( -m \\d+)* -m ${shmid}\\b`));
    const orphans = limboShm(['--status', 'orphaned']);
    assert.ok(orphans.segments.length >= 1);
    assert.ok(orphans.segments.every((s) => s.status === 'orphaned'));
    assert.equal(orphans.totals.segments, orphans.segments.length, 'totals cover the segments listed');
    const bad = runLimbo(['shm', '--status', 'lost']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--status takes one of orphaned, removed-attached, attached/);
  });
});
