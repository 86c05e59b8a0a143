import type { ExtentSharing } from '../proc/extent-sharing.js';
import type { Mount } from '../proc/mountinfo.js';
import type { UnansweredMount } from '../proc/silent-mounts.js';
import type { PosixShmObject } from '../proc/posix-shm.js';
import type { ShmSegment } from '../proc/sysvipc-shm.js';

export type { UnansweredMount };

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
  /**
   * FIEMAP's answer for a deleted regular file on a filesystem that can share extents (XFS,
   * btrfs, ...); absent elsewhere, and in snapshots taken before limbo read it.
   */
  readonly extentSharing?: ExtentSharing;
  /**
   * FUSE: the `.fuse_hidden…` name libfuse gave this file when it was unlinked while open, as its
   * first holder sees it, found beside its deleted name with the same (dev, ino). The holder's fd
   * still reads the old name with " (deleted)", and nlink reads 0 or 1 with the attribute cache.
   */
  readonly sillyName?: Buffer;
  /** What statfs calls the filesystem of a deleted file on a device no mount shows: a POSIX message queue. */
  readonly statfsType?: 'mqueue';
}

/** A descriptor that refers to a candidate file. */
export interface HeldFd {
  readonly fd: number;
  /** Set when the fd was found only in task/TID/fd (main thread exited, or an unshared table). */
  readonly tid: number | null;
  readonly fileKey: string;
  /** The kernel's name for it without " (deleted)"; null when longer than PATH_MAX. */
  readonly name: Buffer | null;
  /** open(2) flags from fdinfo (access mode, O_APPEND, ...); null when unreadable, absent in older snapshots. */
  readonly flags?: number | null;
  /** The file offset from fdinfo (`pos`), in bytes; null when unreadable, absent in older snapshots. */
  readonly posBytes?: number | null;
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

/**
 * What the kernel refused about a process: its fd directory (another user's process without
 * root), the links of fds it lists (a hardened or more privileged process), or its maps.
 */
export type UnreadablePart = 'fd-directory' | 'fd-links' | 'maps';

/** One process as the scan saw it. */
export interface ProcessRecord {
  readonly pid: number;
  readonly ppid: number;
  readonly comm: Buffer;
  /**
   * When it started, in clock ticks since boot (/proc/PID/stat field 22): with the pid, the
   * identity of a process, which a reused pid does not share. null when unreadable, absent in
   * older snapshots.
   */
  readonly startTicks?: number | null;
  readonly uid: number;
  readonly user: string;
  readonly state: string;
  readonly threads: number;
  /** The mount namespace id ("mnt:[4026531841]"), or null when it could not be read. */
  readonly mountNamespace: string | null;
  readonly cgroup: string | null;
  readonly unit: string | null;
  readonly container: string | null;
  /**
   * Its root directory (readlink /proc/PID/root, as limbo sees it): a chroot's or a container's
   * root; "/" also when the root is out of limbo's sight (after pivot_root in another mount
   * namespace). null when unreadable, absent in older snapshots.
   */
  readonly root?: string | null;
  /** Its pid inside its own pid namespace (the last NSpid of status); null when unreadable, absent in older snapshots. */
  readonly nsPid?: number | null;
  /**
   * Its arguments (/proc/PID/cmdline), recorded only for an LXC monitor (a process in an
   * `lxc.monitor.NAME` cgroup): "[lxc monitor] LXCPATH NAME", or `lxc-start`'s own argv, tells
   * LXC, LXD and Incus apart. Absent for every other process, and in older snapshots.
   */
  readonly cmdline?: readonly Buffer[];
  /**
   * Its executable's identity ("MAJ:MIN:INODE" of /proc/PID/exe): a worker forked from its master
   * runs the same one. null when unreadable, absent in older snapshots.
   */
  readonly exeKey?: string | null;
  /** Open fds across its fd tables; null when not even the count could be read. */
  readonly fdCount: number | null;
  /** True when fd/ and maps could be read: what it holds is known. */
  readonly readable: boolean;
  /** What was refused when `readable` is false (absent in old snapshots). */
  readonly unreadable?: readonly UnreadablePart[];
  /** Descriptors counted whose files are unknown: links refused, or the whole fd directory (absent in old snapshots). */
  readonly unreadableDescriptors?: number;
  readonly fds: readonly HeldFd[];
  readonly mappings: readonly HeldMapping[];
  /** Set when /proc/PID/exe names a deleted or replaced file (its text ends in " (deleted)"). */
  readonly deletedExe: DeletedExe | null;
  /** RLIMIT_NOFILE from /proc/PID/limits (null values: unlimited); null when unreadable. */
  readonly fdLimit: { readonly soft: number | null; readonly hard: number | null } | null;
  /** Its file handles; null unless the snapshot was taken with `handles: true`, or when unreadable. */
  readonly handles: ProcessHandles | null;
}

/** The mount table as seen from one mount namespace. */
export interface MountNamespace {
  readonly id: string;
  readonly mounts: readonly Mount[];
  /**
   * The process whose mountinfo was read: mount points are relative to its root, and
   * /proc/PID/root/MOUNTPOINT reaches them from the host. Absent in older snapshots.
   */
  readonly pid?: number;
  /**
   * The root of `pid` when no process at the namespace's own root was seen (every one chrooted):
   * its mountinfo showed only the mounts under it, relative to it; the mount points above have it
   * put back in front, as the namespace's fd links read. Absent when `pid`'s root is the namespace's.
   */
  readonly root?: string;
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
  /** Processes that exited while the scan ran: dropped, never counted as unread (absent in old snapshots). */
  readonly vanishedProcesses?: number;
  /** Mounts that did not answer statfs in time: nothing on them was stat-ed (absent in old snapshots). */
  readonly unansweredMounts?: readonly UnansweredMount[];
}

/** Which scanner read the fd tables, and why it was the one. */
export interface ScannerUsed {
  /** `proc`: every fd link read through /proc; `bpf`: the kernel's tables walked by BPF iterators. */
  readonly name: 'proc' | 'bpf';
  readonly reason: string;
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
  /** The scanner used (absent in snapshots taken before limbo had a choice: /proc). */
  readonly scanner?: ScannerUsed;
  readonly processes: readonly ProcessRecord[];
  readonly files: readonly FileRecord[];
  /**
   * False when the scan did not look for deleted files (SnapshotOptions.files, as `limbo handles`
   * scans): `files` and every process's fds, mappings and deletedExe are empty because they were
   * not read, not because nothing is deleted. Absent: they were collected.
   */
  readonly filesCollected?: boolean;
  readonly mountNamespaces: readonly MountNamespace[];
  readonly incomplete: Incomplete;
  /** System-wide handle facts (descriptions and fds in flight only with `handles: true`); null in old snapshots. */
  readonly system: SystemHandles | null;
  /** /proc/sysvipc/shm, when readable. */
  readonly shmSegments: readonly ShmSegment[] | null;
  /** The files in /dev/shm (POSIX shm_open objects), when readable. */
  readonly posixShm: readonly PosixShmObject[] | null;
}

/** A process's file handles, counted when the snapshot was taken with `handles: true`. */
export interface ProcessHandles {
  /** Descriptors by what they refer to: regular, directory, device, pipe, socket, memfd, anon_inode, mqueue, nsfs, other. */
  readonly fdTypes: Readonly<Record<string, number>>;
  /** Socket descriptors by protocol: from the /proc/net tables of any namespace read, else from sockfs (addon); `other` unnamed. */
  readonly socketProtocols: Readonly<Record<string, number>>;
  /** anon_inode descriptors by kind: eventfd, eventpoll, inotify, timerfd, signalfd, io_uring, pidfd, ... */
  readonly anonInodes: Readonly<Record<string, number>>;
  /** Distinct open file descriptions behind its descriptors (dup'd fds and inherited ones share one). */
  readonly openFiles: number;
  /**
   * Struct files held only by its memory mappings (fd closed), not shared with its parent: exact
   * from the BPF scanner (a file several processes map counts for the lowest pid), else estimated.
   */
  readonly mappingFiles: number;
  /** SysV shm attaches: one struct file each. */
  readonly shmAttachments: number;
}

/** System-wide handle facts, read once per snapshot. */
export interface SystemHandles {
  /** /proc/sys/fs/file-nr: struct files allocated now, and fs.file-max. */
  readonly fileNr: { readonly allocated: number; readonly max: number } | null;
  /** fs.nr_open: the ceiling for any RLIMIT_NOFILE. */
  readonly nrOpen: number | null;
  /** Distinct open file descriptions behind every descriptor read; null unless counted (`handles: true`). */
  readonly openFiles: number | null;
  /**
   * True when every group of look-alike fds was told apart by kcmp(KCMP_FILE), or every fd's
   * struct file was read in the kernel (BPF scanner); false: an estimate.
   * A process that exited mid-scan is dropped from the groups and never makes them an estimate.
   */
  readonly openFilesExact: boolean;
  /**
   * True when mapping-only files and SysV shm attach files were counted by struct file in the
   * kernel (BPF scanner); false or absent: estimated from /proc/PID/maps.
   */
  readonly mappingsExact?: boolean;
  /** Sum of `scm_fds` over unix sockets: fds in flight in SCM_RIGHTS messages (null unread). */
  readonly fdsInFlight: number | null;
  /**
   * struct files made by shmat in the processes read: one per attach, not per mapping (an
   * mprotect split shares it) and not per fork (a child's copy shares its parent's). null unless
   * counted; nattch counts mappings, so it overstates this.
   */
  readonly shmAttachFiles?: number | null;
}
