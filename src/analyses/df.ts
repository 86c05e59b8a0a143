import type { FilesystemMeasure } from '../walk/measure-filesystems.js';
import type { Snapshot } from '../snapshot/types.js';
import { upperMountOf } from '../proc/mountinfo.js';
import { DELETED_KINDS, findDeletedFiles, narrowDeletedFiles, type DeletedReport } from './deleted.js';
import { findFileHolders } from './holders.js';
import { releaseSteps, type ReleaseStep } from './programs.js';
import { incompleteOf, type IncompleteView } from './incomplete.js';

/** A process holding deleted files on one filesystem, with what closing them would free. */
export interface SpaceHolder {
  readonly pid: number;
  readonly comm: Buffer;
  readonly unit: string | null;
  readonly allocatedBytes: number;
  /** What closing its files would free: their blocks not shared with other files (unknown ones in full). */
  readonly reclaimableBytes: number;
  readonly files: number;
}

/** One filesystem's reconciliation of df and du, in bytes. */
export interface FilesystemReconciliation {
  /** The mount point, as its own mount namespace sees it. */
  readonly mount: string;
  /** The mount namespace of a mount private to another namespace (a container's); null for the host's. */
  readonly mountNamespace: string | null;
  /** Its mount id in that namespace's mountinfo. */
  readonly mountId: number;
  /** The path on the host it was measured at, and that --mount takes: the mount point, or /proc/PID/root/MOUNTPOINT. */
  readonly mountPath: string;
  readonly source: string;
  readonly fstype: string;
  readonly dev: string;
  readonly sizeBytes: number;
  readonly usedBytes: number;
  readonly availableBytes: number;
  readonly reservedBytes: number;
  /**
   * Deleted files still open or mapped, each inode once, by the blocks closing them frees: blocks
   * they share with other files (reflinks, snapshots) are left out, as du counts them under the
   * other names; a file whose split is unknown counts in full (heldByDeletedUnknownBytes).
   */
  readonly heldByDeletedBytes: number;
  readonly heldByDeletedFiles: number;
  /** Blocks of deleted files shared with other files: not in heldByDeletedBytes, and not freed by closing. */
  readonly heldByDeletedSharedBytes: number;
  /** The part of heldByDeletedBytes from files whose shared blocks are unknown: an upper bound. */
  readonly heldByDeletedUnknownBytes: number;
  /** What a du-style walk saw; null without a walk. */
  readonly visibleBytes: number | null;
  /** Files in directories other mounts cover; null when not looked at. */
  readonly hiddenUnderMountsBytes: number | null;
  /** The mount points that cover directories of this filesystem (where `hiddenUnderMountsBytes` lies). */
  readonly coveringMounts: readonly string[];
  /** used − visible − held − hidden: metadata, journal, what the walk could not read; null without a walk. */
  readonly unexplainedBytes: number | null;
  readonly walkErrors: number | null;
  readonly topHolders: readonly SpaceHolder[];
  /** What makes every holder of the biggest deleted file here let go: one step per process family. */
  readonly releaseSteps: readonly ReleaseStep[];
  /** Why hidden files were not looked at, when they were not. */
  readonly hiddenNote: string | null;
  /** Processes the scan could not read: deleted files they hold are in `unexplainedBytes`, not `heldByDeleted`. */
  readonly unreadableProcesses: number;
  /**
   * Files a FUSE or NFS client renamed to a hidden name when they were unlinked while open: a walk
   * sees them under that name (they are in visibleBytes, never in heldByDeletedBytes); closing
   * their holders frees them.
   */
  readonly sillyRenamedFiles: number;
  readonly sillyRenamedBytes: number;
  /**
   * Overlay mounts whose upper layer is on this filesystem: files written through them use its
   * blocks, and statfs on them answers with its numbers.
   */
  readonly overlays: readonly string[];
}

export interface DfReport {
  readonly filesystems: readonly FilesystemReconciliation[];
  readonly incomplete: IncompleteView;
}

/**
 * Reconciles each measured filesystem with the deleted files the snapshot holds on it. `deleted`
 * is findDeletedFiles(snapshot) when the caller has it already.
 */
