import type { ProcessRecord, Snapshot } from '../snapshot/types.js';
import { incompleteOf, type IncompleteView } from './incomplete.js';
import { containerMatches } from './deleted.js';
import { findContainer, type ContainerRuntime } from '../proc/cgroup.js';

/** Where the kernel's count of struct files comes from, line by line. */
export interface HandleLedger {
  /** /proc/sys/fs/file-nr "allocated": struct files the kernel has right now. */
  readonly allocated: number | null;
  /** fs.file-max: where open(2) fails with ENFILE system-wide. */
  readonly max: number | null;
  /** fs.nr_open: the ceiling for any process's RLIMIT_NOFILE. */
  readonly nrOpen: number | null;
  /** fd entries across all fd tables, each table counted once (readable without root). */
  readonly descriptors: number;
  /** Distinct open file descriptions behind the descriptors read: dups and inherited fds share one. */
  readonly openFiles: number;
  /** True when kcmp told every look-alike pair apart, or the kernel gave each fd's struct file; false: an estimate. */
  readonly openFilesExact: boolean;
  /**
   * Descriptors of processes whose links (or fd directory) were refused: counted from the fd
   * directory, what they hold unknown. At most one struct file each (dups share one).
   */
  readonly unreadableDescriptors: number;
  /** Struct files held only by memory mappings whose fd was closed. */
  readonly mappings: number;
  /** True when mappings and SysV shm attaches were counted by struct file in the kernel; false: estimates. */
  readonly mappingsExact: boolean;
  /** SysV shm: one struct file per segment... */
  readonly shmSegments: number;
  /** ...and one per shmat (a fork's copy or an mprotect split shares it). */
  readonly shmAttachments: number;
  /** allocated − openFiles − unreadableDescriptors − mappings − shm: kernel-internal files, fds in flight. */
  readonly unexplained: number | null;
  /** fds inside SCM_RIGHTS messages not yet received (unix sockets' scm_fds): part of `unexplained`. */
  readonly fdsInFlight: number | null;
}

/** One process's share of the ledger. Fields needing root are null when it could not be read. */
export interface ProcessHandleUse {
  readonly pid: number;
  /** Clock ticks since boot when it started: with the pid, its identity; null when unknown. */
  readonly startTicks: number | null;
  readonly comm: Buffer;
  readonly user: string;
  readonly unit: string | null;
  /** Its container id (or name), from its cgroup; null outside any container. */
  readonly container: string | null;
  /** Open descriptors (from stat of its fd directory when its fds could not be read). */
  readonly fds: number | null;
  readonly openFiles: number | null;
  readonly mappings: number | null;
  readonly shmAttachments: number | null;
  readonly limit: { readonly soft: number | null; readonly hard: number | null } | null;
  /** fds as a percentage of the soft limit; null when either is unknown or unlimited. */
  readonly limitUsedPercent: number | null;
}

export type HandleWarningKind = 'process-fd-limit' | 'system-file-max';

/** A limit close to being hit, as data; handles-words.ts says it in words, with the fix. */
export type HandleWarning =
  | {
      readonly kind: 'system-file-max';
      readonly pid: null;
      readonly allocated: number;
      readonly max: number;
    }
  | {
      readonly kind: 'process-fd-limit';
      readonly pid: number;
      readonly process: ProcessHandleUse;
    };

export interface HandleReport {
  readonly ledger: HandleLedger;
  /** Descriptors by what they refer to. */
  readonly byType: Readonly<Record<string, number>>;
  /** Socket descriptors by protocol. */
  readonly sockets: Readonly<Record<string, number>>;
  /** anon_inode descriptors by kind (eventfd, eventpoll, inotify, timerfd, signalfd, io_uring, pidfd, ...). */
  readonly anonInodes: Readonly<Record<string, number>>;
  /** Every process, most descriptors first. */
  readonly processes: readonly ProcessHandleUse[];
  readonly warnings: readonly HandleWarning[];
  readonly incomplete: IncompleteView;
  /** The container the list was narrowed to (`container` option): its full id or name, and its runtime. */
  readonly container?: { readonly id: string; readonly runtime: ContainerRuntime | null };
}

export interface HandleOptions {
  /** Warn at this share of a limit, in percent (default 80). */
  readonly warnPercent?: number;
  /**
   * Only this container's processes in the list and its warnings (its id, a unique hex prefix, or
   * its name): file-nr is the whole system's, so the ledger stays the whole system's.
   */
  readonly container?: string;
}

