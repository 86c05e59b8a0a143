/** What an fd refers to, as far as its link (and optionally st_mode) can tell. */
export type FdKind =
  'regular' | 'directory' | 'socket' | 'pipe' | 'anon_inode' | 'memfd' | 'device' | 'other';

/** The classified text of a /proc/PID/fd/N link. */
export interface FdLink {
  readonly kind: FdKind;
  /**
   * What decided the kind: 'text' the link alone, 'mode' the st_mode given with it, 'guess'
   * a path seen without st_mode, which is called 'regular' though it may be a directory or device.
   */
  readonly basis: 'text' | 'mode' | 'guess';
  /** A path's or memfd's name as bytes, without " (deleted)"; null for every other kind. */
  readonly path: Buffer | null;
  /** The link ended in " (deleted)": a cheap pre-filter, never a verdict (only st_nlink == 0 is). */
  readonly deleted: boolean;
  /** The sockfs or pipefs inode of `socket:[N]` and `pipe:[N]`; null otherwise (a FIFO opened by path shows a path). */
  readonly inode: number | null;
  /**
   * What follows `anon_inode:`, brackets dropped: eventfd, eventpoll, inotify, fanotify, timerfd,
   * signalfd, pidfd, io_uring, userfaultfd, perf_event, bpf-map, ...; null for other kinds.
   */
  readonly anonType: string | null;
}

const S_IFMT = 0o170000;
const S_IFSOCK = 0o140000;
const S_IFREG = 0o100000;
const S_IFBLK = 0o060000;
const S_IFDIR = 0o040000;
const S_IFCHR = 0o020000;
const S_IFIFO = 0o010000;
const DELETED = Buffer.from(' (deleted)');

/**
 * Classifies the text of an fd link (readlink /proc/PID/fd/N; a string is taken as UTF-8).
 * The text alone cannot tell a directory or a device from a regular file; pass `mode`
 * (st_mode from stat through the link) to refine a path, else a path is 'regular' as a guess.
 */
export function classifyFdLink(link: Buffer | string, mode?: number): FdLink {
  const bytes = typeof link === 'string' ? Buffer.from(link, 'utf8') : link;
  const text = bytes.toString('latin1');
  const none = { path: null, deleted: false, inode: null, anonType: null } as const;

  // sockfs and pipefs print "socket:[%lu]" and "pipe:[%lu]"; their inodes come from
  // get_next_ino(), an unsigned int, so a number holds them exactly.
  const inode = /^(socket|pipe):\[(\d+)\]$/.exec(text);
  if (inode) {
    const kind = inode[1] === 'socket' ? 'socket' : 'pipe';
    return { ...none, kind, basis: 'text', inode: Number(inode[2]) };
  }
  if (text.startsWith('anon_inode:') && text.length > 'anon_inode:'.length) {
    // Most types print in brackets ("anon_inode:[eventfd]"); inotify and bpf objects do not.
    const type = text.slice('anon_inode:'.length);
    const anonType = type.startsWith('[') && type.endsWith(']') ? type.slice(1, -1) : type;
    return { ...none, kind: 'anon_inode', basis: 'text', anonType };
  }
  if (!text.startsWith('/')) return { ...none, kind: 'other', basis: 'text' };

  const deleted = endsWith(bytes, DELETED);
  const path = deleted ? Buffer.from(bytes.subarray(0, bytes.length - DELETED.length)) : bytes;
  const type = mode === undefined ? undefined : mode & S_IFMT;
  // memfd_create files read "/memfd:NAME (deleted)" (nlink 0), memfd_secret ones
  // "/secretmem (deleted)" (nlink 1 on 6.18): the suffix is there from birth. A real file by
  // such a name is told apart only by st_mode, and then only when it is not regular.
  const name = path.toString('latin1');
  if (
    deleted &&
    (name.startsWith('/memfd:') || name === '/secretmem') &&
    (type === undefined || type === S_IFREG)
  ) {
    return { ...none, kind: 'memfd', basis: 'text', path, deleted };
  }
  if (type === undefined) return { ...none, kind: 'regular', basis: 'guess', path, deleted };
  return { ...none, kind: kindOfMode(type), basis: 'mode', path, deleted };
}

/** The kind a path's st_mode file type names; a socket or symlink reached by path is only an O_PATH handle. */
function kindOfMode(type: number): FdKind {
  switch (type) {
    case S_IFREG:
      return 'regular';
    case S_IFDIR:
      return 'directory';
    case S_IFCHR:
    case S_IFBLK:
      return 'device';
    case S_IFIFO:
      return 'pipe';
    case S_IFSOCK:
    default:
      return 'other';
  }
}

function endsWith(bytes: Buffer, suffix: Buffer): boolean {
  return bytes.length >= suffix.length && bytes.subarray(bytes.length - suffix.length).equals(suffix);
}