export function reconcileFilesystems(
  snapshot: Snapshot,
  measures: readonly FilesystemMeasure[],
  deleted: DeletedReport = findDeletedFiles(snapshot),
): DfReport {
  return {
    filesystems: measures.map((measure) => reconcile(snapshot, measure, deleted)),
    incomplete: incompleteOf(snapshot),
  };
}

function reconcile(
  snapshot: Snapshot,
  measure: FilesystemMeasure,
  all: DeletedReport,
): FilesystemReconciliation {
  const { mount, space, walk, hiddenBytes } = measure;
  const filesystem = {
    dev: mount.dev,
    mountPoint: mount.mountPoint,
    ...(measure.mountNamespace ? { mountNamespace: measure.mountNamespace } : {}),
  };
  const onFilesystem = narrowDeletedFiles(all, { filesystem });
  // A silly-renamed file still has a name here: du counts it, so it is visible, not held.
  const silly = onFilesystem.files.filter((file) => file.kind === 'silly-renamed');
  const deleted =
    silly.length === 0
      ? onFilesystem
      : narrowDeletedFiles(onFilesystem, { kinds: DELETED_KINDS.filter((kind) => kind !== 'silly-renamed') });
  // The overlays of the mount table this filesystem was measured in (the host's, or a private mount's own).
  const tableMounts =
    snapshot.mountNamespaces.find((ns) => ns.id === (measure.mountNamespace ?? snapshot.hostMountNamespace))
      ?.mounts ?? [];
  const overlays = tableMounts
    .filter((m) => {
      const upper = upperMountOf(m, tableMounts);
      return upper !== null && upper.dev === mount.dev && upper.mountPoint === mount.mountPoint;
    })
    .map((m) => m.mountPoint);
  const holders = new Map<
    number,
    {
      pid: number;
      comm: Buffer;
      unit: string | null;
      allocatedBytes: number;
      reclaimableBytes: number;
      files: number;
    }
  >();
  for (const file of deleted.files) {
    for (const holder of file.holders) {
      const entry = holders.get(holder.pid) ?? {
        pid: holder.pid,
        comm: holder.comm,
        unit: holder.unit,
        allocatedBytes: 0,
        reclaimableBytes: 0,
        files: 0,
      };
      entry.allocatedBytes += file.allocatedBytes;
      entry.reclaimableBytes += file.reclaimableBytes ?? file.allocatedBytes;
      entry.files++;
      holders.set(holder.pid, entry);
    }
  }
  const topHolders = [...holders.values()]
    .sort(
      (a, b) =>
        b.reclaimableBytes - a.reclaimableBytes || b.allocatedBytes - a.allocatedBytes || a.pid - b.pid,
    )
    .slice(0, 5);
  const { allocatedBytes, reclaimableBytes, reclaimableUnknownBytes } = deleted.totals;
  const held = reclaimableBytes + reclaimableUnknownBytes;
  const biggest = deleted.files[0];
  const visible = walk?.visibleBytes ?? null;
  const unexplained = visible === null ? null : space.usedBytes - visible - held - (hiddenBytes ?? 0);
  return {
    mount: mount.mountPoint,
    mountNamespace: measure.mountNamespace ?? null,
    mountId: mount.mountId,
    mountPath: measure.at ?? mount.mountPoint,
    source: mount.source,
    fstype: mount.fstype,
    dev: mount.dev,
    sizeBytes: space.sizeBytes,
    usedBytes: space.usedBytes,
    availableBytes: space.availableBytes,
    reservedBytes: space.reservedBytes,
    heldByDeletedBytes: held,
    heldByDeletedFiles: deleted.totals.files,
    heldByDeletedSharedBytes: allocatedBytes - held,
    heldByDeletedUnknownBytes: reclaimableUnknownBytes,
    visibleBytes: visible,
    hiddenUnderMountsBytes: hiddenBytes,
    coveringMounts: measure.coveringMounts ?? [],
    unexplainedBytes: unexplained,
    walkErrors: walk?.errors ?? null,
    topHolders,
    releaseSteps: biggest ? releaseSteps(findFileHolders(snapshot, biggest.key), { name: biggest.name }) : [],
    hiddenNote: measure.hiddenNote,
    unreadableProcesses: snapshot.incomplete.unreadableProcesses,
    sillyRenamedFiles: silly.length,
    sillyRenamedBytes: silly.reduce((sum, file) => sum + file.allocatedBytes, 0),
    overlays,
  };
}
