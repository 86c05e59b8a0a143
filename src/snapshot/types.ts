import type { Mount } from '../proc/mountinfo.js';

/** A file seen through an fd or a mapping, one per (dev, inode). */
export interface FileRecord {
  /** "MAJ:MIN:INODE": the identity every analysis groups by. */
  readonly key: string;
  /** st_dev as "MAJ:MIN". */
  readonly dev: string;
  /** st_ino; a bigint because 64-bit filesystems can pass 2^53. */
  readonly ino: bigint;
  readonly nlink: number;
  readonly sizeBytes: number;
  /** st_blocks × 512. */
  readonly allocatedBytes: number;
  readonly mode: number;
}

/** A descriptor that refers to a candidate file. */
export interface HeldFd {
  readonly fd: number;
  /** Set when the fd was found only in task/TID/fd (main thread exited, or an unshared table). */
  readonly tid: number | null;
  readonly fileKey: string;
  /** The kernel's name for it without " (deleted)"; null when longer than PATH_MAX. */
  readonly name: Buffer | null;
}

/** A memory mapping of a candidate file. */
export interface HeldMapping {
  /** "start-end" as map_files names it. */
  readonly range: string;
  /** As maps prints them: "r-xp", "rw-s", ... */
  readonly perms: string;
  readonly fileKey: string;
  readonly name: Buffer;
  /** What the name resolves to now inside the process's root: a file key, or null for nothing there. */
  readonly nameNowKey: string | null;
}

/** The executable a process runs, recorded when its name carries " (deleted)". */
export interface DeletedExe {
  readonly fileKey: string;
  readonly name: Buffer;
  /** What the name resolves to now inside the process's root: a file key, or null for nothing there. */
  readonly nameNowKey: string | null;
}

/** One process as the scan saw it. */
export interface ProcessRecord {
  readonly pid: number;
  readonly ppid: number;
  readonly comm: Buffer;
  readonly uid: number;
  readonly user: string;
  readonly state: string;
  readonly threads: number;
  /** The mount namespace id ("mnt:[4026531841]"), or null when it could not be read. */
  readonly mountNamespace: string | null;
  readonly cgroup: string | null;
  readonly unit: string | null;
  readonly container: string | null;
  /** Open fds across its fd tables; null when not even the count could be read. */
  readonly fdCount: number | null;
  /** True when fd/ and maps could be read: what it holds is known. */
  readonly readable: boolean;
  readonly fds: readonly HeldFd[];
  readonly mappings: readonly HeldMapping[];
  /** Set when /proc/PID/exe names a deleted or replaced file (its text ends in " (deleted)"). */
  readonly deletedExe: DeletedExe | null;
}

/** The mount table as seen from one mount namespace. */
export interface MountNamespace {
  readonly id: string;
  readonly mounts: readonly Mount[];
}

/** What the scan could not see. */
export interface Incomplete {
  /** The uid the scan ran as: root sees everything a normal user cannot. */
  readonly scannerUid: number;
  /** Processes whose fds or maps were denied (run as root to see them). */
  readonly unreadableProcesses: number;
  readonly unreadablePids: readonly number[];
  /** Mappings whose backing file could not be stat-ed (map_files denied). */
  readonly unverifiedMappings: number;
}

/** Everything one scan of /proc found: plain data, written as JSON and read back unchanged. */
export interface Snapshot {
  readonly schema: 'limbo.snapshot/1';
  readonly takenAt: string;
  readonly hostname: string;
  readonly procRoot: string;
  /** The mount namespace limbo itself ran in. */
  readonly hostMountNamespace: string | null;
  readonly scanMilliseconds: number;
  readonly processes: readonly ProcessRecord[];
  readonly files: readonly FileRecord[];
  readonly mountNamespaces: readonly MountNamespace[];
  readonly incomplete: Incomplete;
}
