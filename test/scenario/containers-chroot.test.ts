// Two processes in one private mount namespace, one of them chrooted: /proc/PID/mountinfo lists
// mount points relative to the reading process's root and leaves out the mounts outside it, while
// the fd links the host reads name files from the namespace's own root. The chrooted one comes
// first (lower pid), so a table read from the first process seen would be the chroot's. Each holds
// a deleted file on a private tmpfs: the chrooted one inside its root, the other outside it. Both
// must get the right mount, their own path, and a `--mount` the host can paste.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { DeletedJson } from '../../src/analyses/deleted-json.js';
import { parseMountinfo } from '../../src/proc/mountinfo.js';
import { kernelStat } from '../helpers/holder.js';
import { runLimbo } from '../helpers/limbo.js';
import { repoRoot } from '../helpers/paths.js';

const isRoot = process.geteuid?.() === 0;
let skip: string | false = isRoot ? false : 'needs root (mount namespaces, chroot, mount)';

/** The chroot, with a private tmpfs at /data (outside: `${root}/data`). */
let root: string;
/** Outside the chroot, with a private tmpfs at `${outside}/out`. */
let outside: string;
const started: ChildProcess[] = [];
let chrooted = 0;
let unchrooted = 0;
let namespace: string;
let inChroot: ReturnType<typeof kernelStat>;
let outOfChroot: ReturnType<typeof kernelStat>;

/** Starts a holder and waits for its READY. */
async function startHolder(command: string, args: readonly string[]): Promise<ChildProcess> {
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  started.push(child);
  let stdout = '';
  let stderr = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`holder did not get ready: ${stderr}`)), 10_000);
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('exit', (code) => reject(new Error(`holder exited ${code}: ${stderr}`)));
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (!stdout.includes('READY')) return;
      clearTimeout(timer);
      resolve();
    });
  });
  return child;
}

function deleted(args: readonly string[]): DeletedJson {
  const run = runLimbo(['deleted', ...args, '--json']);
  assert.equal(run.code, 0, `limbo deleted ${args.join(' ')}: ${run.stderr}`);
  return JSON.parse(run.stdout) as DeletedJson;
}

