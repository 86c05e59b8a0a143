import type { Mount } from '../proc/mountinfo.js';
import { formatKey, shmStatus, type ShmStatus } from '../proc/sysvipc-shm.js';
import type { ProcessRecord, Snapshot } from '../snapshot/types.js';
import { incompleteOf, type IncompleteView } from './incomplete.js';
import { findDeletedFiles, narrowDeletedFiles, type DeletedFile, type DeletedReport } from './deleted.js';

export { SHM_STATUSES } from './choices.js';

/** A live process and how many of its mappings (VMAs) attach one segment: its share of nattch. */
export interface ShmAttachment {
  readonly pid: number;
  readonly comm: Buffer;
  readonly user: string;
  readonly uid: number;
  /** Its maps entries for the segment. The kernel counts VMAs: one shmat split by mprotect counts 3. */
  readonly count: number;
}

/** A pid the table names (creator, last attach/detach), with its command when it is alive in the snapshot. */
export interface ShmPidRef {
  readonly pid: number;
  /**
   * Null when no such process was alive at the scan (gone, or a zombie). A live one may also be a
   * newer process that reused the pid.
   */
  readonly comm: Buffer | null;
}

/** One SysV segment, with what the kernel's table says and who has it attached. */
export interface SharedSegment {
  readonly shmid: number;
  /** As ipcs shows it: "0x%08x"; 0x00000000 for IPC_PRIVATE and for any removed segment. */
  readonly keyHex: string;
  /**
   * The key it was created with, read from an attacher's maps name (/SYSV%08x), which keeps it
   * after IPC_RMID zeroes the table's key; null when no attacher was seen.
   */
  readonly originalKeyHex: string | null;
  readonly status: ShmStatus;
  readonly sizeBytes: number;
  /** Resident pages, in bytes: the RAM it holds now. */
  readonly rssBytes: number;
  readonly swapBytes: number;
  /** The kernel's attach count: VMAs across every process. */
  readonly nattch: number;
  /** Permission bits (mode & 0o777). */
  readonly perms: number;
  /** SHM_LOCKED: kept out of swap. */
  readonly locked: boolean;
  readonly uid: number;
  /** The owner's user name, or the uid as text when it has none. */
  readonly owner: string;
  readonly gid: number;
  readonly cuid: number;
  readonly creator: ShmPidRef | null;
  readonly lastUser: ShmPidRef | null;
  /** Unix seconds; null = never. */
  readonly attachTime: number | null;
  readonly detachTime: number | null;
  /** Creation, or the last IPC_SET (IPC_RMID leaves it). */
  readonly changeTime: number | null;
  readonly attachments: readonly ShmAttachment[];
  /** nattch minus the attaches found in readable processes' maps (0 when all were found). */
  readonly unseenAttaches: number;
}

/** Mappings of a segment that is not in this table: another IPC namespace's (a container's). */
export interface UnmatchedShmAttachment {
  readonly pid: number;
  readonly comm: Buffer;
  readonly shmid: number;
  /** The key in its maps name; "0x00000000" for IPC_PRIVATE. */
  readonly keyHex: string;
  readonly count: number;
}

export interface ShmStatusTotal {
  readonly segments: number;
  readonly sizeBytes: number;
  readonly rssBytes: number;
  readonly swapBytes: number;
}

export interface ShmTotals extends ShmStatusTotal {
  readonly byStatus: Readonly<Record<ShmStatus, ShmStatusTotal>>;
}

/** One file in /dev/shm. */
export interface PosixShmFile {
  /** The name under /dev/shm (shm_open's name without its "/"); raw bytes. */
  readonly name: Buffer;
  readonly uid: number;
  readonly owner: string;
  readonly sizeBytes: number;
  readonly allocatedBytes: number;
}

/** POSIX shared memory: the files in /dev/shm, and the deleted ones still open there. */
export interface PosixShmSummary {
  /** False when /dev/shm could not be listed; its counts are then 0. */
  readonly readable: boolean;
  /** The /dev/shm mount in limbo's own mount namespace; null when there is none. */
  readonly mount: Mount | null;
  readonly files: number;
  readonly sizeBytes: number;
  readonly allocatedBytes: number;
  /** The biggest files by allocated bytes. */
  readonly biggest: readonly PosixShmFile[];
  /** Files on that mount unlinked (shm_unlink) while still open or mapped: RAM with no name. */
  readonly deleted: readonly DeletedFile[];
  readonly deletedSizeBytes: number;
  readonly deletedAllocatedBytes: number;
}

