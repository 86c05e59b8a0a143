import { isUtf8 } from 'node:buffer';
import { posix } from 'node:path';
import { readProcText, type ReadResult } from './read.js';

/** One line of /proc/PID/mountinfo. */
export interface Mount {
  readonly mountId: number;
  readonly parentId: number;
  /** st_dev of files on this mount, as "MAJ:MIN". */
  readonly dev: string;
  /** The directory of the filesystem that is mounted here ("/" for a whole filesystem). */
  readonly root: string;
  /** Where it is mounted, relative to the reading process's root (decoded as UTF-8). */
  readonly mountPoint: string;
  /** The mount point's exact bytes, present only when they are not valid UTF-8. */
  readonly mountPointBytes?: Buffer;
  readonly fstype: string;
  readonly source: string;
  /**
   * overlayfs: its `upperdir=` super option, as the mounting namespace named it. A file written
   * through the overlay reports the overlay's st_dev, but its blocks live on the filesystem that
   * holds this directory, and statfs on the overlay answers with that filesystem's numbers.
   */
  readonly upperDir?: string;
  /** st_dev ("MAJ:MIN") of upperDir, stat-ed when the snapshot was taken; absent when unknown. */
  readonly upperDev?: string;
}

/** Parses /proc/PID/mountinfo, skipping lines it cannot read. */
export function parseMountinfo(text: string): Mount[] {
  const mounts: Mount[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const separator = line.indexOf(' - ');
    if (separator < 0) continue;
    const left = line.slice(0, separator).split(' ');
    const right = line.slice(separator + 3).split(' ');
    if (left.length < 6 || right.length < 2) continue;
    const [mountId, parentId, dev, root, mountPoint] = left as [string, string, string, string, string];
    const [fstype, source, superOptions = ''] = right as [string, string, string?];
    if (!/^\d+$/.test(mountId) || !/^\d+$/.test(parentId) || !/^\d+:\d+$/.test(dev)) continue;
    const pointBytes = unescapeOctalBytes(mountPoint);
    mounts.push({
      mountId: Number(mountId),
      parentId: Number(parentId),
      dev,
      root: unescapeOctal(root),
      mountPoint: pointBytes.toString('utf8'),
      ...(isUtf8(pointBytes) ? {} : { mountPointBytes: pointBytes }),
      fstype: unescapeOctal(fstype),
      source: unescapeOctal(source),
      ...upperDirOf(fstype, superOptions),
    });
  }
  return mounts;
}

/**
 * An overlay's `upperdir=` from its super options (fs/overlayfs/params.c prints each path with
 * seq_show_option, which escapes commas, '=', spaces and backslashes as \ooo, so a comma splits).
 */
function upperDirOf(fstype: string, superOptions: string): { upperDir?: string } {
  if (fstype !== 'overlay') return {};
  const option = superOptions.split(',').find((o) => o.startsWith('upperdir='));
  return option ? { upperDir: unescapeOctal(option.slice('upperdir='.length)) } : {};
}

/** Reads and parses /proc/PID/mountinfo. */
export function readMountinfo(procRoot: string, pid: number | 'self'): ReadResult<Mount[]> {
  const read = readProcText(`${procRoot}/${pid}/mountinfo`);
  return read.ok ? { ok: true, value: parseMountinfo(read.value) } : read;
}

/**
 * Picks the mount a file lives on: the mounts with its st_dev, preferring the one whose
 * mount point is the longest prefix of the path the kernel showed (bind mounts share a dev).
 */
export function findMount(mounts: readonly Mount[], dev: string, path: string): Mount | null {
  let best: Mount | null = null;
  for (const mount of mounts) {
    if (mount.dev !== dev) continue;
    if (best === null) {
      best = mount;
      continue;
    }
    const fits = isUnder(path, mount.mountPoint);
    const bestFits = isUnder(path, best.mountPoint);
    if (fits && (!bestFits || mount.mountPoint.length > best.mountPoint.length)) best = mount;
    else if (!fits && !bestFits && mount.root === '/' && best.root !== '/') best = mount;
  }
  return best;
}

/** Filesystems whose files report a st_dev that mountinfo does not show (btrfs subvolumes get an anonymous one). */
const DEV_DIFFERS_FROM_MOUNTINFO = new Set(['btrfs']);

/**
 * For a file whose st_dev names no mount: the mount of such a filesystem whose mount point is the
 * longest prefix of the path. Only those filesystems qualify, so a name like "/memfd:x" is never
 * placed on "/".
 */
export function findMountByPath(mounts: readonly Mount[], path: string): Mount | null {
  let best: Mount | null = null;
  for (const mount of mounts) {
    if (!DEV_DIFFERS_FROM_MOUNTINFO.has(mount.fstype) || !isUnder(path, mount.mountPoint)) continue;
    if (!best || mount.mountPoint.length > best.mountPoint.length) best = mount;
  }
  return best;
}

