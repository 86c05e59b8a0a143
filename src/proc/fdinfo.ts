import { parseSigned } from './kernel-text.js';
import { readProcText, type ReadResult } from './read.js';

/**
 * /proc/PID/fdinfo/N: the open file description behind one fd. Lines this does not name
 * (timerfd's clock, io_uring's rings, bpf maps' sizes, ...) are ignored: limbo has no use
 * for them, and they are the kernel's least stable text.
 */
export interface FdInfo {
  /** File offset, in bytes (`pos`); shared by every dup and fork of the description. */
  readonly pos: number;
  /** open(2) flags as a number (`flags`, printed in octal), O_CLOEXEC of this fd included. */
  readonly flags: number;
  /** Mount id (`mnt_id`), the first field of mountinfo; 0 for memfd. */
  readonly mntId: number;
  /**
   * Inode number (`ino`); every anon_inode fd (eventfd, epoll, inotify, ...) shows the same
   * shared anon inode. null on kernels before 5.14, which do not print it.
   */
  readonly ino: bigint | null;
  /** Locks held through this description: flock, OFD and this process's POSIX locks (`lock:` lines). */
  readonly locks: number;
  /** eventfd's `eventfd-id`; null for any other file. */
  readonly eventfdId: number | null;
  /**
   * pidfd's `Pid`: the target in the reader's pid namespace, 0 when it is outside it, -1 once
   * the target has been reaped; null for any other file.
   */
  readonly pidfdPid: number | null;
  /** A unix socket's `scm_fds`: fds sent to it over SCM_RIGHTS and not yet received, in fds; null for other files. */
  readonly scmFds: number | null;
  /**
   * Targets an epoll instance watches (`tfd:` lines). Like the counts below, 0 both for an empty
   * instance and for any other file: fdinfo cannot tell them apart, the fd link can.
   */
  readonly epollTargets: number;
  /** Watches of an inotify instance (`inotify wd:` lines). */
  readonly inotifyWatches: number;
  /** Marks of a fanotify group (`fanotify` lines other than the group's own `fanotify flags:`). */
  readonly fanotifyMarks: number;
}

/** Parses /proc/PID/fdinfo/N; null when pos, flags or mnt_id is missing or malformed. */
export function parseFdInfo(text: string): FdInfo | null {
  const fields = new Map<string, string>();
  let locks = 0;
  let epollTargets = 0;
  let inotifyWatches = 0;
  let fanotifyMarks = 0;
  for (const line of text.split('\n')) {
    // Counted lines start with a word and a space or a colon; look at them before key: value.
    if (line.startsWith('lock:\t')) locks++;
    else if (line.startsWith('tfd: ')) epollTargets++;
    else if (line.startsWith('inotify wd:')) inotifyWatches++;
    else if (line.startsWith('fanotify ') && !line.startsWith('fanotify flags:')) fanotifyMarks++;
    else {
      const colon = line.indexOf(':');
      // The first occurrence wins: the four common fields come first, before any extras.
      if (colon > 0 && !fields.has(line.slice(0, colon))) {
        fields.set(line.slice(0, colon), line.slice(colon + 1).trim());
      }
    }
  }
  const flags = fields.get('flags');
  const ino = fields.get('ino');
  const pos = parseSigned(fields.get('pos'));
  const mntId = parseSigned(fields.get('mnt_id'));
  if (pos === null || mntId === null) return null;
  if (flags === undefined || !/^0[0-7]*$/.test(flags)) return null;
  if (ino !== undefined && !/^\d+$/.test(ino)) return null;
  return {
    pos,
    flags: parseInt(flags, 8),
    mntId,
    ino: ino === undefined ? null : BigInt(ino),
    locks,
    eventfdId: parseSigned(fields.get('eventfd-id')),
    pidfdPid: parseSigned(fields.get('Pid')),
    scmFds: parseSigned(fields.get('scm_fds')),
    epollTargets,
    inotifyWatches,
    fanotifyMarks,
  };
}

/** A process, or one of its threads: a thread's own fd table can hide fds from the process's. */
export type FdOwner = number | 'self' | `${number}/task/${number}`;

/** Reads and parses /proc/PID/fdinfo/N (or /proc/PID/task/TID/fdinfo/N). */
export function readFdInfo(procRoot: string, owner: FdOwner, fd: number): ReadResult<FdInfo | null> {
  const read = readProcText(`${procRoot}/${owner}/fdinfo/${fd}`);
  return read.ok ? { ok: true, value: parseFdInfo(read.value) } : read;
}
