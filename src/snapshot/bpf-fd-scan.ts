// The BPF scanner's side of a snapshot: choose it or say why not, then turn one run of the
// task_file iterator (native/scan.bpf.c) into the same per-table scans the /proc scanner makes.
// The kernel sends only the few fds whose file may be deleted; each of those is read through
// /proc exactly as the /proc scanner reads it (readCandidate), so both keep the same files under
// the same names. Each table's fd count is the st_size of its fd directory (Linux >= 6.2), or,
// on older kernels, the kernel's count of a record it sends for every fd.
import { LimboError } from '../core/errors.js';
import { getOrMake } from '../core/memo.js';
import {
  nativeAddon,
  nativeThreads,
  type BpfCandidate,
  type BpfFdScan,
  type NativeAddon,
} from '../native.js';
import { readListedCandidates, type FdCandidate, type FdTableScan, type SkipLink } from '../proc/fd-table.js';
import type { ReadResult } from '../proc/read.js';
import { bpfProblem, fdDirSizeCounts, type ScannerRequest, type StartedBpfScan } from './bpf-start.js';
import type { ScannerUsed } from './types.js';

export type BpfTables = Exclude<BpfFdScan, { error: string }>;

/**
 * Runs the BPF iterator when asked for and possible, and names the scanner that will read the fd
 * tables with its reason. `bpf` where BPF cannot run throws LimboError 'usage' with the reason;
 * `auto` falls back to /proc and says why.
 */
