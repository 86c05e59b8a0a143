// The BPF scanner's side of a snapshot: choose it or say why not, then turn one run of the
// task_file iterator (native/scan.bpf.c) into the same per-table scans the /proc scanner makes.
// The kernel counts every fd and sends only the few whose file may be deleted; each of those is
// read through /proc exactly as the /proc scanner reads it (readCandidate), so both keep the
// same files under the same names.
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
  const scan = reason === null ? nativeAddon()?.bpfScanFds?.() : undefined;
  const tables = scan && !('error' in scan) ? scan : null;
  if (scan && 'error' in scan) reason = `the BPF program did not load or run: ${scan.error}`;
  if (tables) {
    const why =
      request === 'bpf' ? 'asked for (--scanner bpf)' : 'root, BTF present and the BPF program loaded';
    return { used: { name: 'bpf', reason: why }, tables };
  }
  if (request === 'bpf') throw new LimboError('usage', `--scanner bpf cannot run here: ${reason}`);
  return { used: { name: 'proc', reason: `BPF scanner unavailable: ${reason}` }, tables: null };
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
 * fd table it shows), from one iterator run: the kernel's fd count of that table and its
 * candidates read through /proc. A task the iterator never visited holds no fds, or has exited
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
    if (i === undefined) return unvisitedTable(dir);
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
    return { ok: true, value: { count: bpf.counts[i] as number, unreadable, candidates } };
  });
}

/** A table with no fd the iterator saw: empty, unless its directory says the task is gone. */
function unvisitedTable(dir: string): ReadResult<FdTableScan> {
  try {
    return { ok: true, value: { count: statSync(`${dir}/fd`).size, unreadable: 0, candidates: [] } };
  } catch (error) {
    return { ok: false, failure: classifyError(error) };
  }
}
