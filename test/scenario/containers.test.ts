// A process in a container, as a container runtime makes one: its own mount and pid namespaces
// (`unshare --mount --pid --fork`), a chroot into a scratch root with a private tmpfs at /data,
// and a cgroup named as docker names its scopes. It holds a deleted file on that tmpfs. limbo
// must say what the container sees next to what the host sees, and every command it prints must
// work when pasted on the host. Every expectation is what the kernel itself reports.
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmdirSync,
  rmSync,
  unlinkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { DeletedJson } from '../../src/analyses/deleted-json.js';
import type { DfJson } from '../../src/analyses/df-json.js';
import type { HandlesJson } from '../../src/analyses/handles-json.js';
import type { ReportJson } from '../../src/analyses/report-json.js';
import type { RestartJson } from '../../src/analyses/restart-json.js';
import type { ReclaimJson } from '../../src/actions/reclaim-json.js';
import { parseMountinfo } from '../../src/proc/mountinfo.js';
import { kernelStat } from '../helpers/holder.js';
import { runLimbo } from '../helpers/limbo.js';
import { repoRoot } from '../helpers/paths.js';

const isRoot = process.geteuid?.() === 0;
const containerId = `${'c0ffee'.repeat(10)}beef`;
let skip: string | false = isRoot ? false : 'needs root (namespaces, chroot, cgroups)';

let root: string;
let cgroupDir: string | null = null;
let launcher: ChildProcess | null = null;
/** The holder as the host knows it (its pid inside the container is 1). */
let hostPid = 0;
let truth: ReturnType<typeof kernelStat>;

/** The cgroup v2 hierarchy (/sys/fs/cgroup, or /sys/fs/cgroup/unified on a hybrid host). */
function cgroup2Root(): string | null {
  const mounts = parseMountinfo(readFileSync('/proc/self/mountinfo', 'latin1'));
  return mounts.find((mount) => mount.fstype === 'cgroup2')?.mountPoint ?? null;
}

/** The child of `pid` (unshare --fork's child is the container's init). */
function childOf(pid: number): number | null {
  try {
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/);
    return children[0] ? Number(children[0]) : null;
  } catch {
    return null;
  }
}

function json<T>(args: readonly string[]): T {
  const run = runLimbo([...args, '--json']);
  assert.equal(run.code, 0, `limbo ${args.join(' ')}: ${run.stderr}`);
  return JSON.parse(run.stdout) as T;
}

/** Runs a command limbo printed, as a person pastes it into a shell on the host. */
function paste(command: string, extra = ''): { code: number; stdout: string; stderr: string } {
  assert.match(command, /^limbo /);
  const result = spawnSync(
    'sh',
    ['-c', `"$0" "${repoRoot}bin/limbo.js" ${command.slice(6)} ${extra}`, process.execPath],
    {
      encoding: 'utf8',
      env: { ...process.env, NO_COLOR: '1' },
    },
  );
  return { code: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

before(async () => {
  if (skip) return;
  const cgroups = cgroup2Root();
  if (cgroups === null) {
    skip = 'no cgroup v2 hierarchy mounted';
    return;
  }
  root = mkdtempSync(join(tmpdir(), 'limbo-container-'));
  mkdirSync(join(root, 'data'));
  // A static holder: the chroot has no libraries.
  const built = spawnSync(
    'cc',
    ['-O2', '-static', '-pthread', '-o', join(root, 'holder'), `${repoRoot}test/fixtures/holder.c`, '-ldl'],
    {
      encoding: 'utf8',
    },
  );
  if (built.status !== 0) {
    skip = `cannot link the holder statically: ${built.stderr.trim().split('\n').pop() ?? ''}`;
    return;
  }
  cgroupDir = join(cgroups, 'limbo-test.slice', `docker-${containerId}.scope`);
  mkdirSync(cgroupDir, { recursive: true });
  const script =
    `echo $$ > ${cgroupDir}/cgroup.procs && exec unshare --mount --pid --fork --kill-child --propagation private ` +
    `sh -c 'mount -t tmpfs ctr-data ${root}/data && exec chroot ${root} /holder create /data/cache.bin 1048576 unlink /data/cache.bin'`;
  launcher = spawn('sh', ['-c', script], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`holder did not get ready: ${stderr}`)), 10_000);
    launcher?.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    launcher?.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (!stdout.includes('READY')) return;
      clearTimeout(timer);
      resolve();
    });
  });
  hostPid = childOf(launcher.pid as number) ?? 0;
  assert.ok(hostPid > 0, 'the container init has a pid on the host');
  truth = kernelStat(`/proc/${hostPid}/fd/3`);
});

