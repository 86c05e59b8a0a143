import { hasDeletedSuffix, stripDeletedSuffix } from './deleted-name.js';
import { fileTypeOf, isRegularMode } from './file-mode.js';

/** What an fd refers to, as far as its link (and optionally st_mode) can tell. */
export type FdKind =
  | 'regular'
  | 'directory'
  | 'socket'
  | 'pipe'
  | 'anon_inode'
  | 'memfd'
  | 'device'
  | 'mqueue'
  | 'nsfs'
  | 'other';

/** What the text of a /proc/PID/fd/N link (and st_mode, when given) says, without its name. */
export interface FdLinkKind {
  readonly kind: FdKind;
  /**
   * What decided the kind: 'text' the link alone, 'mode' the st_mode given with it, 'guess'
   * a path seen without st_mode, which is called 'regular' though it may be a directory or device.
   */
  readonly basis: 'text' | 'mode' | 'guess';
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

/** A classified link with its name: what `FdLinkKind` says, plus the path's bytes. */
export interface FdLink extends FdLinkKind {
  /** A path's or memfd's name as bytes, without " (deleted)"; null for every other kind. */
  readonly path: Buffer | null;
}

/**
 * Classifies the text of an fd link (readlink /proc/PID/fd/N; a string is taken as UTF-8).
 * The text alone cannot tell a directory or a device from a regular file; pass `mode`
 * (st_mode from stat through the link) to refine a path, else a path is 'regular' as a guess.
 */
export function classifyFdLink(link: Buffer | string, mode?: number): FdLink {
  const bytes = typeof link === 'string' ? Buffer.from(link, 'utf8') : link;
  const kind = classifyFdLinkText(bytes.toString('latin1'), mode);
  const path = bytes[0] === SLASH ? stripDeletedSuffix(bytes) : null;
  return { ...kind, path };
}

/**
 * The same classification on link text held as a latin1 string (one char per byte), as the full
 * scan keeps it: no Buffer per fd, and one shared result object for every plain path, so typing
 * 100,000 descriptors allocates almost nothing. `mode` 0 means "not known".
 */
export function classifyFdLinkText(text: string, mode?: number): FdLinkKind {
  if (text.startsWith('/')) return classifyPath(text, mode || undefined);
  // sockfs and pipefs print "socket:[%lu]" and "pipe:[%lu]"; their inodes come from
  // get_next_ino(), an unsigned int, so a number holds them exactly.
  if (text.endsWith(']')) {
    if (text.startsWith('socket:[')) return inodeKind('socket', text.slice(8, -1));
    if (text.startsWith('pipe:[')) return inodeKind('pipe', text.slice(6, -1));
    // A namespace file held open (/proc/PID/ns/*, as container runtimes keep them): nsfs names
    // it "TYPE:[INODE]" (fs/nsfs.c ns_dname).
    const bracket = text.indexOf(':[');
    if (
      bracket > 0 &&
      NAMESPACE_TYPES.has(text.slice(0, bracket)) &&
      /^\d+$/.test(text.slice(bracket + 2, -1))
    ) {
      return plain('nsfs', 'text', false);
    }
  }
  if (text.startsWith('anon_inode:') && text.length > 'anon_inode:'.length) {
    // Most types print in brackets ("anon_inode:[eventfd]"); inotify and bpf objects do not.
    const type = text.slice('anon_inode:'.length);
    const anonType = type.startsWith('[') && type.endsWith(']') ? type.slice(1, -1) : type;
    return { ...NONE, kind: 'anon_inode', anonType };
  }
  return plain('other', 'text', false);
}

const SLASH = 0x2f;
/** What nsfs calls each namespace type (the names of /proc/PID/ns/*; the *_for_children links share them). */
const NAMESPACE_TYPES = new Set(['cgroup', 'ipc', 'mnt', 'net', 'pid', 'time', 'user', 'uts']);
const NONE = { basis: 'text', deleted: false, inode: null, anonType: null } as const;

function inodeKind(kind: 'socket' | 'pipe', digits: string): FdLinkKind {
  return /^\d+$/.test(digits) ? { ...NONE, kind, inode: Number(digits) } : plain('other', 'text', false);
}

function classifyPath(text: string, mode: number | undefined): FdLinkKind {
  const deleted = hasDeletedSuffix(text);
  // memfd_create files read "/memfd:NAME (deleted)" (nlink 0), memfd_secret ones
  // "/secretmem (deleted)" (nlink 1 on 6.18): the suffix is there from birth. A real file by
  // such a name is told apart only by st_mode, and then only when it is not regular.
  if (
    deleted &&
    (text.startsWith('/memfd:') || text === '/secretmem (deleted)') &&
    (mode === undefined || isRegularMode(mode))
  ) {
    return plain('memfd', 'text', true);
  }
  if (mode === undefined) return plain('regular', 'guess', deleted);
  return plain(kindOfMode(mode), 'mode', deleted);
}

/**
 * A POSIX message queue (mq_open) reads as a path ("/NAME") of a regular file: only its
 * filesystem tells it apart. The caller learns that from statfs (MQUEUE_MAGIC) once per device.
 */
export const MQUEUE_MAGIC = 0x19800202;

/** The kind a path's st_mode names; a socket or symlink reached by path is only an O_PATH handle. */
function kindOfMode(mode: number): FdKind {
  switch (fileTypeOf(mode)) {
    case 'regular':
      return 'regular';
    case 'directory':
      return 'directory';
    case 'char-device':
    case 'block-device':
      return 'device';
    case 'fifo':
      return 'pipe';
    default:
      return 'other';
  }
}

const FD_KINDS: readonly FdKind[] = [
  'regular',
  'directory',
  'socket',
  'pipe',
  'anon_inode',
  'memfd',
  'device',
  'mqueue',
  'nsfs',
  'other',
];
const BASES: readonly FdLinkKind['basis'][] = ['text', 'mode', 'guess'];
/** One frozen result per (kind, basis, deleted), made once: the kinds that carry no inode or anon type. */
const PLAIN = new Map(
  FD_KINDS.map((kind) => [
    kind,
    new Map(
      BASES.map((basis) => [
        basis,
        [false, true].map((deleted) => Object.freeze<FdLinkKind>({ ...NONE, kind, basis, deleted })),
      ]),
    ),
  ]),
);

function plain(kind: FdKind, basis: FdLinkKind['basis'], deleted: boolean): FdLinkKind {
  return PLAIN.get(kind)?.get(basis)?.[deleted ? 1 : 0] as FdLinkKind;
}
