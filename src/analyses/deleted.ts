import { LimboError } from '../core/errors.js';
import { getOrMake } from '../core/memo.js';
import { findContainer, type ContainerRuntime } from '../proc/cgroup.js';
import { canShareExtents, type SharingUnknown } from '../proc/extent-sharing.js';
import {
  findMount,
  findMountByPath,
  pathInRoot,
  pathThroughRoot,
  upperMountOf,
  type Mount,
} from '../proc/mountinfo.js';
import {
  sillyRenamerOf,
  sillyRenamerOfFilesystem,
  stripDeletedSuffix,
  type SillyRenamer,
} from '../proc/deleted-name.js';
import { isRegularMode } from '../proc/file-mode.js';
import type { FileRecord, MountNamespace, ProcessRecord, Snapshot } from '../snapshot/types.js';
import { incompleteOf, type IncompleteView } from './incomplete.js';

import type { DeletedKind, DeletedSort } from './choices.js';

export { DELETED_KINDS, DELETED_SORTS, type DeletedKind, type DeletedSort } from './choices.js';

/** A process that keeps a deleted file alive, through fds, mappings or both. */
export interface DeletedHolder {
  readonly pid: number;
  readonly comm: Buffer;
  readonly user: string;
  readonly uid: number;
  readonly unit: string | null;
  readonly container: string | null;
  /** The runtime that made its container (from the cgroup path); null outside a container. */
  readonly containerRuntime: ContainerRuntime | null;
  /** The Kubernetes pod UID of its container; null outside a pod. */
  readonly podUid: string | null;
  /** Its mount namespace ("mnt:[4026532…]"); paths are as seen from there. */
  readonly mountNamespace: string | null;
  /** Its root directory as limbo sees it (a chroot's, a container's); null when unknown. */
  readonly root: string | null;
  /** Its pid inside its own pid namespace (1 for a container's init); null when unknown. */
  readonly nsPid: number | null;
  /** The file's name as this holder sees it, relative to its root; null when longer than PATH_MAX. */
  readonly pathInRoot: Buffer | null;
  /** Its fd numbers for this file, ascending. */
  readonly fds: readonly number[];
  /** How many of its memory mappings (VMAs) map this file. */
  readonly mappings: number;
  /** Threads whose own fd table holds it (main thread exited, or an unshared table). */
  readonly tids: readonly number[];
}

/** One deleted inode that is still held, with everyone who holds it. */
export interface DeletedFile {
  readonly key: string;
  readonly dev: string;
  readonly ino: bigint;
  /** The kernel's name without " (deleted)"; null when it is longer than PATH_MAX. */
  readonly name: Buffer | null;
  readonly kind: DeletedKind;
  readonly sizeBytes: number;
  /** st_blocks × 512: every block the file maps, shared with other files or not. */
  readonly allocatedBytes: number;
  /**
   * What closing every holder gives back: allocatedBytes less the blocks FIEMAP flags as shared
   * with other files or snapshots (XFS reflink, btrfs); allocatedBytes where the filesystem cannot
   * share extents; null when the split is unknown (see ExtentSharing). At most allocatedBytes.
   */
  readonly reclaimableBytes: number | null;
  /** Why reclaimableBytes is null; null when it is known. */
  readonly reclaimableUnknownReason: SharingUnknown | null;
  /** Mount point as its first holder sees it; null for memfd (no mount). */
  readonly mount: string | null;
  /** The mount point's exact bytes, present only when they are not valid UTF-8. */
  readonly mountBytes?: Buffer;
  /** The mount namespace whose mount table placed it (the host's, or a holder's own); null for memfd. */
  readonly mountNamespace: string | null;
  /** The mount's id in that table (mountinfo's first field); null for memfd. */
  readonly mountId: number | null;
  /**
   * A path on the host that names the filesystem, for `--mount` and `df`: the mount point
   * where the host mounts it, else /proc/PID/root/MOUNTPOINT through a process of its mount
   * namespace; null for memfd, or a saved snapshot that does not say which process to go through.
   */
  readonly mountPath: Buffer | null;
  readonly fstype: string | null;
  /** RAM (tmpfs, memfd), not disk. */
  readonly ramBacked: boolean;
  readonly holders: readonly DeletedHolder[];
  /**
   * The overlay mount its holder reached it through, when `mount` is the overlay's upper layer's
   * filesystem (where its blocks are); null otherwise.
   */
  readonly overlay: OverlayView | null;
  /** For kind `silly-renamed`: who renamed it, and who else keeps it; null for every other kind. */
  readonly sillyRename: SillyRename | null;
}