after(() => {
  if (hostPid > 0) {
    try {
      process.kill(hostPid, 'SIGKILL'); // the namespace's init: its namespaces and its tmpfs go with it
    } catch {
      // already gone
    }
  }
  launcher?.kill('SIGKILL');
  if (cgroupDir !== null) {
    // A cgroup can be removed once its last process has left.
    for (let i = 0; i < 100 && existsSync(cgroupDir); i++) {
      try {
        rmdirSync(cgroupDir);
      } catch {
        execFileSync('sleep', ['0.05']);
      }
    }
    rmdirSync(join(cgroupDir, '..'), { recursive: false });
  }
  if (root) rmSync(root, { recursive: true, force: true });
});

describe('a holder in a container (own mount and pid namespaces, chroot, docker cgroup)', () => {
  it('shows its root, its pid inside, its own path and its container next to the host path', { skip }, () => {
    const report = json<DeletedJson>(['deleted', '--pid', String(hostPid)]);
    const file = report.files.find((f) => f.dev === truth.dev && f.inode === truth.inode);
    assert.ok(file, 'the deleted file is listed');
    assert.equal(file.allocated, truth.allocated);
    // The host reads the fd link from its own root: the chroot is in the path.
    assert.equal(file.path, readlinkSync(`/proc/${hostPid}/fd/3`).replace(/ \(deleted\)$/, ''));
    assert.equal(file.path, `${root}/data/cache.bin`);
    const holder = file.holders.find((h) => h.pid === hostPid);
    assert.ok(holder);
    assert.equal(holder.root, readlinkSync(`/proc/${hostPid}/root`));
    assert.equal(holder.root, root);
    assert.equal(holder.nsPid, 1);
    assert.equal(holder.pathInRoot, '/data/cache.bin');
    assert.equal(holder.container, containerId);
    assert.equal(holder.containerRuntime, 'docker');
    assert.equal(holder.podUid, null);
    assert.equal(holder.mountNamespace, readlinkSync(`/proc/${hostPid}/ns/mnt`));
    assert.equal(file.mountNamespace, holder.mountNamespace);
    assert.equal(file.fstype, 'tmpfs');
    assert.match(file.mountPath ?? '', /^\/proc\/\d+\/root\//);

    const table = runLimbo(['deleted', '--pid', String(hostPid)]).stdout;
    assert.match(table, new RegExp(`\\[container docker ${containerId.slice(0, 12)}\\]`));
    assert.match(table, /sees it as \/data\/cache\.bin \(root .*, pid 1 in its pid namespace\)/);
  });

  it('filters by --container: the short id, the whole id; an unknown one is an error', { skip }, () => {
    for (const id of [containerId.slice(0, 12), containerId]) {
      const report = json<DeletedJson>(['deleted', '--container', id]);
      assert.deepEqual(
        report.files.map((f) => `${f.dev}:${f.inode}`),
        [`${truth.dev}:${truth.inode}`],
      );
    }
    const unknown = runLimbo(['deleted', '--container', 'feedfacefeed']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no container 'feedfacefeed'/);
  });

  it("report names the container's mount and its runtime's restart", { skip }, () => {
    const report = json<ReportJson>(['report']);
    const finding = report.findings.find(
      (f) => f.kind === 'deleted-held' && f.message.startsWith(`${root}/data `),
    );
    assert.ok(finding, JSON.stringify(report.findings));
    assert.ok(finding.message.includes(`in ${readlinkSync(`/proc/${hostPid}/ns/mnt`)}`), finding.message);
    // One step frees it and loses nothing: the runtime's own restart of that container.
    assert.equal(finding.command, `docker restart ${containerId.slice(0, 12)}`);
  });

  it("df's next command, pasted on the host, lists the container's file and nothing else", { skip }, () => {
    const df = runLimbo(['df']).stdout;
    // Through a process of the container's mount namespace: the launcher (unshare) or its init.
    const through = new RegExp(
      `(limbo deleted --mount /proc/(?:${launcher?.pid}|${hostPid})/root/\\S+) shows them`,
    );
    const command = through.exec(df)?.[1];
    assert.ok(command, df);
    const pasted = paste(command, '--json');
    assert.equal(pasted.code, 0, pasted.stderr);
    const listed = JSON.parse(pasted.stdout) as DeletedJson;
    assert.deepEqual(
      listed.files.map((f) => `${f.dev}:${f.inode}`),
      [`${truth.dev}:${truth.inode}`],
    );
    // The same words on reclaim cover that filesystem only (a dry run changes nothing).
    const reclaim = paste(command.replace('limbo deleted', 'limbo reclaim'), '--dry-run --json');
    const plan = JSON.parse(reclaim.stdout) as ReclaimJson;
    assert.equal(plan.covers?.dev, truth.dev);
    assert.equal(plan.covers?.mountNamespace, readlinkSync(`/proc/${hostPid}/ns/mnt`));
    assert.deepEqual(
      plan.results.map((r) => r.target),
      [`${truth.dev}:${truth.inode}`],
    );
    // Its holder is named with its container, in JSON and in the plan's words.
    assert.deepEqual(
      plan.results[0]?.holders.map((h) => [h.pid, h.container]),
      [[hostPid, containerId]],
    );
    const words = paste(command.replace('limbo deleted', 'limbo reclaim'), '--dry-run');
    assert.match(
      words.stdout,
      new RegExp(
        `held by ${hostPid} holder fd 3 \\(root\\) \\[container docker ${containerId.slice(0, 12)}\\]`,
      ),
    );
    // The container's own words for its mount point name another place on the host: refused, never widened to /.
    const naive = runLimbo(['deleted', '--mount', join(root, 'data')]);
    assert.equal(naive.code, 2);
    assert.match(naive.stderr, /not a mount point/);
  });

  it(
    'df lists the private mount, measured through /proc/PID/root, with what the file holds',
    { skip },
    () => {
      const df = json<DfJson>(['df']);
      const fs = df.filesystems.find((f) => f.dev === truth.dev);
      assert.ok(fs, 'the private tmpfs is listed');
      assert.equal(fs.mountNamespace, readlinkSync(`/proc/${hostPid}/ns/mnt`));
      assert.match(fs.mountPath ?? '', /^\/proc\/\d+\/root\//);
      assert.equal(fs.heldByDeleted, truth.allocated);
      // Its own mount id in that namespace's mountinfo.
      const own = parseMountinfo(readFileSync(`/proc/${hostPid}/mountinfo`, 'latin1')).find(
        (m) => m.dev === truth.dev,
      );
      assert.equal(fs.mountId, own?.mountId);
      // Given that path, df measures the same filesystem.
      const one = json<DfJson>(['df', fs.mountPath as string]);
      assert.deepEqual(
        one.filesystems.map((f) => f.dev),
        [truth.dev],
      );
    },
  );

  it(
    "handles --container lists only the container's processes, each named with its container",
    { skip },
    () => {
      const report = json<HandlesJson>(['handles', '--container', containerId.slice(0, 12)]);
      // The kernel's members of the container's cgroup: unshare (the launcher) and the holder.
      const members = readFileSync(join(cgroupDir as string, 'cgroup.procs'), 'utf8')
        .trim()
        .split('\n')
        .map(Number);
      assert.ok(members.includes(hostPid));
      assert.deepEqual(
        report.processes.map((p) => [p.pid, p.container]).sort(),
        members.map((pid) => [pid, containerId]).sort(),
      );
      // The ledger is file-nr's, the whole system's: the filter narrows only the list.
      assert.ok(report.ledger.descriptors > (report.processes[0]?.fds ?? 0));
      const table = runLimbo(['handles', '--container', containerId]);
      assert.equal(table.code, 0, table.stderr);
      // The list's title names the container it was narrowed to; the ledger above it is the system's.
      assert.match(
        table.stdout,
        new RegExp(
          `^Top ${members.length} processes by descriptors in container docker ${containerId.slice(0, 12)}:$`,
          'm',
        ),
      );
      assert.match(
        table.stdout,
        new RegExp(`^ +${hostPid} .*\\[container ${containerId.slice(0, 12)}\\]$`, 'm'),
      );
      const unknown = runLimbo(['handles', '--container', 'feedfacefeed']);
      assert.equal(unknown.code, 1);
      assert.match(unknown.stderr, /limbo handles: no container 'feedfacefeed'/);
    },
  );

  // Last: it deletes the container's executable, which every earlier test's report would list.
  it(
    "restart --container lists the container's process running a deleted executable, with its runtime's restart",
    { skip },
    () => {
      unlinkSync(join(root, 'holder'));
      const before = kernelStat(`/proc/${hostPid}/exe`);
      for (const id of [containerId.slice(0, 12), containerId]) {
        const report = json<RestartJson>(['restart', '--container', id]);
        assert.deepEqual(
          report.processes.map((p) => [p.pid, p.container, p.unit]),
          [[hostPid, containerId, null]],
        );
        assert.deepEqual(
          report.processes[0]?.reasons.map((r) => [r.kind, r.how, r.dev, r.inode]),
          [['exe', 'deleted', before.dev, before.inode]],
        );
        assert.deepEqual(
          report.units.map((g) => [g.container, g.pids, g.command]),
          [[containerId, [hostPid], `docker restart ${containerId.slice(0, 12)}`]],
        );
      }
      const check = runLimbo(['restart', '--container', containerId.slice(0, 12), '--check']);
      assert.equal(check.code, 1, check.stderr);
      const unknown = runLimbo(['restart', '--container', 'feedfacefeed']);
      assert.equal(unknown.code, 1);
      assert.match(unknown.stderr, /limbo restart: no container 'feedfacefeed'/);
    },
  );
});
