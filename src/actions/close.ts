// limbo close: end a descriptor leak in a live process, through gdb. Plan (who the process is,
// what the fd refers to, who else keeps that file alive, what closing would give back) → act
// (gdb checks the fd is still that file while the process is stopped, then closes it) →
// verify (the fd is gone, and statfs says what came back). Nothing here prints or exits.
import { isRegularMode } from '../proc/file-mode.js';
import { statSync, type BigIntStats } from 'node:fs';
import { findDeletedFiles } from '../analyses/deleted.js';
import { formatDev } from '../proc/file-stat.js';
import { findMount, readMountinfo } from '../proc/mountinfo.js';
import { readLinkBytes, readProcText } from '../proc/read.js';
import { parseStatus } from '../proc/status.js';
import { stripDeletedSuffix } from '../proc/deleted-name.js';
import type { Snapshot } from '../snapshot/types.js';
import { findGdb, runGdbCall } from './gdb.js';
import { bornNs, errorCode, rebornReason } from './held-file.js';
import { findHolders, type FileHolder } from './holders.js';
import { SpaceMeter, type FilesystemChange } from './space-meter.js';
import { describeUnansweredTarget } from '../analyses/incomplete-words.js';
import { silentMountOf } from './mount-guard.js';

export interface CloseRequest {
  readonly pid: number;
  readonly fd: number;
  /** `close` (default), or `devnull`: point the fd at /dev/null, so its number stays taken. */
  readonly how?: 'close' | 'devnull';
}

export interface CloseOptions {
  /** The /proc of the target. Default "/proc". */
  readonly procRoot?: string;
  /** gdb to run; undefined: look it up on PATH; null: there is none. */
  readonly gdb?: string | null;
  /** How long a FUSE or network mount has to answer before the fd on it is refused. Default 5 s. */
  readonly mountTimeoutMs?: number;
}

/** What the fd refers to, when stat through its link works. */
export interface ClosedFile {
  /** "MAJ:MIN:INODE". */
  readonly key: string;
  readonly dev: string;
  readonly ino: bigint;
  readonly regular: boolean;
  readonly nlink: number;
  readonly sizeBytes: number;
  readonly allocatedBytes: number;
  /** A regular file with st_nlink 0. */
  readonly deleted: boolean;
  readonly mount: string | null;
  readonly fstype: string | null;
}

export type CloseVerdict = 'ready' | 'refused' | 'skipped';

export interface ClosePlan {
  readonly target: string;
  readonly pid: number;
  readonly fd: number;
  readonly how: 'close' | 'devnull';
  readonly comm: Buffer | null;
  /** The fd's link text without " (deleted)"; null when unreadable. */
  readonly name: Buffer | null;
  readonly file: ClosedFile | null;
  /** Raw st_dev, for the check gdb makes inside the stop. */
  readonly rawDev: bigint | null;
  /** Birth time (ns) when planned, null when the filesystem keeps none: part of the identity checked. */
  readonly bornNs: bigint | null;
  /** Other descriptors and mappings that keep the same deleted file alive (this process's included). */
  readonly otherHolders: readonly FileHolder[];
  /** What closing it gives back: its blocks when this fd is the file's last reference, else 0. */
  readonly expectedBytes: number;
  readonly verdict: CloseVerdict;
  readonly reason: string | null;
  readonly gdb: string | null;
  readonly procRoot: string;
  /** The mount point to measure free space through, seen from the process's root. */
  readonly measureAt: string | null;
  /** How long the fd's mount had to answer, when it is a FUSE or network mount; undefined: 5 s. */
  readonly mountTimeoutMs?: number;
}

export type CloseStatus = 'closed' | 'refused' | 'skipped' | 'failed';

export interface CloseResult extends Omit<ClosePlan, 'verdict' | 'reason'> {
  readonly status: CloseStatus;
  readonly reason: string | null;
  /** True when /proc/PID/fd/N is gone afterwards (or, with `devnull`, points at /dev/null). */
  readonly verified: boolean;
  /** What the fd number refers to afterwards: null when closed. */
  readonly nameAfter: Buffer | null;
  /** Free space around the close on the file's filesystem; null when not measured. */
  readonly filesystem: FilesystemChange | null;
}

