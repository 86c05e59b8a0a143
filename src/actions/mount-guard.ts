// Before an action stats a file another process holds, it learns which mount the file is on
// without touching the file: fdinfo's mnt_id (or the mapping's device in maps) and the holder's
// own mountinfo. A FUSE or network mount is asked first, in a child that is killed when it does
// not answer (mount-probe.ts): a stat there would wait for ever, and SIGTERM could not end it.
import { readFdInfo } from '../proc/fdinfo.js';
import { readMaps } from '../proc/maps.js';
import { MOUNT_ANSWER_TIMEOUT_MS, mayNotAnswer, probeMounts } from '../proc/mount-probe.js';
import { lstatSync, readlinkSync } from 'node:fs';
import { posix } from 'node:path';
import {
  findMount,
  findMountContaining,
  parseProcRootPath,
  readMountinfo,
  type Mount,
} from '../proc/mountinfo.js';
import { readLinkBytes } from '../proc/read.js';
import type { UnansweredMount } from '../snapshot/types.js';
import type { Via } from './holders.js';

export interface MountGuardOptions {
  readonly procRoot: string;
  /** How long a FUSE or network mount has to answer. Default 5 s. */
  readonly timeoutMs?: number | undefined;
  /** Mounts the scan just found silent: refused at once, not asked again. */
  readonly known?: readonly UnansweredMount[] | undefined;
  /**
   * For a path: false when the command lstats it (a symlink as the last component is looked at
   * itself, not followed). Default true.
   */
  readonly followLast?: boolean;
}

/**
 * The mount `via` leads to, when it is a FUSE or network mount that does not answer now; null
 * when it answers, needs no asking, or cannot be placed (then the stat that follows says why).
 */
export function silentMountOf(via: Via, options: MountGuardOptions): UnansweredMount | null {
  const { procRoot } = options;
  const mount = mountOf(via, procRoot);
  if (mount === null || !mayNotAnswer(mount.fstype)) return null;
  const inner = mount.mountPoint === '/' ? '' : mount.mountPoint;
  return askMount(mount, namespaceOf(procRoot, via.pid), `${procRoot}/${via.pid}/root${inner}`, options);
}

/** The kernel's limit on symlinks followed in one lookup (include/linux/namei.h MAXSYMLINKS). */
const MAX_SYMLINKS = 40;
/** PATH_MAX: a longer name is not looked up further, only placed by its words. */
const PATH_MAX = 4096;

/** A mount table to resolve a path in: limbo's own, or a process's through /proc/PID/root. */
interface PathView {
  readonly pid: number | null;
  readonly mounts: readonly Mount[];
  /** What a path of this view is reached through from limbo: "" or /proc/PID/root. */
  readonly root: string;
  readonly namespace: string | null;
}

/**
 * The mount a path the person gave lies on, when it is a FUSE or network mount that does not
 * answer now; else null. Symlinks are followed one component at a time, each component placed
 * by its words first: a component on a FUSE or network mount is asked before anything lstats
 * it, so no call ever enters a silent mount. A path through /proc/PID/root (given, or reached by
 * a symlink) is resolved in that process's own mount table and root.
 */
