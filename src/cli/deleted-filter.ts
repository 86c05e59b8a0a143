import { existsSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import {
  containerMatches,
  type DeletedFilter,
  type DeletedKind,
  type DeletedSort,
} from '../analyses/deleted.js';
import { readPasswd } from '../proc/passwd.js';
import { silentMountOfPath } from '../actions/mount-guard.js';
import { describeUnansweredTarget } from '../analyses/incomplete-words.js';
import type { Snapshot } from '../snapshot/types.js';
import { quote } from '../format/escape.js';
import { errnoOf, LimboError } from '../core/errors.js';
import { escapeName, shellWord } from '../format/escape.js';
import { formatDev } from '../proc/file-stat.js';
import { findMountOfPath, parseProcRootPath, readMountinfo, type Mount } from '../proc/mountinfo.js';
import type { OptionValues } from './options.js';
import type { DELETED_FILTER_OPTIONS } from './specs/option-groups.js';

/** The parsed filter flags; `limbo deleted` adds --kind and --sort. */
export type DeletedFilterValues = OptionValues<typeof DELETED_FILTER_OPTIONS> & {
  readonly kind?: DeletedKind | undefined;
  readonly sort?: DeletedSort | undefined;
  /** --mount-timeout, in seconds: how long the mount of a --mount or --filesystem-of path has to answer. */
  readonly mountTimeout?: number | undefined;
};

/**
 * The filter the flags describe. The parser has checked every value; only --mount is left, as it
 * needs the filesystem: a path that cannot be stat'ed does not exist (exit 1), as for df and links.
 */
export function toDeletedFilter(command: string, values: DeletedFilterValues): DeletedFilter {
  const filter: { -readonly [K in keyof DeletedFilter]: DeletedFilter[K] } = {};
  if (values.pid !== undefined) filter.pid = values.pid;
  if (values.user !== undefined) filter.user = values.user;
  if (values.mount !== undefined && values.filesystemOf !== undefined) {
    throw new LimboError('usage', `limbo ${command}: give --mount or --filesystem-of, not both`);
  }
  if (values.mount !== undefined) {
    const { mount, real, namespace, prefix } = filesystemHolding(
      command,
      '--mount',
      values.mount,
      values.mountTimeout,
    );
    if (real !== mount.mountPoint) {
      const there = `${prefix}${mount.mountPoint === '/' && prefix !== '' ? '' : mount.mountPoint}`;
      throw new LimboError(
        'usage',
        `limbo ${command}: --mount ${shellWord(values.mount)}: not a mount point: it is on the filesystem mounted at ` +
          `${escapeName(Buffer.from(there))} (${mount.fstype}, device ${mount.dev}), and --mount covers a whole filesystem. ` +
          `Give --mount ${shellWord(there)}, or --filesystem-of ${shellWord(values.mount)} to mean that filesystem`,
      );
    }
    filter.filesystem = {
      dev: mount.dev,
      mountPoint: mount.mountPoint,
      fstype: mount.fstype,
      ...(namespace ? { mountNamespace: namespace } : {}),
    };
  }
  if (values.filesystemOf !== undefined) {
    const { mount, namespace } = filesystemHolding(
      command,
      '--filesystem-of',
      values.filesystemOf,
      values.mountTimeout,
    );
    filter.filesystem = {
      dev: mount.dev,
      mountPoint: mount.mountPoint,
      fstype: mount.fstype,
      ...(namespace ? { mountNamespace: namespace } : {}),
    };
  }
  if (values.container !== undefined) filter.container = values.container;
  if (values.minSize !== undefined) filter.minAllocatedBytes = values.minSize;
  if (values.kind !== undefined) filter.kind = values.kind;
  if (values.sort !== undefined) filter.sort = values.sort;
  return filter;
}

/**
 * The mount of the filesystem that holds `path`, as this process sees it: the mount with the
 * path's st_dev (btrfs: by path, its files report another st_dev than mountinfo shows). A path
 * through /proc/PID/root (how limbo names a mount private to another mount namespace) is placed
 * in that process's own mount table, relative to its root: `real` and the mount point are then
 * that process's, `prefix` is "/proc/PID/root" and `namespace` its mount namespace.
 */
function filesystemHolding(
  command: string,
  flag: string,
  path: string,
  mountTimeout: number | undefined,
): { mount: Mount; real: string; prefix: string; namespace: string | null } {
  // realpath and stat on a FUSE or network mount that does not answer would never return.
  const timeoutMs = mountTimeout === undefined ? undefined : Math.round(mountTimeout * 1000);
  const silent = silentMountOfPath(path, { procRoot: '/proc', timeoutMs });
  if (silent) {
    const what = `${flag} ${quote(path)}`;
    throw new LimboError('io', `limbo ${command}: ${describeUnansweredTarget(what, silent)}`);
  }
  const through = parseProcRootPath(path);
  let dev: string;
  let real: string;
  try {
    // realpath would follow /proc/PID/root as a symlink on the host: stat goes through it instead.
    real = through ? through.inner : realpathSync(path);
    dev = formatDev(statSync(through ? path : real, { bigint: true }).dev);
  } catch (error) {
    throw new LimboError(
      'not-found',
      `limbo ${command}: ${flag}: cannot stat ${quote(path)}: ${errnoOf(error) ?? 'error'}`,
    );
  }
  const mounts = readMountinfo('/proc', through ? through.pid : 'self');
  const mount = mounts.ok ? findMountOfPath(mounts.value, dev, real) : null;
  let namespace: string | null = null;
  if (through) {
    try {
      namespace = readlinkSync(`/proc/${through.pid}/ns/mnt`);
    } catch {
      namespace = null;
    }
  }
  return {
    mount: mount ?? { mountId: 0, parentId: 0, dev, root: '/', mountPoint: real, fstype: '?', source: '?' },
    real,
    prefix: through ? `/proc/${through.pid}/root` : '',
    namespace,
  };
}

/**
 * Refuses a filter whose subject does not exist, so that a typo never reads as "nothing held":
 * `--pid` of no process (in the snapshot, or a live kernel thread under `procRoot`), `--user` that
 * names no user (not in the snapshot's processes, not in the user table, not a number).
 */
export function checkFilterSubjects(
  command: string,
  filter: DeletedFilter,
  snapshot: Snapshot,
  live: boolean,
): void {
  const { pid, user, container } = filter;
  if (container !== undefined) checkContainer(command, container, snapshot);
  if (
    pid !== undefined &&
    !snapshot.processes.some((p) => p.pid === pid) &&
    !(live && existsSync(`${snapshot.procRoot}/${pid}`))
  ) {
    throw new LimboError('not-found', `limbo ${command}: no process ${pid}`);
  }
  if (
    user !== undefined &&
    !/^\d+$/.test(user) &&
    !snapshot.processes.some((p) => p.user === user) &&
    !(live && [...readPasswd().values()].includes(user))
  ) {
    throw new LimboError('not-found', `limbo ${command}: no user ${quote(user)}`);
  }
}

/**
 * Refuses a --container that names no container of the snapshot (a typo must not read as
 * "nothing held"), or a prefix that fits more than one (it would act on both).
 */
export function checkContainer(command: string, given: string, snapshot: Snapshot): void {
  const ids = new Set(
    snapshot.processes.flatMap((p) =>
      p.container !== null && containerMatches(p.container, given) ? [p.container] : [],
    ),
  );
  if (ids.size === 0) throw new LimboError('not-found', `limbo ${command}: no container ${quote(given)}`);
  if (ids.size > 1 && !ids.has(given)) {
    throw new LimboError(
      'usage',
      `limbo ${command}: --container ${shellWord(given)} fits ${ids.size} containers (${[...ids].map((id) => id.slice(0, 12)).join(', ')}): give more of the id`,
    );
  }
}