export function chooseScanner(
  request: ScannerRequest,
  procRoot: string,
  started: StartedBpfScan | null = null,
): { readonly used: ScannerUsed; readonly tables: BpfTables | null } {
  if (request === 'proc')
    return { used: { name: 'proc', reason: 'asked for (--scanner proc)' }, tables: null };
  let reason = bpfProblem(procRoot);
  const scan =
    reason === null
      ? nativeAddon()?.bpfScanFds?.(!fdDirSizeCounts(procRoot), started?.generation)
      : undefined;
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

/** Whether an early read's fds are the walk's whole list for its table, in its order. */
function sameFds(fds: readonly number[], candidates: readonly BpfCandidate[]): boolean {
  return fds.length === candidates.length && fds.every((fd, i) => fd === (candidates[i] as BpfCandidate).fd);
}

/** Candidate reads made while the kernel walked on, by table index: the fds read, and what that gave. */
export type EarlyReads = ReadonlyMap<
  number,
  { readonly fds: readonly number[]; readonly read: ReadResult<FdTableScan> }
>;

/**
 * Reads the candidates of the fd tables the walk `started` has gone past, batch by batch as the
 * kernel completes them, until the walk ends: the reads bpfTableScans would make after the walk,
 * made while waiting for it. `tables` and `skip` as bpfTableScans takes them. A table's
 * candidates come all at once, under the first task the kernel visited it by; a table listed
 * under another task is read by bpfTableScans. Empty where the addon cannot hand them out.
 */
export function readCandidatesDuringWalk(
  started: StartedBpfScan,
  tables: readonly { readonly dir: string; readonly tid: number }[],
  skip: SkipLink | null = null,
  addon: NativeAddon | null = nativeAddon(),
): EarlyReads {
  const early = new Map<number, { fds: number[]; read: ReadResult<FdTableScan> }>();
  if (!addon?.bpfTakeFdCandidates || !addon.readFdCandidates || (skip && !skip.rule)) return early;
  const tablesOfTid = new Map<number, number[]>();
  tables.forEach(({ tid }, i) => getOrMake(tablesOfTid, tid, () => []).push(i));
  for (;;) {
    const batch = addon.bpfTakeFdCandidates(started.generation);
    if (batch === null) return early;
    const fdsOf = new Map<number, number[]>();
    batch.tids.forEach((tid, i) => {
      for (const table of tablesOfTid.get(tid) ?? [])
        getOrMake(fdsOf, table, () => []).push(batch.fds[i] as number);
    });
    const indexes = [...fdsOf.keys()];
    const reads = readListedCandidates(
      indexes.map((i) => `${(tables[i] as { dir: string }).dir}/fd`),
      indexes.map((i) => fdsOf.get(i) as number[]),
      addon,
      skip && skipOfTables(skip, indexes, () => true),
      // The walk holds a core of its own meanwhile.
      Math.max(1, nativeThreads() - 1),
    );
    indexes.forEach((i, k) =>
      early.set(i, { fds: fdsOf.get(i) as number[], read: reads[k] as ReadResult<FdTableScan> }),
    );
  }
}

/**
 * `skip` for the tables `indexes` names, in that order: the rule narrowed to them, and each link
 * counted where it belongs, or only asked about for a table not `counted` (a read before counted it).
 */
function skipOfTables(
  skip: SkipLink,
  indexes: readonly number[],
  counted: (table: number) => boolean,
): SkipLink {
  const holds = skip.holds ?? skip;
  const ask = (i: number, target: Buffer): boolean => {
    const table = indexes[i] as number;
    return counted(table) ? skip(table, target) : holds(table, target);
  };
  return Object.assign(ask, {
    ...(skip.rule
      ? {
          rule: {
            groups: skip.rule.groups,
            groupOfDir: Int32Array.from(indexes, (i) => skip.rule?.groupOfDir[i] ?? -1),
          },
        }
      : {}),
    holds: (i: number, target: Buffer) => holds(indexes[i] as number, target),
  });
}

/**
 * The scans of `tables` (each a process's /proc/PID or task/TID directory with the task whose
 * fd table it shows), from one iterator run: that table's fd count (its fd directory's st_size,
 * or the kernel's count when it sent every fd) and its candidates read through /proc
 * (readListedCandidates: in the addon, on its threads, or by its JavaScript twin with `addon`
 * null), unless `early` read them while the kernel walked. A task the iterator sent nothing for
 * holds no candidate; with every fd sent, it holds no fds or has exited (its fd directory is
 * gone, as the /proc scanner would find it). A candidate `skip` names (on a mount that did not
 * answer) is not stat-ed, as in the /proc scanner.
 */
export function bpfTableScans(
  bpf: BpfTables,
  tables: readonly { readonly dir: string; readonly tid: number }[],
  skip: SkipLink | null = null,
  addon: NativeAddon | null = nativeAddon(),
  early: EarlyReads = new Map(),
): ReadResult<FdTableScan>[] {
  const byTid = new Map<number, number>();
  bpf.tids.forEach((tid, i) => byTid.set(tid, i));
  const byTable = new Map<bigint, BpfCandidate[]>();
  for (const candidate of bpf.candidates) getOrMake(byTable, candidate.files, () => []).push(candidate);
  const found = tables.map(({ tid }) => {
    const i = byTid.get(tid);
    return i === undefined ? [] : (byTable.get(bpf.files[i] as bigint) ?? []);
  });
  const reads: ReadResult<FdTableScan>[] = [];
  const unread: number[] = [];
  found.forEach((list, i) => {
    const before = early.get(i);
    if (before && sameFds(before.fds, list)) reads[i] = before.read;
    else unread.push(i);
  });
  // A table read early with other fds than the walk's whole list (never, while a table's
  // candidates come together) is read again, its skipped links not counted twice.
  const late = readListedCandidates(
    unread.map((i) => `${(tables[i] as { dir: string }).dir}/fd`),
    unread.map((i) => (found[i] as BpfCandidate[]).map((candidate) => candidate.fd)),
    addon,
    skip && skipOfTables(skip, unread, (i) => !early.has(i)),
  );
  unread.forEach((i, k) => (reads[i] = late[k] as ReadResult<FdTableScan>));
  return tables.map(({ tid }, table): ReadResult<FdTableScan> => {
    const i = byTid.get(tid);
    const counted = bpf.counts && i !== undefined ? (bpf.counts[i] as number) : null;
    const read = reads[table] as ReadResult<FdTableScan>;
    // Counted by the kernel, its links since gone: no fd left to read, as readCandidate finds.
    if (!read.ok)
      return counted === null ? read : { ok: true, value: { count: counted, unreadable: 0, candidates: [] } };
    const kernel = found[table] as BpfCandidate[];
    let k = 0;
    const candidates = read.value.candidates.map((candidate): FdCandidate => {
      // The reads keep the kernel's order, fewer of them: find this fd's record.
      while (k < kernel.length && (kernel[k] as BpfCandidate).fd !== candidate.fd) k++;
      const from = kernel[k];
      // The fd may have been closed and reused since: the kernel's flags and offset are this file's only.
      // Built field by field: a spread per candidate costs twice as much in this once-run code.
      return from !== undefined && candidate.stat.ino === from.ino
        ? {
            fd: candidate.fd,
            name: candidate.name,
            stat: candidate.stat,
            flags: from.flags,
            posBytes: from.posBytes,
          }
        : candidate;
    });
    return {
      ok: true,
      value: { count: counted ?? read.value.count, unreadable: read.value.unreadable, candidates },
    };
  });
}