export interface ShmReport {
  /** False when /proc/sysvipc/shm could not be read: `segments` is then empty for want of data. */
  readonly sysvReadable: boolean;
  readonly segments: readonly SharedSegment[];
  readonly totals: ShmTotals;
  readonly unmatched: readonly UnmatchedShmAttachment[];
  readonly posix: PosixShmSummary;
  readonly incomplete: IncompleteView;
}

export interface ShmOptions {
  /**
   * uid → user name for owners no scanned process names (a segment's owner may run nothing).
   * Names the snapshot's own processes carry win: they were resolved on the scanned machine.
   */
  readonly users?: ReadonlyMap<number, string>;
  /** Keep only segments in this state; totals then cover just those. */
  readonly status?: ShmStatus;
  /** How many /dev/shm files to list as the biggest. Default 5. */
  readonly biggest?: number;
  /** findDeletedFiles(snapshot), when the caller has it already. */
  readonly deleted?: DeletedReport;
}

const STATUS_RANK: Record<ShmStatus, number> = { orphaned: 0, 'removed-attached': 1, attached: 2 };
const SYSV_PREFIX = '/SYSV';

/**
 * Every SysV segment with its state and attachers, and a summary of POSIX shm beside it.
 * Attachers come from maps: the kernel names each attach "/SYSV<key> (deleted)" with the
 * shmid as its inode, and counts every such VMA in nattch.
 */
export function findSharedMemory(snapshot: Snapshot, options: ShmOptions = {}): ShmReport {
  const nameOf = userNamer(snapshot.processes, options.users);
  const byPid = new Map(snapshot.processes.map((p) => [p.pid, p]));
  const table = snapshot.shmSegments ?? [];
  const byShmid = new Map(table.map((s) => [s.shmid, s]));

  // shmid → pid → its attachment, and the original key read from the maps names.
  const attaches = new Map<number, Map<number, ShmAttachment>>();
  const mappedKeys = new Map<number, string>();
  const unmatched = new Map<string, UnmatchedShmAttachment>();
  for (const process of snapshot.processes) {
    for (const mapping of process.mappings) {
      const attach = parseSysvMapping(mapping.name, mapping.fileKey);
      if (!attach) continue;
      const segment = byShmid.get(attach.shmid);
      // A shmid is only unique within one IPC namespace: a container's segment 0 is not ours.
      // Its maps name keeps the creation key, which our table still shows unless IPC_RMID zeroed it.
      if (segment && (segment.removed || segment.keyHex === attach.keyHex)) {
        const perPid = attaches.get(attach.shmid) ?? new Map<number, ShmAttachment>();
        const { pid, comm, user, uid } = process;
        perPid.set(pid, { pid, comm, user, uid, count: (perPid.get(pid)?.count ?? 0) + 1 });
        attaches.set(attach.shmid, perPid);
        mappedKeys.set(attach.shmid, attach.keyHex);
        continue;
      }
      const id = `${process.pid}:${attach.shmid}:${attach.keyHex}`;
      const seen = unmatched.get(id);
      unmatched.set(id, {
        pid: process.pid,
        comm: process.comm,
        shmid: attach.shmid,
        keyHex: attach.keyHex,
        count: (seen?.count ?? 0) + 1,
      });
    }
  }

  const pidRef = (pid: number): ShmPidRef | null => {
    if (pid === 0) return null;
    const process = byPid.get(pid);
    // A zombie has exited (its attaches are gone); state Z with live threads is a process whose main thread exited.
    const alive = process !== undefined && !(process.state === 'Z' && process.threads <= 1);
    return { pid, comm: alive ? process.comm : null };
  };
  const segments: SharedSegment[] = table
    .map((s): SharedSegment => {
      const attachments = [...(attaches.get(s.shmid)?.values() ?? [])].sort((a, b) => a.pid - b.pid);
      const found = attachments.reduce((sum, a) => sum + a.count, 0);
      return {
        shmid: s.shmid,
        keyHex: s.keyHex,
        originalKeyHex: mappedKeys.get(s.shmid) ?? null,
        status: shmStatus(s),
        sizeBytes: s.sizeBytes,
        rssBytes: s.rssBytes,
        swapBytes: s.swapBytes,
        nattch: s.nattch,
        perms: s.perms,
        locked: s.locked,
        uid: s.uid,
        owner: nameOf(s.uid),
        gid: s.gid,
        cuid: s.cuid,
        creator: pidRef(s.cpid),
        lastUser: pidRef(s.lpid),
        attachTime: s.atime || null,
        detachTime: s.dtime || null,
        changeTime: s.ctime || null,
        attachments,
        unseenAttaches: Math.max(0, s.nattch - found),
      };
    })
    .filter((s) => options.status === undefined || s.status === options.status)
    .sort(
      (a, b) =>
        STATUS_RANK[a.status] - STATUS_RANK[b.status] ||
        b.rssBytes + b.swapBytes - (a.rssBytes + a.swapBytes) ||
        a.shmid - b.shmid,
    );

  return {
    sysvReadable: snapshot.shmSegments !== null,
    segments,
    totals: sumTotals(segments),
    unmatched: [...unmatched.values()].sort((a, b) => a.pid - b.pid || a.shmid - b.shmid),
    posix: summarisePosix(snapshot, nameOf, options.biggest ?? 5, options.deleted),
    incomplete: incompleteOf(snapshot),
  };
}

