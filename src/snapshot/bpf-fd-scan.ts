// The BPF scanner's side of a snapshot: choose it or say why not, then turn one run of the
// task_file iterator (native/scan.bpf.c) into the same per-table scans the /proc scanner makes.
// The kernel sends only the few fds whose file may be deleted; each of those is read through
// /proc exactly as the /proc scanner reads it (readCandidate), so both keep the same files under
// the same names. Each table's fd count is the st_size of its fd directory (Linux >= 6.2), or,
// on older kernels, the kernel's count of a record it sends for every fd.
import { existsSync, readlinkSync, statSync } from 'node:fs';
import { classifyError, LimboError } from '../core/errors.js';
import { nativeAddon, type BpfCandidate, type BpfFdScan } from '../native.js';
import { readCandidate, type FdCandidate, type FdTableScan, type SkipLink } from '../proc/fd-table.js';
import type { ReadResult } from '../proc/read.js';
import type { ScannerUsed } from './types.js';

/** What the caller asks for: a scanner by name, or `auto` (BPF where it works, else /proc). */
export type ScannerRequest = 'proc' | 'bpf' | 'auto';

export type BpfTables = Exclude<BpfFdScan, { error: string }>;

/**
 * Runs the BPF iterator when asked for and possible, and names the scanner that will read the fd
 * tables with its reason. `bpf` where BPF cannot run throws LimboError 'usage' with the reason;
 * `auto` falls back to /proc and says why.
 */
export function chooseScanner(
  request: ScannerRequest,
  procRoot: string,
): { readonly used: ScannerUsed; readonly tables: BpfTables | null } {
  if (request === 'proc')
    return { used: { name: 'proc', reason: 'asked for (--scanner proc)' }, tables: null };
  let reason = bpfProblem(procRoot);
  const scan = reason === null ? nativeAddon()?.bpfScanFds?.(!fdDirSizeCounts(procRoot)) : undefined;
  const tables = scan && !('error' in scan) ? scan : null;
  if (scan && 'error' in scan) reason = `the BPF program did not load or run: ${scan.error}`;
  if (tables) return { used: bpfChosen(request), tables };
  if (request === 'bpf') throw new LimboError('usage', `--scanner bpf cannot run here: ${reason}`);
  return { used: { name: 'proc', reason: `BPF scanner unavailable: ${reason}` }, tables: null };
}

/** The BPF scanner as chosen when its program ran: asked for, or `auto` where it works. */
export function bpfChosen(request: ScannerRequest): ScannerUsed {
  const reason =
    request === 'bpf' ? 'asked for (--scanner bpf)' : 'root, BTF present and the BPF program loaded';
  return { name: 'bpf', reason };
}

/** Why the BPF scanner cannot run here, or null when it may (whether its programs load is known only by running them). */
export function bpfProblem(procRoot: string): string | null {
  if (!nativeAddon()?.bpfScanFds)
    return 'limbo was built without it (clang, bpftool or libbpf-dev missing at install)';
  if (procRoot !== '/proc') return `it reads this kernel's tables, not ${procRoot}`;
  if (process.geteuid?.() !== 0) return 'not root';
  if (!existsSync('/sys/kernel/btf/vmlinux')) return 'the kernel has no BTF (/sys/kernel/btf/vmlinux)';
  if (!inInitialPidNamespace())
    return "limbo runs in a child pid namespace: the kernel's tids are not its pids";
  return null;
}

/**
 * Whether stat(2) of an fd directory counts its fds: Linux >= 6.2 gives st_size the number of
 * open fds (fs/proc/fd.c proc_fd_getattr, bitmap_weight of open_fds); older kernels give 0, and
 * the BPF program then sends a record per fd to count them. This process always holds fds.
 * LIMBO_BPF_EVERY_FD=1 takes the older kernels' way on any kernel, so a test can prove it.
 */
export function fdDirSizeCounts(procRoot: string): boolean {
  if (process.env.LIMBO_BPF_EVERY_FD === '1') return false;
  try {
    return statSync(`${procRoot}/self/fd`).size > 0;
  } catch {
    return false;
  }
}

/**
 * The initial pid namespace has a fixed inode (include/linux/proc_ns.h PROC_PID_INIT_INO). NSpid
 * cannot tell: under a /proc mounted for a child namespace (unshare --mount-proc) it lists only
 * that namespace's pid, one field, as in the initial one.
 */
const INITIAL_PID_NAMESPACE = 'pid:[4026531836]';

function inInitialPidNamespace(): boolean {
  try {
    return readlinkSync('/proc/self/ns/pid') === INITIAL_PID_NAMESPACE;
  } catch {
    return false;
  }
}

/**
 * The scans of `tables` (each a process's /proc/PID or task/TID directory with the task whose
 * fd table it shows), from one iterator run: that table's fd count (its fd directory's st_size,
 * or the kernel's count when it sent every fd) and its candidates read through /proc. A task the
 * iterator sent nothing for holds no candidate; with every fd sent, it holds no fds or has exited
 * (its fd directory is gone, as the /proc scanner would find it). A candidate `skip` names (on a
 * mount that did not answer) is not stat-ed, as in the /proc scanner.
 */
export function bpfTableScans(
  bpf: BpfTables,
  tables: readonly { readonly dir: string; readonly tid: number }[],
  skip: SkipLink | null = null,
): ReadResult<FdTableScan>[] {
  const byTid = new Map<number, number>();
  bpf.tids.forEach((tid, i) => byTid.set(tid, i));
  const byTable = new Map<bigint, BpfCandidate[]>();
  for (const candidate of bpf.candidates) {
    const list = byTable.get(candidate.files);
    if (list) list.push(candidate);
    else byTable.set(candidate.files, [candidate]);
  }
  return tables.map(({ dir, tid }, table): ReadResult<FdTableScan> => {
    const i = byTid.get(tid);
    const count = bpf.counts && i !== undefined ? (bpf.counts[i] as number) : countFds(dir);
    if (typeof count !== 'number') return count;
    if (i === undefined) return { ok: true, value: { count, unreadable: 0, candidates: [] } };
    const candidates: FdCandidate[] = [];
    let unreadable = 0;
    for (const found of byTable.get(bpf.files[i] as bigint) ?? []) {
      const read = readCandidate(`${dir}/fd`, found.fd, skip && ((target) => skip(table, target)));
      if (read === 'denied') unreadable++;
      // The fd may have been closed and reused since: the kernel's flags and offset are this file's only.
      else if (read !== null)
        candidates.push(
          read.stat.ino === found.ino ? { ...read, flags: found.flags, posBytes: found.posBytes } : read,
        );
    }
    return { ok: true, value: { count, unreadable, candidates } };
  });
}

/** A table's fd count from its fd directory's st_size, or why the task cannot be read (gone, denied). */
function countFds(dir: string): number | ReadResult<FdTableScan> {
  try {
    return statSync(`${dir}/fd`).size;
  } catch (error) {
    return { ok: false, failure: classifyError(error) };
  }
}
