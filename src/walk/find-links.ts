// The I/O behind `limbo links`: stat the names asked about, walk their filesystems for other names,
// count subdirectories, find the processes holding the files, and read what the filesystem is.
// src/analyses/links.ts judges the result.
import {
  closeSync,
  existsSync,
  lstatSync,
  openSync,
  readdirSync,
  readlinkSync,
  readSync,
  realpathSync,
} from 'node:fs';
import {
  isExtType,
  type FilesystemFacts,
  type LinksObservation,
  type ObservedDirectory,
  type ObservedFile,
  type ObservedName,
  type ObservedWalk,
} from './links-observation.js';
import { errnoOf, LimboError } from '../core/errors.js';
import { isDirectoryMode } from '../proc/file-mode.js';
import { formatDev } from '../proc/file-stat.js';
import { findInodeHolders, type InodeTarget } from '../proc/inode-holders.js';
import { findMount, findMountContaining, readMountinfo, type Mount } from '../proc/mountinfo.js';
import { walkTree } from './walk-tree.js';

/** What `limbo links` was asked. */
export interface LinksRequest {
  /** Files and directories to explain. */
  readonly paths: readonly (string | Buffer)[];
  /** List every hard-link group under this directory. */
  readonly groups?: string;
  /** Look for other names only under this directory, instead of the whole filesystem. */
  readonly within?: string;
  /** The /proc to read holders from (default /proc). */
  readonly procRoot?: string;
  /** Called now and then during each walk. */
  readonly onProgress?: (root: string, files: number) => void;
  /** How long a FUSE or network mount has to answer before its fd links are skipped. Default 5 s. */
  readonly mountTimeoutMs?: number;
}

/** A path that could not be looked at. */
export interface LinksProblem {
  readonly path: Buffer;
  /** The errno code: ENOENT, EACCES, ... */
  readonly code: string;
}

const SLASH = 0x2f;

/** Looks at everything `request` asks about; the paths that could not be stat-ed come back as problems. */
export async function observeLinks(
  request: LinksRequest,
): Promise<{ readonly observation: LinksObservation; readonly problems: readonly LinksProblem[] }> {
  const procRoot = request.procRoot ?? '/proc';
  const mountsRead = readMountinfo(procRoot, 'self');
  const mounts = mountsRead.ok ? mountsRead.value : [];
  const facts = new FactsCache(mounts);
  const problems: LinksProblem[] = [];
  const named: { name: FactsName; isDirectory: boolean }[] = [];
  for (const given of request.paths) {
    const seen = statName(Buffer.from(given));
    if ('code' in seen) problems.push(seen);
    else named.push(seen);
  }

  const within = request.within === undefined ? null : resolveDirectory(request.within);
  const searches = new Map<string, { root: string; dev: string }>();
  const plans = named
    .filter((n) => !n.isDirectory)
    .map(({ name }) => {
      if (name.nlink <= 1) return { name, root: null, note: null };
      if (within) {
        if (within.dev !== name.dev) {
          return {
            name,
            root: null,
            note: `${within.path} is on another filesystem: no other name can be there`,
          };
        }
        searches.set(within.path, { root: within.path, dev: within.dev });
        return { name, root: within.path, note: null };
      }
      const root = searchRootFor(name.path, name.dev, mounts);
      searches.set(root, { root, dev: name.dev });
      return { name, root, note: null };
    });

  const walks: ObservedWalk[] = [];
  const failedRoots = new Map<string, string>();
  for (const { root, dev } of searches.values()) {
    const walk = await walkForLinks(root, dev, 'names', request.onProgress);
    if ('failure' in walk) failedRoots.set(root, walk.failure);
    else walks.push(walk);
  }
  let groups: LinksObservation['groups'] = null;
  if (request.groups !== undefined) {
    const dir = resolveDirectory(request.groups);
    const walk = await walkForLinks(dir.path, dir.dev, 'groups', request.onProgress);
    if ('failure' in walk) throw new LimboError('io', `cannot walk '${dir.path}': ${walk.failure}`);
    walks.push(walk);
    groups = { root: dir.path, dev: dir.dev };
  }

  const targets: InodeTarget[] = plans.map(({ name }) => {
    const key = `${name.dev}:${name.ino}`;
    return { key, mapsKey: `${name.filesystem.superblockDev ?? name.dev}:${name.ino}` };
  });
  const holderScan = findInodeHolders(procRoot, targets, request.mountTimeoutMs);
  const files: ObservedFile[] = plans.map(({ name, root, note }) => {
    const failure = root === null ? undefined : failedRoots.get(root);
    return {
      ...name,
      filesystem: stripInternal(name.filesystem),
      searchedRoot: failure === undefined ? root : null,
      searchNote: failure === undefined ? note : `the walk of ${root} failed (${failure})`,
      holders: holderScan.holders.get(`${name.dev}:${name.ino}`) ?? [],
    };
  });
  const directories: ObservedDirectory[] = named
    .filter((n) => n.isDirectory)
    .map(({ name }) => ({
      ...name,
      filesystem: stripInternal(facts.forDirectory(name)),
      subdirectories: countSubdirectories(name.path),
    }));
  return {
    observation: {
      files,
      directories,
      groups,
      walks,
      unreadablePids: holderScan.unreadablePids,
      scannerUid: process.geteuid?.() ?? -1,
      ...(holderScan.unansweredMounts.length > 0 ? { unansweredMounts: holderScan.unansweredMounts } : {}),
    },
    problems,
  };

  /** lstat of one name, with its absolute path and filesystem. */
  function statName(given: Buffer): { name: FactsName; isDirectory: boolean } | LinksProblem {
    try {
      const st = lstatSync(given, { bigint: true });
      const isDirectory = isDirectoryMode(st.mode);
      const path = absoluteName(given, isDirectory);
      const dev = formatDev(st.dev);
      const name = {
        path,
        dev,
        ino: st.ino,
        nlink: Number(st.nlink),
        mode: Number(st.mode),
        sizeBytes: Number(st.size),
        allocatedBytes: Number(st.blocks) * 512,
      };
      return { name: { ...name, filesystem: facts.of(path, dev) }, isDirectory };
    } catch (error) {
      return { path: given, code: errnoOf(error) ?? 'EIO' };
    }
  }
}