/**
 * The shmid and creation key of a SysV attach from its maps entry: the name is "/SYSV%08x"
 * (the scan has stripped " (deleted)") and the inode, the last part of the file key, is the shmid.
 */
export function parseSysvMapping(name: Buffer, fileKey: string): { shmid: number; keyHex: string } | null {
  const text = name.toString('latin1');
  if (!text.startsWith(SYSV_PREFIX)) return null;
  const hex = text.slice(SYSV_PREFIX.length);
  const inode = fileKey.slice(fileKey.lastIndexOf(':') + 1);
  if (!/^[0-9a-f]{8}$/.test(hex) || !/^\d+$/.test(inode)) return null;
  return { shmid: Number(inode), keyHex: formatKey(parseInt(hex, 16)) };
}

/**
 * The mount a process sees at `mountPoint`: when several are stacked there (mounted over one
 * another), the top one, whose id no other mount at that point has as parent.
 */
export function topMountAt(mounts: readonly Mount[], mountPoint: string): Mount | null {
  const here = mounts.filter((m) => m.mountPoint === mountPoint);
  const parents = new Set(here.map((m) => m.parentId));
  return here.find((m) => !parents.has(m.mountId)) ?? here[here.length - 1] ?? null;
}

function userNamer(
  processes: readonly ProcessRecord[],
  users: ReadonlyMap<number, string> | undefined,
): (uid: number) => string {
  const known = new Map<number, string>();
  for (const p of processes) if (p.user !== String(p.uid)) known.set(p.uid, p.user);
  return (uid) => known.get(uid) ?? users?.get(uid) ?? String(uid);
}

function sumTotals(segments: readonly SharedSegment[]): ShmTotals {
  const zero = (): ShmStatusTotal => ({ segments: 0, sizeBytes: 0, rssBytes: 0, swapBytes: 0 });
  const add = (total: ShmStatusTotal, s: SharedSegment): ShmStatusTotal => ({
    segments: total.segments + 1,
    sizeBytes: total.sizeBytes + s.sizeBytes,
    rssBytes: total.rssBytes + s.rssBytes,
    swapBytes: total.swapBytes + s.swapBytes,
  });
  const byStatus: Record<ShmStatus, ShmStatusTotal> = {
    attached: zero(),
    orphaned: zero(),
    'removed-attached': zero(),
  };
  let all = zero();
  for (const s of segments) {
    byStatus[s.status] = add(byStatus[s.status], s);
    all = add(all, s);
  }
  return { ...all, byStatus };
}

function summarisePosix(
  snapshot: Snapshot,
  nameOf: (uid: number) => string,
  biggest: number,
  all: DeletedReport | undefined,
): PosixShmSummary {
  const hostMounts =
    snapshot.mountNamespaces.find((ns) => ns.id === snapshot.hostMountNamespace)?.mounts ?? [];
  const mount = topMountAt(hostMounts, '/dev/shm');
  const objects = snapshot.posixShm ?? [];
  const deleted = mount ? narrowDeletedFiles(all ?? findDeletedFiles(snapshot), { dev: mount.dev }) : null;
  return {
    readable: snapshot.posixShm !== null,
    mount,
    files: objects.length,
    sizeBytes: objects.reduce((sum, o) => sum + o.sizeBytes, 0),
    allocatedBytes: objects.reduce((sum, o) => sum + o.allocatedBytes, 0),
    biggest: [...objects]
      .sort(
        (a, b) =>
          b.allocatedBytes - a.allocatedBytes || b.sizeBytes - a.sizeBytes || Buffer.compare(a.name, b.name),
      )
      .slice(0, biggest)
      .map((o) => ({ ...o, owner: nameOf(o.uid) })),
    deleted: deleted?.files ?? [],
    deletedSizeBytes: deleted?.totals.sizeBytes ?? 0,
    deletedAllocatedBytes: deleted?.totals.allocatedBytes ?? 0,
  };
}