/** The overlay mount a deleted file was written and held through. */
export interface OverlayView {
  /** The overlay's mount point, as the first holder sees it. */
  readonly mount: string;
  readonly mountBytes?: Buffer;
  /** Its `upperdir=`: the directory whose filesystem holds the file's blocks. */
  readonly upperDir: string;
}

/**
 * A file a FUSE filesystem (libfuse without hard_remove) or an NFS client renamed to a hidden
 * name when it was unlinked while open. The filesystem removes that name when the last holder
 * closes the file; until then the hidden name is visible (du and ls count it).
 */
export interface SillyRename {
  readonly by: SillyRenamer;
  /** The name the holder opened it by, now unlinked (FUSE: what its fd reads); null when unknown (NFS moves the name). */
  readonly deletedName: Buffer | null;
  /**
   * Processes that hold the hidden file on the filesystem underneath (the FUSE daemon keeps its
   * backing file open): not holders of the file itself; they let go when its last holder closes it.
   */
  readonly backingHolders: readonly BackingHolder[];
}

/** A process holding a silly-renamed file's backing file (same hidden name and size, another filesystem). */
export interface BackingHolder {
  readonly pid: number;
  readonly comm: Buffer;
  readonly fds: readonly number[];
  /** The backing file's name as it sees it. */
  readonly name: Buffer;
}

export interface MountTotal {
  readonly mount: string | null;
  /** The mount point's exact bytes, present only when they are not valid UTF-8. */
  readonly mountBytes?: Buffer;
  /** As DeletedFile.mountNamespace. */
  readonly mountNamespace: string | null;
  /** As DeletedFile.mountPath: a path that names this filesystem on the host. */
  readonly mountPath: Buffer | null;
  readonly fstype: string | null;
  readonly ramBacked: boolean;
  readonly files: number;
  readonly sizeBytes: number;
  readonly allocatedBytes: number;
  /** Sum of the files' known reclaimableBytes. */
  readonly reclaimableBytes: number;
  /** allocatedBytes of the files whose reclaimableBytes is unknown: they free between 0 and this. */
  readonly reclaimableUnknownBytes: number;
}

export interface DeletedTotals {
  readonly files: number;
  readonly sizeBytes: number;
  readonly allocatedBytes: number;
  readonly reclaimableBytes: number;
  readonly reclaimableUnknownBytes: number;
  readonly diskAllocatedBytes: number;
  readonly ramAllocatedBytes: number;
  readonly byMount: readonly MountTotal[];
}

export interface DeletedReport {
  readonly files: readonly DeletedFile[];
  /** The mount namespace limbo ran in: holders elsewhere see other paths. */
  readonly hostMountNamespace: string | null;
  readonly totals: DeletedTotals;
  readonly incomplete: IncompleteView;
}

/** Which files to keep; every field narrows. */
export interface DeletedFilter {
  /** Files this process holds (all their holders are still shown). */
  readonly pid?: number;
  /** Files held by a process of this user (name or numeric uid). */
  readonly user?: string;
  /** Files on this device ("MAJ:MIN"). */
  readonly dev?: string;
  /**
   * Files on this filesystem: its device, or placed on its mount point (btrfs files report
   * another st_dev than mountinfo shows).
   */
  readonly filesystem?: {
    readonly dev: string;
    readonly mountPoint: string;
    readonly fstype?: string;
    /** The mount namespace whose mount point it is; the host's when absent. */
    readonly mountNamespace?: string;
  };
  /** Files held by a process of this container: its id, a unique prefix of it, or its name. */
  readonly container?: string;
  /** At least this many bytes allocated. */
  readonly minAllocatedBytes?: number;
  readonly kind?: DeletedKind;
  /** Only these kinds (with `kind`, both must hold). */
  readonly kinds?: readonly DeletedKind[];
  readonly sort?: DeletedSort;
  /** Keep only the first N after sorting; totals then cover just those. */
  readonly limit?: number;
}

const RAM_FILESYSTEMS = new Set(['tmpfs', 'ramfs', 'hugetlbfs', 'devtmpfs']);
/** The kernel's internal shmem mount: SysV segments, shared anonymous memory and memfds live here. */
const INTERNAL_SHMEM_DEV = '0:1';