/** An observed name while gathering: its filesystem facts carry the superblock's device too. */
type FactsName = ObservedName & { readonly filesystem: InternalFacts };
type InternalFacts = FilesystemFacts & { readonly superblockDev: string | null };

function stripInternal(facts: InternalFacts): FilesystemFacts {
  const { fstype, mountPoint, extDriver, extDirNlink } = facts;
  return { fstype, mountPoint, extDriver, extDirNlink };
}

/** Filesystem facts for a path; what needs /sys or the device is read once per st_dev. */
class FactsCache {
  private readonly drivers = new Map<string, 'ext4' | 'ext2' | null>();
  private readonly dirNlink = new Map<string, boolean | null>();
  constructor(private readonly mounts: readonly Mount[]) {}

  of(path: Buffer, dev: string): InternalFacts {
    const text = path.toString('utf8');
    // btrfs reports a per-subvolume st_dev that mountinfo never shows: fall back to the mount holding the path.
    const mount = findMount(this.mounts, dev, text) ?? findMountContaining(this.mounts, text);
    const fstype = mount?.fstype ?? null;
    let extDriver: 'ext4' | 'ext2' | null = null;
    if (fstype !== null && isExtType(fstype)) {
      if (!this.drivers.has(dev)) this.drivers.set(dev, extDriverOf(dev, fstype));
      extDriver = this.drivers.get(dev) ?? null;
    }
    return {
      fstype,
      mountPoint: mount?.mountPoint ?? null,
      extDriver,
      extDirNlink: null,
      superblockDev: mount?.dev ?? null,
    };
  }

  /** The facts for a directory: on ext4 the superblock is read too, for dir_nlink. */
  forDirectory(name: FactsName): InternalFacts {
    const facts = name.filesystem;
    if (facts.extDriver !== 'ext4') return facts;
    if (!this.dirNlink.has(name.dev)) this.dirNlink.set(name.dev, readExtDirNlink(name.dev));
    return { ...facts, extDirNlink: this.dirNlink.get(name.dev) ?? null };
  }
}

/**
 * The absolute path of a name without following it: the directory part is resolved (symlinks,
 * "..") and the last component kept, so a symlink is reported as itself. A directory is resolved whole.
 */
export function absoluteName(given: Buffer, isDirectory: boolean): Buffer {
  if (isDirectory) return realpathSync.native(given, { encoding: 'buffer' });
  let end = given.length;
  while (end > 1 && given[end - 1] === SLASH) end--;
  const slash = given.lastIndexOf(SLASH, end - 1);
  const base = given.subarray(slash + 1, end);
  const dir = slash < 0 ? Buffer.from('.') : slash === 0 ? Buffer.from('/') : given.subarray(0, slash);
  const resolved = realpathSync.native(dir, { encoding: 'buffer' });
  return Buffer.concat([
    resolved,
    resolved.equals(Buffer.from('/')) ? Buffer.alloc(0) : Buffer.from('/'),
    base,
  ]);
}

/** A directory given by the user, resolved, with its st_dev. */
function resolveDirectory(path: string): { path: string; dev: string } {
  try {
    const real = realpathSync.native(path);
    const st = lstatSync(real, { bigint: true });
    if (!isDirectoryMode(st.mode)) throw new LimboError('usage', `'${path}' is not a directory`);
    return { path: real, dev: formatDev(st.dev) };
  } catch (error) {
    if (error instanceof LimboError) throw error;
    throw new LimboError('usage', `cannot stat '${path}': ${errnoOf(error) ?? 'error'}`, {
      cause: error,
    });
  }
}