/**
 * The mount holding a file with st_dev `dev` at `path`: by its device, else (btrfs) by its path.
 * One rule for every command that starts from a path the person gave.
 */
export function findMountOfPath(mounts: readonly Mount[], dev: string, path: string): Mount | null {
  return findMount(mounts, dev, path) ?? findMountByPath(mounts, path);
}

/**
 * The mount whose mount point is the longest prefix of `path`, whatever its device; of mounts
 * stacked on one point, the last listed (the one on top). For a path whose st_dev is unknown or
 * names no mount.
 */
export function findMountContaining(mounts: readonly Mount[], path: string): Mount | null {
  let best: Mount | null = null;
  for (const mount of mounts) {
    if (
      isUnder(path, mount.mountPoint) &&
      (best === null || mount.mountPoint.length >= best.mountPoint.length)
    )
      best = mount;
  }
  return best;
}

/**
 * The mount of an overlay's upper layer: the filesystem that holds the blocks of every file
 * written through the overlay (the overlay's own st_dev is anonymous). null for any other mount,
 * and for an overlay whose upper directory's device was not read.
 */
export function upperMountOf(mount: Mount, mounts: readonly Mount[]): Mount | null {
  if (mount.fstype !== 'overlay' || mount.upperDir === undefined || mount.upperDev === undefined) return null;
  return findMountOfPath(mounts, mount.upperDev, mount.upperDir);
}

function isUnder(path: string, mountPoint: string): boolean {
  return mountPoint === '/' || path === mountPoint || path.startsWith(`${mountPoint}/`);
}

/** A field's bytes: mountinfo escapes space, tab, newline and backslash as \ooo octal. */
function unescapeOctalBytes(field: string): Buffer {
  const latin1 = field.includes('\\')
    ? field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)))
    : field;
  return Buffer.from(latin1, 'latin1');
}

/** A field as text: its bytes decoded as UTF-8, last. */
function unescapeOctal(field: string): string {
  return unescapeOctalBytes(field).toString('utf8');
}

/**
 * `/proc/PID/root/INNER`: a path on the host into the root of process PID, which reaches its
 * mount namespace's mounts. INNER is normalised ("/" for the root itself, no trailing slash, no
 * "." left); null for any other path, and for one with ".." (it would climb out of that root).
 */
export function parseProcRootPath(path: string): { pid: number; inner: string } | null {
  const match = /^\/proc\/([1-9]\d*)\/root(\/.*)?$/.exec(path);
  if (!match) return null;
  // ".." after the magic link climbs out of the process's root, into limbo's view: not this form.
  if ((match[2] ?? '').split('/').includes('..')) return null;
  const inner = posix.normalize(match[2] ?? '/').replace(/(.)\/+$/, '$1');
  return { pid: Number(match[1]), inner };
}

/**
 * The inverse of `parseProcRootPath`: a host path to a mount point of another mount namespace,
 * /proc/PID/root/MOUNTPOINT through the process `reader.pid` whose mountinfo listed it. When that
 * process is chrooted, `reader.root` is its root and the mount point reads from the namespace's
 * own root (as its fd links do): the root is taken off. null without a pid, or for a mount outside
 * that root.
 */
export function pathThroughRoot(
  procRoot: string,
  reader: { readonly pid?: number | undefined; readonly root?: string | undefined },
  mountPoint: Buffer,
): Buffer | null {
  if (reader.pid === undefined) return null;
  const root = Buffer.from(reader.root ?? '/');
  const through = Buffer.from(`${procRoot}/${reader.pid}/root`);
  if (root.length === 1) return mountPoint.length === 1 ? through : Buffer.concat([through, mountPoint]);
  if (!mountPoint.subarray(0, root.length).equals(root)) return null;
  if (mountPoint.length === root.length) return through;
  return mountPoint[root.length] === 0x2f ? Buffer.concat([through, mountPoint.subarray(root.length)]) : null;
}

/**
 * A name as a process with root `root` sees it. The kernel writes fd links relative to the
 * reader's root: under a chroot that limbo can see, the name starts with the root and is cut;
 * a root out of sight (pivot_root in another mount namespace) reads "/", and the name is already
 * the process's own.
 */
export function pathInRoot(name: Buffer, root: string | null): Buffer {
  if (root === null || root === '/') return name;
  const prefix = Buffer.from(root);
  if (
    name.length > prefix.length &&
    name.subarray(0, prefix.length).equals(prefix) &&
    name[prefix.length] === 0x2f
  ) {
    return name.subarray(prefix.length);
  }
  return name;
}

/**
 * Where a name in the kernel's words for limbo (an fd link's text) is reached from the host:
 * through the process's root, as the process itself names it (`pathInRoot`).
 */
export function throughProcessRoot(procRoot: string, pid: number, name: Buffer, root: string | null): Buffer {
  return Buffer.concat([Buffer.from(`${procRoot}/${pid}/root`), pathInRoot(name, root)]);
}
