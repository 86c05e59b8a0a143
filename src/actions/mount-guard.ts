// Before an action stats a file another process holds, it learns which mount the file is on
// without touching the file: fdinfo's mnt_id (or the mapping's device in maps) and the holder's
// own mountinfo. A FUSE or network mount is asked first, in a child that is killed when it does
// not answer (mount-probe.ts): a stat there would wait for ever, and SIGTERM could not end it.
import { readFdInfo } from '../proc/fdinfo.js';
import { readMaps } from '../proc/maps.js';
import { MOUNT_ANSWER_TIMEOUT_MS, mayNotAnswer, probeMounts } from '../proc/mount-probe.js';
import { resolve } from 'node:path';
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

/**
 * The mount a path the person gave lies on (by its words: resolving it would stat every
 * component), when it is a FUSE or network mount that does not answer now; else null. A path
 * through /proc/PID/root is placed in that process's own mount table.
 */
export function silentMountOfPath(path: string, options: MountGuardOptions): UnansweredMount | null {
  const { procRoot } = options;
  const through = parseProcRootPath(path);
  const mounts = readMountinfo(procRoot, through ? through.pid : 'self');
  const mount = mounts.ok ? findMountContaining(mounts.value, through ? through.inner : resolve(path)) : null;
  if (mount === null || !mayNotAnswer(mount.fstype)) return null;
  if (!through) return askMount(mount, null, mount.mountPoint, options);
  const inner = mount.mountPoint === '/' ? '' : mount.mountPoint;
  return askMount(
    mount,
    namespaceOf(procRoot, through.pid),
    `${procRoot}/${through.pid}/root${inner}`,
    options,
  );
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