/**
 * The deleted files still held open or mapped: `st_nlink == 0` through the /proc link,
 * one entry per inode, merged across fds, dups, forks, threads and mappings.
 */
export function findDeletedFiles(snapshot: Snapshot, filter: DeletedFilter = {}): DeletedReport {
  requireFilesCollected(snapshot);
  const fileByKey = new Map(snapshot.files.map((file) => [file.key, file]));
  const placer = new FilePlacer(snapshot);
  const groups = new Map<string, { file: FileRecord; name: Buffer | null; holders: HolderDraft[] }>();

  const holderOf = (key: string, name: Buffer | null, process: ProcessRecord): HolderDraft | null => {
    const file = fileByKey.get(key);
    if (!file || !isRegularMode(file.mode)) return null;
    // A silly-renamed file is still linked under its hidden name: nlink reads 0 or 1 with the
    // attribute cache, so its name and filesystem decide, never nlink.
    if (
      file.nlink !== 0 &&
      sillyNameOf(file, name, placer.findMount(process.mountNamespace, file.dev, name)) === null
    )
      return null;
    let group = groups.get(key);
    if (!group) {
      group = { file, name, holders: [] };
      groups.set(key, group);
    }
    // A process's fds and mappings are gone through together: its draft, if any, is the last one.
    let draft = group.holders.at(-1);
    if (draft?.process !== process) {
      draft = { process, fds: [], mappings: 0, tids: [] };
      group.holders.push(draft);
    }
    return draft;
  };

  for (const process of snapshot.processes) {
    for (const fd of process.fds) {
      const draft = holderOf(fd.fileKey, fd.name, process);
      if (!draft) continue;
      draft.fds.push(fd.fd);
      if (fd.tid !== null && !draft.tids.includes(fd.tid)) draft.tids.push(fd.tid);
    }
    for (const mapping of process.mappings) {
      const draft = holderOf(mapping.fileKey, mapping.name, process);
      if (draft) draft.mappings++;
    }
  }

  const files: DeletedFile[] = [];
  for (const { file, name, holders } of groups.values()) {
    const placed = placer.place(file, name, holders[0]?.process.mountNamespace ?? null);
    if (placed === null) continue;
    const { kind, at, silly } = placed;
    const ramBacked = kind === 'memfd' || kind === 'mqueue' || RAM_FILESYSTEMS.has(at.fstype ?? '');
    const reclaimable = reclaimableOf(file, at.fstype, ramBacked);
    files.push({
      key: file.key,
      dev: file.dev,
      ino: file.ino,
      name: silly?.name ?? name,
      kind,
      sizeBytes: file.sizeBytes,
      allocatedBytes: file.allocatedBytes,
      reclaimableBytes: reclaimable.bytes,
      reclaimableUnknownReason: reclaimable.unknownReason,
      mount: at.mount,
      ...(at.mountBytes ? { mountBytes: at.mountBytes } : {}),
      mountNamespace: at.mountNamespace,
      mountId: at.mountId,
      mountPath: at.mountPath,
      fstype: at.fstype,
      ramBacked,
      holders: holders.map((draft) => deletedHolder(draft, name)).sort((a, b) => a.pid - b.pid),
      overlay: placed.overlay,
      sillyRename: silly
        ? {
            by: silly.by,
            deletedName: silly.name.equals(name ?? Buffer.alloc(0)) ? null : name,
            backingHolders: silly.by === 'fuse' ? findBackingHolders(snapshot, file, silly.name) : [],
          }
        : null,
    });
  }

  const kept = keepFiles(files, filter, snapshot.hostMountNamespace);
  return {
    files: kept,
    hostMountNamespace: snapshot.hostMountNamespace,
    totals: sumTotals(kept),
    incomplete: incompleteOf(snapshot),
  };
}

/**
 * What findDeletedFiles gives with `filter` when `report` is its unfiltered one, without building
 * the files again: an analysis that looks at each filesystem in turn builds them once.
 */
export function narrowDeletedFiles(report: DeletedReport, filter: DeletedFilter): DeletedReport {
  const kept = keepFiles(report.files, filter, report.hostMountNamespace);
  return { ...report, files: kept, totals: sumTotals(kept) };
}