/** Explains file-nr from a snapshot taken with `handles: true`, and warns before EMFILE or ENFILE. */
export function explainHandles(snapshot: Snapshot, options: HandleOptions = {}): HandleReport {
  const warnPercent = options.warnPercent ?? 80;
  const system = snapshot.system;
  const byType: Record<string, number> = {};
  const sockets: Record<string, number> = {};
  const anonInodes: Record<string, number> = {};
  let descriptors = 0;
  let unreadableDescriptors = 0;
  let mappings = 0;
  const processes: ProcessHandleUse[] = [];
  for (const process of snapshot.processes) {
    const handles = process.handles;
    descriptors += process.fdCount ?? 0;
    unreadableDescriptors += process.unreadableDescriptors ?? 0;
    if (handles) {
      addInto(byType, handles.fdTypes);
      addInto(sockets, handles.socketProtocols);
      addInto(anonInodes, handles.anonInodes);
      mappings += handles.mappingFiles;
    }
    const { container } = options;
    if (
      container === undefined ||
      (process.container !== null && containerMatches(process.container, container))
    )
      processes.push(useOf(process));
  }
  processes.sort((a, b) => (b.fds ?? -1) - (a.fds ?? -1) || a.pid - b.pid);

  const segments = snapshot.shmSegments ?? [];
  const shmSegments = segments.length;
  // nattch counts mappings (forks and mprotect splits add to it, not to file-nr): prefer the scan's count.
  const shmAttachments = system?.shmAttachFiles ?? segments.reduce((sum, segment) => sum + segment.nattch, 0);
  const allocated = system?.fileNr?.allocated ?? null;
  const openFiles = system?.openFiles ?? 0; // the command refuses snapshots without handle counts
  const ledger: HandleLedger = {
    allocated,
    max: system?.fileNr?.max ?? null,
    nrOpen: system?.nrOpen ?? null,
    descriptors,
    openFiles,
    openFilesExact: system?.openFilesExact ?? false,
    unreadableDescriptors,
    mappings,
    mappingsExact: system?.mappingsExact ?? false,
    shmSegments,
    shmAttachments,
    unexplained:
      allocated === null
        ? null
        : allocated - openFiles - unreadableDescriptors - mappings - shmSegments - shmAttachments,
    fdsInFlight: system?.fdsInFlight ?? null,
  };
  return {
    ledger,
    byType,
    sockets,
    anonInodes,
    processes,
    warnings: warningsFor(ledger, processes, warnPercent),
    incomplete: incompleteOf(snapshot),
    ...containerOfList(snapshot, options.container),
  };
}

/** The container `given` names (the id of its first process that matches), for the list's title. */
function containerOfList(snapshot: Snapshot, given: string | undefined): Pick<HandleReport, 'container'> {
  if (given === undefined) return {};
  const process = snapshot.processes.find(
    (p) => p.container !== null && containerMatches(p.container, given),
  );
  if (!process?.container) return {};
  const identity = process.cgroup === null ? null : findContainer(process.cgroup);
  return { container: { id: process.container, runtime: identity?.runtime ?? null } };
}

function useOf(process: ProcessRecord): ProcessHandleUse {
  const handles = process.handles;
  const limit = process.fdLimit; // /proc/PID/limits is readable by anyone: warnings work without root
  const soft = limit?.soft ?? null;
  const fds = process.fdCount;
  return {
    pid: process.pid,
    startTicks: process.startTicks ?? null,
    comm: process.comm,
    user: process.user,
    unit: process.unit,
    container: process.container,
    fds,
    openFiles: handles?.openFiles ?? null,
    mappings: handles?.mappingFiles ?? null,
    shmAttachments: handles?.shmAttachments ?? null,
    limit,
    limitUsedPercent: fds !== null && soft ? Math.round((fds / soft) * 1000) / 10 : null,
  };
}

function warningsFor(
  ledger: HandleLedger,
  processes: readonly ProcessHandleUse[],
  percent: number,
): HandleWarning[] {
  const warnings: HandleWarning[] = [];
  if (ledger.allocated !== null && ledger.max !== null && ledger.allocated >= (ledger.max * percent) / 100) {
    warnings.push({ kind: 'system-file-max', pid: null, allocated: ledger.allocated, max: ledger.max });
  }
  for (const process of processes) {
    if (process.limitUsedPercent === null || process.limitUsedPercent < percent) continue;
    warnings.push({ kind: 'process-fd-limit', pid: process.pid, process });
  }
  return warnings;
}

function addInto(total: Record<string, number>, part: Readonly<Record<string, number>>): void {
  for (const [key, value] of Object.entries(part)) total[key] = (total[key] ?? 0) + value;
}