const STANDARD_FDS = ['standard input', 'standard output', 'standard error'];

/** Judges whether the fd may be closed; reads /proc, changes nothing. */
export function planClose(request: CloseRequest, snapshot: Snapshot, options: CloseOptions = {}): ClosePlan {
  const procRoot = options.procRoot ?? snapshot.procRoot;
  const { pid, fd } = request;
  const how = request.how ?? 'close';
  const gdb = options.gdb === undefined ? findGdb() : options.gdb;
  const plan: ClosePlan = {
    target: `${pid}:${fd}`,
    pid,
    fd,
    how,
    comm: null,
    name: null,
    file: null,
    rawDev: null,
    bornNs: null,
    otherHolders: [],
    expectedBytes: 0,
    verdict: 'ready',
    reason: null,
    gdb,
    procRoot,
    measureAt: null,
    ...(options.mountTimeoutMs === undefined ? {} : { mountTimeoutMs: options.mountTimeoutMs }),
  };
  const refuse = (reason: string): ClosePlan => ({ ...plan, verdict: 'refused', reason });
  if (pid === 1)
    return refuse('pid 1 is init: if closing a descriptor confuses it, the whole system goes down');
  if (pid === process.pid) return refuse('that is limbo itself');
  const statusText = readProcText(`${procRoot}/${pid}/status`);
  const status = statusText.ok ? parseStatus(statusText.value) : null;
  if (!statusText.ok || status === null) {
    return { ...plan, verdict: 'skipped', reason: `no process ${pid} (it exited)` };
  }
  const comm = readProcText(`${procRoot}/${pid}/comm`);
  const described: ClosePlan = {
    ...plan,
    comm: comm.ok ? Buffer.from(comm.value.trimEnd(), 'latin1') : null,
  };
  const refuseNow = (reason: string): ClosePlan => ({ ...described, verdict: 'refused', reason });
  if (status.kernelThread) return refuseNow(`pid ${pid} is a kernel thread: it has no descriptors to close`);
  if (status.state === 'Z') return refuseNow(`pid ${pid} is a zombie: its descriptors are already closed`);
  // Its pending SIGSTOP would interrupt every step gdb takes, and gdb must not resume it.
  if (status.state === 'T') {
    return refuseNow(
      `pid ${pid} is stopped (SIGSTOP, or ctrl-Z in a shell): limbo acts only on a running process; continue it first (kill -CONT ${pid})`,
    );
  }
  const tracer = /^TracerPid:\s*(\d+)/m.exec(statusText.value);
  if (tracer && tracer[1] !== '0') {
    return refuseNow(
      `pid ${pid} is already traced by pid ${tracer[1]} (a debugger or strace): gdb cannot attach`,
    );
  }
  const link = `${procRoot}/${pid}/fd/${fd}`;
  const text = readLinkBytes(link);
  if (!text.ok) {
    return text.failure === 'gone'
      ? { ...described, verdict: 'skipped', reason: `pid ${pid} has no fd ${fd}` }
      : refuseNow(`cannot read fd ${fd} of pid ${pid}: ${text.failure} (run as root)`);
  }
  // A stat on a FUSE or network mount that does not answer would never return.
  const silent = silentMountOf(
    { kind: 'fd', pid, fd, tid: null },
    { procRoot, timeoutMs: options.mountTimeoutMs, known: snapshot.incomplete.unansweredMounts },
  );
  if (silent) return refuseNow(describeUnansweredTarget(`fd ${fd} of pid ${pid}`, silent));
  let st: BigIntStats;
  try {
    st = statSync(link, { bigint: true });
  } catch (error) {
    if (errorCode(error) === 'ENOENT')
      return { ...described, verdict: 'skipped', reason: `pid ${pid} has no fd ${fd}` };
    return refuseNow(`cannot stat fd ${fd} of pid ${pid}: ${errorCode(error)}`);
  }
  const rawDev = st.dev;
  const dev = formatDev(st.dev);
  const key = `${dev}:${st.ino}`;
  const regular = isRegularMode(st.mode);
  const listed = findDeletedFiles(snapshot).files.find((f) => f.key === key);
  const mount = regular ? placeMount(procRoot, pid, dev, stripDeletedSuffix(text.value)) : null;
  const measureAt = mount === null ? null : `${procRoot}/${pid}/root${mount.mountPoint}`;
  const file: ClosedFile = {
    key,
    dev,
    ino: st.ino,
    regular,
    nlink: Number(st.nlink),
    sizeBytes: Number(st.size),
    allocatedBytes: Number(st.blocks) * 512,
    deleted: regular && st.nlink === 0n,
    mount: listed?.mount ?? mount?.mountPoint ?? null,
    fstype: listed?.fstype ?? mount?.fstype ?? null,
  };
  const others = file.deleted ? otherHoldersOf(snapshot, file.key, procRoot, pid, fd) : [];
  const full: ClosePlan = {
    ...described,
    name: stripDeletedSuffix(text.value),
    file,
    rawDev,
    bornNs: bornNs(st),
    otherHolders: others,
    // Blocks shared with other files (reflinks, snapshots) stay in use; unknown: all of them.
    expectedBytes:
      file.deleted && others.length === 0 ? (listed?.reclaimableBytes ?? file.allocatedBytes) : 0,
    measureAt,
  };
  if (fd <= 2 && how === 'close') {
    return {
      ...full,
      verdict: 'refused',
      reason: `fd ${fd} is its ${STANDARD_FDS[fd]}: once closed, the next file it opens gets number ${fd}, and whatever it ${fd === 0 ? 'reads' : 'prints'} goes to that file; point it at /dev/null instead (--devnull)`,
    };
  }
  if (gdb === null) {
    return {
      ...full,
      verdict: 'refused',
      reason: `gdb is not installed: limbo closes a descriptor inside a running process through gdb (apt install gdb, dnf install gdb); or restart the process`,
    };
  }
  // Sockets, pipes and devices free no disk space when closed, but closing them may still end a leak.
  return full;
}