function keepFiles(
  files: readonly DeletedFile[],
  filter: DeletedFilter,
  hostMountNamespace: string | null,
): DeletedFile[] {
  return sortFiles(files.filter(matches(filter, hostMountNamespace)), filter.sort ?? 'allocated').slice(
    0,
    filter.limit,
  );
}

/**
 * What closing a file frees: every page of a RAM-backed one, and every allocated block where its
 * filesystem cannot share extents; the blocks FIEMAP did not flag shared where it can; unknown
 * when that was not read whole.
 */
function reclaimableOf(
  file: FileRecord,
  fstype: string | null,
  ramBacked: boolean,
): { bytes: number | null; unknownReason: SharingUnknown | null } {
  const sharing = file.extentSharing;
  // The snapshot read FIEMAP where statfs named a sharing filesystem; mountinfo may name it too
  // (a snapshot taken before limbo read FIEMAP, or a file gone before its statfs).
  if (ramBacked || file.allocatedBytes === 0 || (!sharing && !canShareExtents(fstype))) {
    return { bytes: file.allocatedBytes, unknownReason: null };
  }
  if (!sharing) return { bytes: null, unknownReason: 'unreadable' };
  if (sharing.unknown !== null) return { bytes: null, unknownReason: sharing.unknown };
  return { bytes: Math.max(0, file.allocatedBytes - sharing.sharedBytes), unknownReason: null };
}

interface HolderDraft {
  readonly process: ProcessRecord;
  readonly fds: number[];
  mappings: number;
  readonly tids: number[];
}

/** A holder as the report shows it; `name` is the file's name in the kernel's words for limbo. */
function deletedHolder(draft: HolderDraft, name: Buffer | null): DeletedHolder {
  const { process } = draft;
  const container = process.cgroup === null ? null : findContainer(process.cgroup);
  const root = process.root ?? null;
  return {
    pid: process.pid,
    comm: process.comm,
    user: process.user,
    uid: process.uid,
    unit: process.unit,
    container: process.container,
    containerRuntime: container?.runtime ?? null,
    podUid: container?.podUid ?? null,
    mountNamespace: process.mountNamespace,
    root,
    nsPid: process.nsPid ?? null,
    pathInRoot: name === null ? null : pathInRoot(name, root),
    fds: draft.fds.sort((a, b) => a - b),
    mappings: draft.mappings,
    tids: draft.tids.sort((a, b) => a - b),
  };
}

/** Where a deleted file lives: its kind, its mount (in which namespace's table), and a host path to it. */
interface Placement {
  readonly kind: DeletedKind;
  /** Its mount; every file placed at one mount shares this object. */
  readonly at: PlacedMount;
  readonly overlay: OverlayView | null;
  readonly silly: { readonly by: SillyRenamer; readonly name: Buffer } | null;
}

/** A mount as the files placed on it report it: see DeletedFile's fields of the same names. */
interface PlacedMount {
  readonly mount: string | null;
  readonly mountBytes?: Buffer;
  readonly mountNamespace: string | null;
  readonly mountId: number | null;
  readonly mountPath: Buffer | null;
  readonly fstype: string | null;
}

/**
 * Places the deleted files of one snapshot. What a mount gives every file on it (its host path,
 * an overlay's upper layer) is worked out once per mount and namespace and shared: placing each
 * file anew took about a quarter of findDeletedFiles at 10,000 files (a new Buffer of the mount
 * point, a search of the tables and three objects per file).
 */
class FilePlacer {
  private readonly host: MountNamespace | null;
  private readonly namespaces: ReadonlyMap<string, MountNamespace>;
  /** Per namespace, per mount of its table: the mount as its files report it. */
  private readonly placedMounts = new Map<MountNamespace | null, Map<Mount, PlacedMount>>();
  /** Per holder's namespace, per overlay mount: where its files' blocks are (upperMountOf). */
  private readonly upperLayers = new Map<MountNamespace | null, Map<Mount, Placement | null>>();

  constructor(snapshot: Snapshot) {
    this.namespaces = new Map(snapshot.mountNamespaces.map((ns) => [ns.id, ns]));
    this.host = this.namespaces.get(snapshot.hostMountNamespace ?? '') ?? null;
  }