/**
 * Where to walk for every name of a file: the mount of its filesystem (preferring one that shows the
 * filesystem's whole tree over a bind mount of a subdirectory), or, when no mount carries its st_dev
 * (a btrfs subvolume), the highest directory above it on the same st_dev.
 */
export function searchRootFor(path: Buffer, dev: string, mounts: readonly Mount[]): string {
  const own = findMount(mounts, dev, path.toString('utf8'));
  if (own) {
    const whole = own.root === '/' ? own : (mounts.find((m) => m.dev === dev && m.root === '/') ?? own);
    return whole.mountPoint;
  }
  let dir = parentOf(path);
  while (!dir.equals(Buffer.from('/'))) {
    const parent = parentOf(dir);
    try {
      if (formatDev(lstatSync(parent, { bigint: true }).dev) !== dev) break;
    } catch {
      break;
    }
    dir = parent;
  }
  return dir.toString('utf8');
}

function parentOf(path: Buffer): Buffer {
  const slash = path.lastIndexOf(SLASH);
  return slash <= 0 ? Buffer.from('/') : path.subarray(0, slash);
}

/** Walks one tree collecting every name of its multiply-linked files, timed. */
async function walkForLinks(
  root: string,
  dev: string,
  purpose: ObservedWalk['purpose'],
  onProgress?: (root: string, files: number) => void,
): Promise<ObservedWalk | { failure: string }> {
  const started = performance.now();
  const result = await walkTree(
    root,
    onProgress
      ? { collectLinked: true, onProgress: (files) => onProgress(root, files) }
      : { collectLinked: true },
  );
  if ('failure' in result) return { failure: result.failure };
  return {
    root,
    dev,
    purpose,
    milliseconds: Math.round((performance.now() - started) * 10) / 10,
    files: result.files,
    directories: result.dirs,
    errors: result.errors,
    allocatedBytes: result.allocatedBytes,
    linked: result.linked.map((l) => ({
      path: l.path,
      ino: l.ino,
      nlink: l.nlink,
      allocatedBytes: l.allocatedBytes,
    })),
  };
}

/** Entries of a directory that are directories themselves (d_type; lstat where the filesystem gives none). */
function countSubdirectories(path: Buffer): number | null {
  try {
    return readdirSync(path, { withFileTypes: true, encoding: 'buffer' }).filter((e) => e.isDirectory())
      .length;
  } catch {
    return null;
  }
}

/**
 * Which driver mounted an ext2/3/4 filesystem: the ext4 driver lists each of its block devices
 * under /sys/fs/ext4 (and also mounts ext2 and ext3, with ext4's limits); the ext2 driver does not.
 */
function extDriverOf(dev: string, fstype: string): 'ext4' | 'ext2' | null {
  if (fstype === 'ext4') return 'ext4';
  const name = blockDeviceName(dev);
  if (name === null) return null;
  if (existsSync(`/sys/fs/ext4/${name}`)) return 'ext4';
  return fstype === 'ext2' && existsSync('/sys/fs') ? 'ext2' : null;
}

/** The kernel's name of a block device ("vda", "dm-0", "loop3") from /sys/dev/block. */
function blockDeviceName(dev: string): string | null {
  try {
    const target = readlinkSync(`/sys/dev/block/${dev}`);
    return target.slice(target.lastIndexOf('/') + 1);
  } catch {
    return null;
  }
}

const EXT4_SUPER_MAGIC = 0xef53;
const EXT4_FEATURE_COMPAT_DIR_INDEX = 0x20;
const EXT4_FEATURE_RO_COMPAT_DIR_NLINK = 0x20;

/**
 * Whether an ext4 filesystem lets a directory pass 65,000 links (dir_nlink with dir_index):
 * read from the superblock (1,024 bytes in; fs/ext4/ext4.h `struct ext4_super_block`).
 * Reading the device needs root, and some sandboxes refuse it even then: null.
 */
function readExtDirNlink(dev: string): boolean | null {
  const name = blockDeviceName(dev);
  if (name === null) return null;
  let fd: number;
  try {
    fd = openSync(`/dev/${name}`, 'r');
  } catch {
    return null;
  }
  try {
    const block = Buffer.alloc(1024);
    if (readSync(fd, block, 0, 1024, 1024) !== 1024) return null;
    if (block.readUInt16LE(0x38) !== EXT4_SUPER_MAGIC) return null;
    const compat = block.readUInt32LE(0x5c);
    const roCompat = block.readUInt32LE(0x64);
    return (
      (compat & EXT4_FEATURE_COMPAT_DIR_INDEX) !== 0 && (roCompat & EXT4_FEATURE_RO_COMPAT_DIR_NLINK) !== 0
    );
  } catch {
    return null;
  } finally {
    closeSync(fd);
  }
}
