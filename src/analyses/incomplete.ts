import type { ScannerUsed, Snapshot, UnansweredMount, UnreadablePart } from '../snapshot/types.js';

/** A process limbo could not read, named: who, what was refused, how many descriptors it left unknown. */
export interface UnreadableProcess {
  readonly pid: number;
  readonly comm: Buffer;
  readonly user: string;
  /** What the kernel refused; empty for a snapshot older than this field. */
  readonly why: readonly UnreadablePart[];
  /** Its descriptors whose files are unknown (null when not even the fd count could be read). */
  readonly descriptors: number | null;
}

/** What a scan could not see, in the shape every command reports it (`incomplete` in each contract). */
export interface IncompleteView {
  readonly scannerUid: number;
  readonly unreadableProcesses: number;
  readonly unreadablePids: readonly number[];
  /** The unreadable processes, named, most unknown descriptors first. */
  readonly processes: readonly UnreadableProcess[];
  /** Processes that exited while the scan ran: dropped, not unread. */
  readonly vanishedProcesses: number;
  readonly unverifiedMappings: number;
  /** Who read the fd tables (absent in snapshots older than the choice): what the scan could see depends on it. */
  readonly scanner?: ScannerUsed;
  /** FUSE and network mounts that did not answer in time: skipped, nothing on them stat-ed. */
  readonly unansweredMounts: readonly UnansweredMount[];
}

/** The snapshot's `incomplete`, with each unreadable process named from the scan's own record. */
export function incompleteOf(snapshot: Snapshot): IncompleteView {
  const { incomplete } = snapshot;
  const unreadable = new Set(incomplete.unreadablePids);
  const processes = snapshot.processes
    .filter((p) => unreadable.has(p.pid))
    .map((p) => ({
      pid: p.pid,
      comm: p.comm,
      user: p.user,
      why: p.unreadable ?? [],
      descriptors: p.unreadableDescriptors ?? p.fdCount,
    }))
    .sort((a, b) => (b.descriptors ?? -1) - (a.descriptors ?? -1) || a.pid - b.pid);
  return {
    scannerUid: incomplete.scannerUid,
    unreadableProcesses: incomplete.unreadableProcesses,
    unreadablePids: incomplete.unreadablePids,
    processes,
    vanishedProcesses: incomplete.vanishedProcesses ?? 0,
    unverifiedMappings: incomplete.unverifiedMappings,
    ...(snapshot.scanner ? { scanner: snapshot.scanner } : {}),
    unansweredMounts: incomplete.unansweredMounts ?? [],
  };
}