  /** The mount a file named `name` with st_dev `dev` is on, in a namespace's own table only. */
  findMount(namespaceId: string | null, dev: string, name: Buffer | null): Mount | null {
    const mounts = this.namespaces.get(namespaceId ?? '')?.mounts ?? [];
    return findMount(mounts, dev, name?.toString('utf8') ?? '');
  }

  /**
   * Kind, mount and filesystem of a deleted file, placed in the mount table of its first holder's
   * namespace, else the host's; null for what is not a deleted file at all (SysV shm).
   */
  place(file: FileRecord, name: Buffer | null, namespaceId: string | null): Placement | null {
    const text = name?.toString('utf8') ?? '';
    const host = this.host;
    const own = (namespaceId === null ? undefined : this.namespaces.get(namespaceId)) ?? host;
    const ownMounts = own?.mounts ?? [];
    let namespace = own;
    let mount = findMount(ownMounts, file.dev, text);
    if (mount === null && own !== host) {
      mount = findMount(host?.mounts ?? [], file.dev, text);
      if (mount !== null) namespace = host;
    }
    mount ??= findMountByPath(ownMounts, text);
    if (mount === null) {
      const none = { overlay: null, silly: null };
      if (text.startsWith('/memfd:')) return { kind: 'memfd', at: unmounted('tmpfs'), ...none };
      // SysV shm ("/SYSV%08x") and shared anonymous memory ("/dev/zero") are not deleted files.
      if (file.dev === INTERNAL_SHMEM_DEV) return null;
      // mq_open's queues live on the kernel's internal mqueue mount unless /dev/mqueue is mounted.
      if (file.statfsType === 'mqueue') return { kind: 'mqueue', at: unmounted('mqueue'), ...none };
      return { kind: 'file', at: unmounted(null), ...none };
    }
    const at = this.placedAt(mount, namespace ?? null);
    const silly = sillyNameOf(file, name, mount);
    if (silly) return { kind: 'silly-renamed', at, overlay: null, silly };
    if (mount.fstype === 'mqueue' || file.statfsType === 'mqueue')
      return { kind: 'mqueue', at, overlay: null, silly: null };
    const base = text.slice(text.lastIndexOf('/') + 1);
    const tmpfile = /^#\d+$/.test(base) && BigInt(base.slice(1)) === file.ino;
    const kind = tmpfile ? 'tmpfile' : 'file';
    const upper = this.upperLayerOf(mount, own ?? null);
    return upper === null ? { kind, at, overlay: null, silly: null } : { ...upper, kind };
  }

  /** A placement at `mount`, listed in `namespace`'s table: once per mount and namespace. */
  private placedAt(mount: Mount, namespace: MountNamespace | null): PlacedMount {
    const byMount = getOrMake(this.placedMounts, namespace, () => new Map<Mount, PlacedMount>());
    return getOrMake(byMount, mount, () => ({
      mount: mount.mountPoint,
      ...(mount.mountPointBytes ? { mountBytes: mount.mountPointBytes } : {}),
      mountNamespace: namespace?.id ?? null,
      mountId: mount.mountId,
      mountPath: hostPathOf(mount, namespace, this.host),
      fstype: mount.fstype,
    }));
  }

  /**
   * For a file written through an overlay whose upper layer is known: placed on the upper layer's
   * filesystem, the overlay kept as the view; null for any other mount. The upper layer's mount is
   * in the holder's own table, else the host's. Once per overlay mount and holder's namespace.
   */
  private upperLayerOf(mount: Mount, own: MountNamespace | null): Placement | null {
    const byMount = getOrMake(this.upperLayers, own, () => new Map<Mount, Placement | null>());
    return getOrMake(byMount, mount, (): Placement | null => {
      const ownMounts = own?.mounts ?? [];
      const hostMounts = this.host?.mounts ?? [];
      const upper = upperMountOf(mount, ownMounts === hostMounts ? ownMounts : [...ownMounts, ...hostMounts]);
      if (upper === null) return null;
      return {
        kind: 'file',
        at: this.placedAt(upper, ownMounts.includes(upper) ? own : this.host),
        overlay: {
          mount: mount.mountPoint,
          ...(mount.mountPointBytes ? { mountBytes: mount.mountPointBytes } : {}),
          upperDir: mount.upperDir as string,
        },
        silly: null,
      };
    });
  }
}

/** Where a file on no mount is placed: nowhere, on a filesystem of this type (or unknown). */
function unmounted(fstype: string | null): PlacedMount {
  return { mount: null, mountNamespace: null, mountId: null, mountPath: null, fstype };
}