export function silentMountOfPath(path: string, options: MountGuardOptions): UnansweredMount | null {
  const { procRoot } = options;
  const asked = new Map<string, UnansweredMount | null>();
  const ask = (view: PathView, text: string): UnansweredMount | null => {
    const mount = findMountContaining(view.mounts, text);
    if (mount === null || !mayNotAnswer(mount.fstype)) return null;
    const key = `${view.namespace ?? ''} ${mount.dev}`;
    if (!asked.has(key)) {
      const inner = mount.mountPoint === '/' ? '' : mount.mountPoint;
      asked.set(key, askMount(mount, view.namespace, `${view.root}${inner}` || '/', options));
    }
    return asked.get(key) ?? null;
  };
  const absolute = path.startsWith('/') ? path : `${process.cwd()}/${path}`;
  let view = viewOf(procRoot, parseProcRootPath(absolute));
  let rest = (view.pid === null ? absolute : (parseProcRootPath(absolute)?.inner ?? '/')).split('/');
  let done = '/';
  let hops = 0;
  while (rest.length > 0) {
    const part = rest.shift() as string;
    if (part === '' || part === '.') continue;
    if (part === '..') {
      done = posix.dirname(done);
      continue;
    }
    const next = done === '/' ? `/${part}` : `${done}/${part}`;
    const silent = ask(view, next);
    if (silent) return silent;
    const target =
      rest.length === 0 && options.followLast === false ? null : symlinkAt(`${view.root}${next}`);
    // Not a symlink: a directory or file, or nothing (then nothing below it can be a mount).
    if (target === null) {
      done = next;
      continue;
    }
    const text = target.toString('utf8');
    const tooFar = ++hops > MAX_SYMLINKS || next.length + text.length > PATH_MAX;
    // A name that is not UTF-8 or too long to follow is placed by its words, as the kernel would.
    if (tooFar || !Buffer.from(text).equals(target)) {
      const words = text.startsWith('/') ? text : `${done}/${text}`;
      return ask(view, posix.normalize([words, ...rest].join('/')));
    }
    if (!text.startsWith('/')) {
      rest = [...text.split('/'), ...rest];
      continue;
    }
    const through = view.pid === null ? parseProcRootPath(posix.normalize([text, ...rest].join('/'))) : null;
    if (through) {
      view = viewOf(procRoot, through);
      rest = through.inner.split('/');
    } else rest = [...text.split('/'), ...rest];
    done = '/';
  }
  return null;
}

/** The mount table and root a path is resolved in: limbo's own, or process `through.pid`'s. */
function viewOf(procRoot: string, through: { pid: number } | null): PathView {
  const mounts = readMountinfo(procRoot, through ? through.pid : 'self');
  return {
    pid: through?.pid ?? null,
    mounts: mounts.ok ? mounts.value : [],
    root: through ? `${procRoot}/${through.pid}/root` : '',
    namespace: through ? namespaceOf(procRoot, through.pid) : null,
  };
}

/** The target of a symlink at `path`; null when it is something else, or cannot be read. */
function symlinkAt(path: string): Buffer | null {
  try {
    return lstatSync(path).isSymbolicLink() ? readlinkSync(path, { encoding: 'buffer' }) : null;
  } catch {
    return null;
  }
}

/** The mount namespace of `pid` when it is not limbo's own; null when it is, or cannot be read. */
function namespaceOf(procRoot: string, pid: number): string | null {
  const own = readLinkBytes(`${procRoot}/self/ns/mnt`);
  const theirs = readLinkBytes(`${procRoot}/${pid}/ns/mnt`);
  return own.ok && theirs.ok && !own.value.equals(theirs.value) ? theirs.value.toString() : null;
}

/** A mount already known silent, or asked now at `path`; null when it answers. */
function askMount(
  mount: Mount,
  namespace: string | null,
  path: string,
  options: MountGuardOptions,
): UnansweredMount | null {
  const timeoutMs = options.timeoutMs ?? MOUNT_ANSWER_TIMEOUT_MS;
  const known = options.known?.find(
    (m) => m.dev === mount.dev && (m.mountNamespace === null || m.mountNamespace === namespace),
  );
  if (known) return known;
  if (probeMounts([path], timeoutMs).get(path)?.answered !== false) return null;
  return {
    mountPoint: mount.mountPoint,
    fstype: mount.fstype,
    dev: mount.dev,
    mountNamespace: namespace,
    path,
    waitedMilliseconds: timeoutMs,
    skipped: 0,
  };
}

/** The mount of the holder's namespace that `via` is on: by mount id (fd) or device (mapping). */
function mountOf(via: Via, procRoot: string): Mount | null {
  const mounts = readMountinfo(procRoot, via.pid);
  if (!mounts.ok) return null;
  if (via.kind === 'fd') {
    const owner = via.tid === null ? via.pid : (`${via.pid}/task/${via.tid}` as const);
    const info = readFdInfo(procRoot, owner, via.fd);
    if (!info.ok || info.value === null) return null;
    const { mntId } = info.value;
    return mounts.value.find((m) => m.mountId === mntId) ?? null;
  }
  const maps = readMaps(`${procRoot}/${via.pid}/maps`);
  const entry = maps.ok ? maps.value.find((m) => m.range === via.range) : undefined;
  if (!entry) return null;
  return findMount(mounts.value, entry.dev, entry.path.toString());
}