/** The plan as a result, changing nothing: what `--dry-run` shows ("skipped: dry run" when ready). */
export function previewClose(plan: ClosePlan): CloseResult {
  const { verdict, reason, ...rest } = plan;
  return {
    ...rest,
    status: verdict === 'ready' ? 'skipped' : verdict,
    reason: verdict === 'ready' ? 'dry run: would be closed' : reason,
    verified: false,
    nameAfter: null,
    filesystem: null,
  };
}

/** Closes (or redirects) the fd through gdb, then checks it is gone and measures what came back. */
export function closeDescriptor(plan: ClosePlan): CloseResult {
  if (plan.verdict !== 'ready' || plan.gdb === null || plan.file === null || plan.rawDev === null) {
    return previewClose(
      plan.verdict === 'ready' ? { ...plan, verdict: 'refused', reason: 'nothing to close' } : plan,
    );
  }
  const base: CloseResult = { ...previewClose(plan), status: 'failed', reason: null };
  // The plan may be minutes old (a person read it): check the fd is still that very file.
  const link = `${plan.procRoot}/${plan.pid}/fd/${plan.fd}`;
  const where = `fd ${plan.fd} of pid ${plan.pid}`;
  const silent = silentMountOf(
    { kind: 'fd', pid: plan.pid, fd: plan.fd, tid: null },
    { procRoot: plan.procRoot, timeoutMs: plan.mountTimeoutMs },
  );
  if (silent) return { ...base, status: 'refused', reason: describeUnansweredTarget(where, silent) };
  let now: BigIntStats;
  try {
    now = statSync(link, { bigint: true });
  } catch {
    return { ...base, status: 'skipped', reason: `pid ${plan.pid} has no fd ${plan.fd} any more` };
  }
  if (`${formatDev(now.dev)}:${now.ino}` !== plan.file.key) {
    return {
      ...base,
      status: 'refused',
      reason: `${where} now refers to another file: the number was reused; nothing was closed`,
    };
  }
  const reborn = rebornReason(now, plan.bornNs, where);
  if (reborn) return { ...base, status: 'refused', reason: reborn };
  const meter = new SpaceMeter();
  const measured = plan.file.deleted && plan.measureAt !== null;
  // The anchor is the mount point, never the file: a descriptor on the file would keep it alive.
  if (measured) meter.track(plan.file.dev, plan.file.mount, plan.file.fstype, plan.measureAt as string);
  const outcome = runGdbCall(plan.gdb, {
    pid: plan.pid,
    fd: plan.fd,
    dev: plan.rawDev,
    ino: plan.file.ino,
    bornSeconds: plan.bornNs === null ? null : plan.bornNs / 1_000_000_000n,
    how: plan.how,
    procRoot: plan.procRoot,
  });
  const filesystem = measured ? (meter.finish()[0] ?? null) : null;
  const withSpace = {
    ...base,
    filesystem: filesystem && { ...filesystem, expectedBytes: plan.expectedBytes },
  };
  switch (outcome.kind) {
    case 'changed':
      return {
        ...withSpace,
        status: 'refused',
        reason: `fd ${plan.fd} of pid ${plan.pid} no longer referred to ${plan.file.key} when gdb stopped the process: nothing was closed`,
      };
    case 'gdb-failed':
      return {
        ...withSpace,
        status: 'failed',
        reason: `gdb failed: ${outcome.reason ?? lastLines(outcome.output)}`,
      };
    case 'call-failed':
      return {
        ...withSpace,
        status: 'failed',
        reason: `${outcome.call} failed in the process: errno ${outcome.errno}`,
      };
    case 'done':
      break;
  }
  const after = readLinkBytes(link);
  const nameAfter = after.ok ? after.value : null;
  if (plan.how === 'devnull') {
    const verified = nameAfter?.toString() === '/dev/null';
    return {
      ...withSpace,
      status: verified ? 'closed' : 'failed',
      reason: verified
        ? null
        : `gdb reported success, but ${where} now reads ${nameAfter?.toString() ?? '(nothing)'}`,
      verified,
      nameAfter,
    };
  }
  // Gone, or already another file under the same number (the process opened one since): closed
  // either way. Only the same file still there is a failure.
  const same = sameFileAt(link, plan.file.key, plan.bornNs);
  return {
    ...withSpace,
    status: same ? 'failed' : 'closed',
    reason: same
      ? `gdb reported success, but ${where} still refers to ${plan.file.key}`
      : nameAfter === null
        ? null
        : `closed; the process has already opened another file under number ${plan.fd}`,
    verified: !same,
    nameAfter,
  };
}

/** True when `link` still leads to the file `key` (born at `born`, when known). */
function sameFileAt(link: string, key: string, born: bigint | null): boolean {
  try {
    const st = statSync(link, { bigint: true });
    return `${formatDev(st.dev)}:${st.ino}` === key && rebornReason(st, born, '') === null;
  } catch {
    return false;
  }
}

/** Everyone else keeping the file alive: other processes, and this process's other fds and mappings. */
function otherHoldersOf(
  snapshot: Snapshot,
  key: string,
  procRoot: string,
  pid: number,
  fd: number,
): FileHolder[] {
  return findHolders(snapshot, key, procRoot)
    .map((holder) =>
      holder.pid === pid ? { ...holder, fds: holder.fds.filter((f) => f.fd !== fd) } : holder,
    )
    .filter((holder) => holder.fds.length > 0 || holder.mappings.length > 0);
}

function placeMount(procRoot: string, pid: number, dev: string, name: Buffer) {
  const mounts = readMountinfo(procRoot, pid);
  return mounts.ok ? findMount(mounts.value, dev, name.toString('utf8')) : null;
}

function lastLines(output: string): string {
  return output.trim().split('\n').slice(-3).join(' / ') || 'no output';
}