/**
 * The hidden name of a silly-renamed file and who renamed it: the name the scan found beside its
 * deleted one (FUSE), or the name its fd reads now (NFS moves the name; so does a FUSE file opened
 * by its hidden name), on a filesystem that renames so. null for any other file. `mount` is the
 * one findMount gives for it (a btrfs file placed by its path is on none with its device).
 */
function sillyNameOf(
  file: FileRecord,
  name: Buffer | null,
  mount: Mount | null,
): { by: SillyRenamer; name: Buffer } | null {
  const renamer = sillyRenamerOfFilesystem(mount?.dev === file.dev ? mount.fstype : null);
  if (renamer === null) return null;
  if (renamer === 'fuse' && file.sillyName) return { by: renamer, name: file.sillyName };
  return name !== null && sillyRenamerOf(name) === renamer ? { by: renamer, name } : null;
}

/**
 * The processes that hold a silly-renamed FUSE file's backing file: a file on another
 * filesystem under the same hidden name, of the same size (the FUSE daemon keeps it open).
 */
function findBackingHolders(snapshot: Snapshot, file: FileRecord, hiddenName: Buffer): BackingHolder[] {
  const base = hiddenName.subarray(hiddenName.lastIndexOf(0x2f) + 1);
  const fileByKey = new Map(snapshot.files.map((f) => [f.key, f]));
  const found: BackingHolder[] = [];
  for (const process of snapshot.processes) {
    const fds = process.fds.filter((fd) => {
      const backing = fileByKey.get(fd.fileKey);
      if (!backing || backing.dev === file.dev || backing.sizeBytes !== file.sizeBytes || fd.name === null)
        return false;
      const held = stripDeletedSuffix(fd.name);
      return held.subarray(held.lastIndexOf(0x2f) + 1).equals(base);
    });
    const first = fds[0];
    if (first?.name)
      found.push({ pid: process.pid, comm: process.comm, fds: fds.map((fd) => fd.fd), name: first.name });
  }
  return found;
}

/**
 * A path on the host that names `mount`'s filesystem: its own mount point in the host's table;
 * where the host mounts the same device, that mount point (`--mount` covers a whole filesystem);
 * else /proc/PID/root/MOUNTPOINT through the process whose mountinfo listed it.
 */
function hostPathOf(
  mount: Mount,
  namespace: MountNamespace | null,
  host: MountNamespace | null,
): Buffer | null {
  const bytes = mount.mountPointBytes ?? Buffer.from(mount.mountPoint);
  if (namespace === null || namespace === host) return bytes;
  const onHost = findMount(host?.mounts ?? [], mount.dev, '');
  if (onHost !== null && !DEV_DIFFERS.has(mount.fstype)) {
    return onHost.mountPointBytes ?? Buffer.from(onHost.mountPoint);
  }
  return pathThroughRoot('/proc', namespace, bytes);
}

/** btrfs subvolumes share a device number in mountinfo: the same device on the host may be another subvolume. */
const DEV_DIFFERS = new Set(['btrfs']);

/**
 * Refuses a snapshot taken without looking for deleted files (filesCollected: false, as `limbo
 * handles` scans): its empty files, fds and mappings mean "not read", and an answer built on
 * them would say "nothing held" falsely.
 */
export function requireFilesCollected(snapshot: Snapshot): void {
  if (snapshot.filesCollected === false)
    throw new LimboError(
      'snapshot-invalid',
      'this snapshot was taken without its deleted files (filesCollected: false, as limbo handles scans): take one with limbo snapshot',
    );
}

/** A container id given as a person types it: the whole id or name, or a prefix of an id (as docker takes). */
export function containerMatches(id: string, given: string): boolean {
  return id === given || (given.length > 0 && /^[0-9a-f]+$/.test(given) && id.startsWith(given));
}