/** Runs a command limbo printed, as a person pastes it into a shell on the host. */
function paste(command: string, extra = ''): { code: number; stdout: string; stderr: string } {
  assert.match(command, /^limbo /);
  const result = spawnSync(
    'sh',
    ['-c', `"$0" "${repoRoot}bin/limbo.js" ${command.slice(6)} ${extra}`, process.execPath],
    { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } },
  );
  return { code: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

/** The one file of `report` with the kernel's (dev, inode), and the holder `pid` of it. */
function fileHeldBy(report: DeletedJson, truth: ReturnType<typeof kernelStat>, pid: number) {
  const file = report.files.find((f) => f.dev === truth.dev && f.inode === truth.inode);
  assert.ok(file, `${truth.dev}:${truth.inode} is listed`);
  const holder = file.holders.find((h) => h.pid === pid);
  assert.ok(holder, `pid ${pid} holds it`);
  return { file, holder };
}

/** `limbo deleted --mount MOUNTPATH`, pasted: it lists exactly the file `truth`. */
function assertPasteListsOnly(
  mountPath: string | null | undefined,
  truth: ReturnType<typeof kernelStat>,
): void {
  assert.ok(mountPath, 'a host path to the mount is given');
  const pasted = paste(`limbo deleted --mount ${mountPath}`, '--json');
  assert.equal(pasted.code, 0, pasted.stderr);
  const listed = JSON.parse(pasted.stdout) as DeletedJson;
  assert.deepEqual(
    listed.files.map((f) => `${f.dev}:${f.inode}`),
    [`${truth.dev}:${truth.inode}`],
  );
}

before(async () => {
  if (skip) return;
  root = mkdtempSync(join(tmpdir(), 'limbo-chroot-'));
  outside = mkdtempSync(join(tmpdir(), 'limbo-chroot-outside-'));
  mkdirSync(join(root, 'data'));
  mkdirSync(join(outside, 'out'));
  const built = spawnSync(
    'cc',
    ['-O2', '-static', '-pthread', '-o', join(root, 'holder'), `${repoRoot}test/fixtures/holder.c`, '-ldl'],
    { encoding: 'utf8' },
  );
  if (built.status !== 0) {
    skip = `cannot link the holder statically: ${built.stderr.trim().split('\n').pop() ?? ''}`;
    return;
  }
  // unshare without --fork execs sh, which execs chroot, which execs the holder: one pid, seen first.
  const first = await startHolder('unshare', [
    '--mount',
    '--propagation',
    'private',
    'sh',
    '-c',
    `mount -t tmpfs chroot-data ${root}/data && mount -t tmpfs chroot-out ${outside}/out && ` +
      `exec chroot ${root} /holder create /data/in.bin 1048576 unlink /data/in.bin`,
  ]);
  chrooted = first.pid as number;
  namespace = readlinkSync(`/proc/${chrooted}/ns/mnt`);
  inChroot = kernelStat(`/proc/${chrooted}/fd/3`);
});

after(() => {
  for (const child of started.reverse()) child.kill('SIGKILL'); // the namespace and its tmpfs go with the last
  if (root) rmSync(root, { recursive: true, force: true });
  if (outside) rmSync(outside, { recursive: true, force: true });
});

describe('one mount namespace, a chrooted process seen first and one at its root', () => {
  it(
    'with only the chrooted one: its mount in the words of the fd links, pasteable through its root',
    { skip },
    () => {
      // What the kernel shows that process: its root, and its tmpfs at /data, relative to it.
      assert.equal(readlinkSync(`/proc/${chrooted}/root`), root);
      const own = parseMountinfo(readFileSync(`/proc/${chrooted}/mountinfo`, 'latin1'));
      assert.equal(own.find((m) => m.dev === inChroot.dev)?.mountPoint, '/data');

      const { file, holder } = fileHeldBy(deleted(['--pid', String(chrooted)]), inChroot, chrooted);
      assert.equal(file.path, `${root}/data/in.bin`); // the fd link, from the namespace's root
      assert.equal(file.mount, `${root}/data`);
      assert.equal(file.fstype, 'tmpfs');
      assert.equal(file.mountNamespace, namespace);
      assert.equal(file.mountPath, `/proc/${chrooted}/root/data`);
      assert.equal(holder.pathInRoot, '/data/in.bin');
      assertPasteListsOnly(file.mountPath, inChroot);
    },
  );

  it('with one at the namespace root seen second: both files placed and pasteable', { skip }, async () => {
    // nsenter --mount: setns puts it at the namespace's root (not the chroot), after the chrooted one.
    const second = await startHolder('nsenter', [
      `--mount=/proc/${chrooted}/ns/mnt`,
      `${root}/holder`,
      'create',
      `${outside}/out/out.bin`,
      '1048576',
      'unlink',
      `${outside}/out/out.bin`,
    ]);
    unchrooted = second.pid as number;
    assert.ok(chrooted < unchrooted, 'the chrooted process is seen first');
    assert.equal(readlinkSync(`/proc/${unchrooted}/ns/mnt`), namespace);
    assert.equal(readlinkSync(`/proc/${unchrooted}/root`), '/');
    outOfChroot = kernelStat(`/proc/${unchrooted}/fd/3`);
    // The chrooted process's mountinfo does not list the tmpfs outside its root at all.
    const chrootView = parseMountinfo(readFileSync(`/proc/${chrooted}/mountinfo`, 'latin1'));
    assert.equal(
      chrootView.find((m) => m.dev === outOfChroot.dev),
      undefined,
    );

    const report = deleted([]);
    const inside = fileHeldBy(report, inChroot, chrooted);
    assert.equal(inside.file.mount, `${root}/data`);
    assert.equal(inside.file.mountNamespace, namespace);
    assert.equal(inside.holder.pathInRoot, '/data/in.bin');
    assertPasteListsOnly(inside.file.mountPath, inChroot);

    const out = fileHeldBy(report, outOfChroot, unchrooted);
    assert.equal(out.file.path, `${outside}/out/out.bin`);
    assert.equal(out.file.mount, `${outside}/out`);
    assert.equal(out.file.fstype, 'tmpfs');
    assert.equal(out.file.mountNamespace, namespace);
    // Its mount id is the one the namespace's own table gives it.
    const full = parseMountinfo(readFileSync(`/proc/${unchrooted}/mountinfo`, 'latin1'));
    assert.equal(out.file.mountId, full.find((m) => m.dev === outOfChroot.dev)?.mountId);
    assert.equal(out.holder.pathInRoot, `${outside}/out/out.bin`);
    assert.equal(out.holder.root, '/');
    assertPasteListsOnly(out.file.mountPath, outOfChroot);

    // The table says where each is, from the host, in words the host can paste.
    const text = runLimbo(['deleted', '--pid', String(unchrooted)]);
    assert.equal(text.code, 0, text.stderr);
    assert.ok(text.stdout.includes(`from the host: ${out.file.mountPath}`), text.stdout);
  });
});