function matches(filter: DeletedFilter, hostMountNamespace: string | null): (file: DeletedFile) => boolean {
  return (file) =>
    (filter.pid === undefined || file.holders.some((h) => h.pid === filter.pid)) &&
    (filter.user === undefined ||
      file.holders.some((h) => h.user === filter.user || String(h.uid) === filter.user)) &&
    (filter.dev === undefined || file.dev === filter.dev) &&
    (filter.filesystem === undefined ||
      file.dev === filter.filesystem.dev ||
      (file.mount === filter.filesystem.mountPoint &&
        file.mountNamespace === (filter.filesystem.mountNamespace ?? hostMountNamespace))) &&
    (filter.container === undefined ||
      file.holders.some(
        (h) => h.container !== null && containerMatches(h.container, filter.container as string),
      )) &&
    (filter.minAllocatedBytes === undefined || file.allocatedBytes >= filter.minAllocatedBytes) &&
    (filter.kind === undefined || file.kind === filter.kind) &&
    (filter.kinds === undefined || filter.kinds.includes(file.kind));
}

function sortFiles(files: DeletedFile[], sort: DeletedSort): DeletedFile[] {
  const byName = (a: DeletedFile, b: DeletedFile) =>
    Buffer.compare(a.name ?? Buffer.alloc(0), b.name ?? Buffer.alloc(0));
  const compare: Record<DeletedSort, (a: DeletedFile, b: DeletedFile) => number> = {
    allocated: (a, b) => b.allocatedBytes - a.allocatedBytes || b.sizeBytes - a.sizeBytes || byName(a, b),
    size: (a, b) => b.sizeBytes - a.sizeBytes || b.allocatedBytes - a.allocatedBytes || byName(a, b),
    holders: (a, b) =>
      b.holders.length - a.holders.length || b.allocatedBytes - a.allocatedBytes || byName(a, b),
    path: (a, b) => byName(a, b) || a.key.localeCompare(b.key),
  };
  return files.sort(compare[sort]);
}

function sumTotals(files: readonly DeletedFile[]): DeletedTotals {
  const byMount = new Map<string, Mutable<MountTotal>>();
  // Files on one mount share its mount point's Buffer: its base64 is made once.
  const base64Of = new Map<Buffer, string>();
  let sizeBytes = 0;
  let allocatedBytes = 0;
  let reclaimableBytes = 0;
  let reclaimableUnknownBytes = 0;
  let ramAllocatedBytes = 0;
  for (const file of files) {
    sizeBytes += file.sizeBytes;
    allocatedBytes += file.allocatedBytes;
    reclaimableBytes += file.reclaimableBytes ?? 0;
    if (file.reclaimableBytes === null) reclaimableUnknownBytes += file.allocatedBytes;
    if (file.ramBacked) ramAllocatedBytes += file.allocatedBytes;
    // By exact bytes: two mount points that differ only in invalid UTF-8 read alike as text;
    // and one mount point in two mount namespaces is two places.
    let where: string;
    if (file.mountBytes) {
      let base64 = base64Of.get(file.mountBytes);
      if (base64 === undefined) {
        base64 = file.mountBytes.toString('base64');
        base64Of.set(file.mountBytes, base64);
      }
      where = `bytes:${base64}`;
    } else where = `text:${file.mount ?? ''}`;
    const key = `${where}\0${file.fstype ?? ''}\0${file.mountNamespace ?? ''}`;
    let total = byMount.get(key);
    if (total === undefined) {
      total = {
        mount: file.mount,
        ...(file.mountBytes ? { mountBytes: file.mountBytes } : {}),
        mountNamespace: file.mountNamespace,
        mountPath: file.mountPath,
        fstype: file.fstype,
        ramBacked: file.ramBacked,
        files: 0,
        sizeBytes: 0,
        allocatedBytes: 0,
        reclaimableBytes: 0,
        reclaimableUnknownBytes: 0,
      };
      byMount.set(key, total);
    }
    total.files++;
    total.sizeBytes += file.sizeBytes;
    total.allocatedBytes += file.allocatedBytes;
    total.reclaimableBytes += file.reclaimableBytes ?? 0;
    if (file.reclaimableBytes === null) total.reclaimableUnknownBytes += file.allocatedBytes;
  }
  return {
    files: files.length,
    sizeBytes,
    allocatedBytes,
    reclaimableBytes,
    reclaimableUnknownBytes,
    diskAllocatedBytes: allocatedBytes - ramAllocatedBytes,
    ramAllocatedBytes,
    byMount: [...byMount.values()].sort((a, b) => b.allocatedBytes - a.allocatedBytes),
  };
}

/** A record being summed, its readonly fields writable while it is. */
type Mutable<T> = { -readonly [K in keyof T]: T[K] };
