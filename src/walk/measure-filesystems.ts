import { execFileSync, spawn } from 'node:child_process';
import { statfsSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { formatDev } from '../proc/file-stat.js';
import { findMountOfPath, pathThroughRoot, upperMountOf, type Mount } from '../proc/mountinfo.js';
import { MOUNT_ANSWER_TIMEOUT_MS, mayNotAnswer, probeMounts } from '../proc/mount-probe.js';
import { walkTree, type WalkResult } from './walk-tree.js';

/** statfs of one filesystem, in bytes. */
export interface FilesystemSpace {
  readonly sizeBytes: number;
  /** blocks − free: what df calls used (data, metadata, journal, and deleted files still held). */
  readonly usedBytes: number;
  /** What an unprivileged user can still write (f_bavail). */
  readonly availableBytes: number;
  /** free − available: root's reserve. */
  readonly reservedBytes: number;
}

/** One filesystem to reconcile: its mount, its space, and (when walked) what a walk saw. */
export interface FilesystemMeasure {
  readonly mount: Mount;
  readonly space: FilesystemSpace;
  /** What a du-style walk of the mount saw; null when not walked. */
  readonly walk: { readonly visibleBytes: number; readonly errors: number; readonly files: number } | null;
  /** Bytes in directories that other mounts cover; null when not looked at (needs --walk as root). */
  readonly hiddenBytes: number | null;
  /** Why hidden files were not looked at, when they were not. */
  readonly hiddenNote: string | null;
  /** The mount points inside this filesystem whose directories the walk looked under. */
  readonly coveringMounts?: readonly string[];
  /** Where it was measured from the host when not at its mount point: /proc/PID/root/MOUNTPOINT. */
  readonly at?: string;
  /** The mount namespace of a mount private to another namespace (a container's); absent for the host's. */
  readonly mountNamespace?: string;
}

/** A mount to measure: the host's own, or one private to another mount namespace, reached through /proc/PID/root. */
export interface MountSite {
  readonly mount: Mount;
  /** The path to measure it at: its mount point, or /proc/PID/root/MOUNTPOINT. */
  readonly at: string;
  /** Set for a mount of another mount namespace. */
  readonly mountNamespace?: string;
  /** The mounts of its namespace (for what covers its directories). */
  readonly mounts: readonly Mount[];
}

/** Filesystems that hold no files of their own: never reconciled. */
const PSEUDO = new Set([
  'proc', 'sysfs', 'cgroup', 'cgroup2', 'devpts', 'mqueue', 'debugfs', 'tracefs', 'securityfs', 'pstore',
  'bpf', 'configfs', 'fusectl', 'autofs', 'binfmt_misc', 'nsfs', 'rpc_pipefs', 'selinuxfs', 'efivarfs',
]); // prettier-ignore

/**
 * The space of the filesystem at `path`, from statfs; for a FUSE or network filesystem (`fstype`)
 * asked in a child process with a time limit (mount-probe.ts): null when it does not answer.
 */
export function readSpaceOf(
  path: string,
  fstype: string,
  timeoutMs: number = MOUNT_ANSWER_TIMEOUT_MS,
): FilesystemSpace | null {
  if (!mayNotAnswer(fstype)) return readSpace(path);
  const answer = probeMounts([path], timeoutMs).get(path);
  return answer?.answered ? answer.space : null;
}

/** The space of the filesystem at `path`, from statfs. */
export function readSpace(path: string): FilesystemSpace | null {
  try {
    const st = statfsSync(path, { bigint: true });
    const size = st.blocks * st.bsize;
    return {
      sizeBytes: Number(size),
      usedBytes: Number((st.blocks - st.bfree) * st.bsize),
      availableBytes: Number(st.bavail * st.bsize),
      reservedBytes: Number((st.bfree - st.bavail) * st.bsize),
    };
  } catch {
    return null;
  }
}

/**
 * The filesystems to reconcile: those holding `paths`, or every real one (one mount per device,
 * the one with the shortest mount point, and only those with a size).
 */
export function chooseMounts(
  mounts: readonly Mount[],
  paths: readonly string[],
  silent: ReadonlySet<string> = new Set(),
  timeoutMs: number = MOUNT_ANSWER_TIMEOUT_MS,
): Mount[] {
  if (paths.length > 0) {
    const chosen = new Map<string, Mount>();
    for (const path of paths) {
      const dev = formatDev(statSync(path, { bigint: true }).dev);
      const found = findMountOfPath(mounts, dev, path);
      // An overlay's space is its upper layer's filesystem's: statfs on it answers with those numbers.
      const mount = found && (upperMountOf(found, mounts) ?? found);
      if (mount && !chosen.has(mount.dev)) chosen.set(mount.dev, mount);
    }
    return [...chosen.values()];
  }
  // A mount over another at the same point hides it (mountinfo lists the covering one later):
  // statfs there answers for the top one only, so the covered one would be listed twice over.
  const top = new Map(mounts.map((mount) => [mount.mountPoint, mount]));
  const byDev = new Map<string, Mount>();
  for (const mount of mounts) {
    // A mount that did not answer is named in `incomplete`, and never asked again.
    if (PSEUDO.has(mount.fstype) || top.get(mount.mountPoint) !== mount || silent.has(mount.dev)) continue;
    // Listed as its upper layer's filesystem, whose numbers statfs gives for it.
    if (upperMountOf(mount, mounts) !== null) continue;
    const seen = byDev.get(mount.dev);
    if (!seen || mount.mountPoint.length < seen.mountPoint.length) byDev.set(mount.dev, mount);
  }
  const chosen = [...byDev.values()];
  // FUSE and network filesystems answer in a child, all at once, within the time limit.
  const probed = probeMounts(
    chosen.filter((m) => mayNotAnswer(m.fstype)).map((m) => m.mountPoint),
    timeoutMs,
  );
  return chosen.filter((mount) => {
    const answer = probed.get(mount.mountPoint);
    const space = answer === undefined ? readSpace(mount.mountPoint) : answer.answered ? answer.space : null;
    return (space?.sizeBytes ?? 0) > 0;
  });
}

/**
 * The filesystems mounted only in other mount namespaces (a container's private tmpfs or
 * volume): real filesystems whose device no host mount shows, once per device, each reached
 * through /proc/PID/root of the process whose mountinfo listed it.
 */
export function choosePrivateMounts(
  namespaces: readonly {
    readonly id: string;
    readonly mounts: readonly Mount[];
    readonly pid?: number;
    readonly root?: string;
  }[],
  hostMounts: readonly Mount[],
  silent: ReadonlySet<string> = new Set(),
  timeoutMs: number = MOUNT_ANSWER_TIMEOUT_MS,
): MountSite[] {
  const seen = new Set([...hostMounts.map((mount) => mount.dev), ...silent]);
  const sites: MountSite[] = [];
  for (const namespace of namespaces) {
    if (namespace.pid === undefined || namespace.mounts === hostMounts) continue;
    const top = new Map(namespace.mounts.map((mount) => [mount.mountPoint, mount]));
    for (const mount of namespace.mounts) {
      if (PSEUDO.has(mount.fstype) || top.get(mount.mountPoint) !== mount || seen.has(mount.dev)) continue;
      const at = pathThroughRoot('/proc', namespace, Buffer.from(mount.mountPoint))?.toString();
      if (at === undefined) continue;
      if ((readSpaceOf(at, mount.fstype, timeoutMs)?.sizeBytes ?? 0) === 0) continue;
      seen.add(mount.dev);
      sites.push({ mount, at, mountNamespace: namespace.id, mounts: namespace.mounts });
    }
  }
  return sites;
}

/**
 * Measures one filesystem: statfs always; with `walk`, a du-style walk; and as root, the files
 * that mounts hide, by walking the filesystem's own tree through a non-recursive bind mount made
 * in a private mount namespace of a child process (the host's mounts are never touched).
 */
export async function measureFilesystem(
  mount: Mount,
  allMounts: readonly Mount[],
  options: {
    walk: boolean;
    onProgress?: (files: number) => void;
    /** Measure at this path instead of the mount point (/proc/PID/root/MOUNTPOINT). */
    at?: string;
    mountNamespace?: string;
    /** Mount points that did not answer: a walk that would stat one is not made. */
    silent?: readonly string[];
    /** How long a FUSE or network mount has to answer statfs. Default 5 s. */
    mountTimeoutMs?: number;
  },
): Promise<FilesystemMeasure | null> {
  if (options.at !== undefined && options.at !== mount.mountPoint) {
    return measurePrivate(mount, options.at, options);
  }
  const space = readSpaceOf(mount.mountPoint, mount.fstype, options.mountTimeoutMs);
  if (!space) return null;
  if (!options.walk)
    return { mount, space, walk: null, hiddenBytes: null, hiddenNote: 'not walked (use --walk)' };
  const covered = allMounts
    .filter(
      (m) => m !== mount && m.mountPoint !== mount.mountPoint && isUnder(m.mountPoint, mount.mountPoint),
    )
    .map((m) => m.mountPoint);
  if (process.geteuid?.() === 0 && covered.length > 0) {
    const hidden = await walkThroughBindMount(mount.mountPoint, covered, options.onProgress);
    if (hidden) {
      return {
        mount,
        space,
        walk: {
          visibleBytes: hidden.allocatedBytes - hidden.hiddenAllocatedBytes,
          errors: hidden.errors,
          files: hidden.files,
        },
        hiddenBytes: hidden.hiddenAllocatedBytes,
        hiddenNote: null,
        coveringMounts: covered,
      };
    }
  }
  // A plain walk stats every mount point it meets (the stat crosses into the mount): one that
  // does not answer would hold it for ever. The bind mount above shows them as plain directories.
  const stuck = (options.silent ?? []).find((point) => isUnder(point, mount.mountPoint));
  if (stuck !== undefined) {
    return {
      mount,
      space,
      walk: null,
      hiddenBytes: null,
      hiddenNote: `not walked: ${stuck} under it does not answer (as root the walk goes around it)`,
    };
  }
  const walked = await walkTree(
    mount.mountPoint,
    options.onProgress ? { onProgress: options.onProgress } : {},
  );
  if ('failure' in walked)
    return { mount, space, walk: null, hiddenBytes: null, hiddenNote: `walk failed: ${walked.failure}` };
  const note =
    covered.length === 0
      ? null
      : process.geteuid?.() === 0
        ? 'could not make a private bind mount'
        : 'needs root';
  return {
    mount,
    space,
    walk: { visibleBytes: walked.allocatedBytes, errors: walked.errors, files: walked.files },
    hiddenBytes: covered.length === 0 ? 0 : null,
    hiddenNote: note,
  };
}

/**
 * A mount of another mount namespace, measured through /proc/PID/root: statfs there, and a walk
 * from there. Hidden files are not looked at: a bind mount cannot be made across namespaces.
 */
async function measurePrivate(
  mount: Mount,
  at: string,
  options: {
    walk: boolean;
    onProgress?: (files: number) => void;
    mountNamespace?: string;
    mountTimeoutMs?: number;
  },
): Promise<FilesystemMeasure | null> {
  const space = readSpaceOf(at, mount.fstype, options.mountTimeoutMs);
  if (!space) return null;
  const base = {
    mount,
    space,
    at,
    ...(options.mountNamespace ? { mountNamespace: options.mountNamespace } : {}),
  };
  if (!options.walk) return { ...base, walk: null, hiddenBytes: null, hiddenNote: 'not walked (use --walk)' };
  const walked = await walkTree(at, options.onProgress ? { onProgress: options.onProgress } : {});
  if ('failure' in walked)
    return { ...base, walk: null, hiddenBytes: null, hiddenNote: `walk failed: ${walked.failure}` };
  return {
    ...base,
    walk: { visibleBytes: walked.allocatedBytes, errors: walked.errors, files: walked.files },
    hiddenBytes: null,
    hiddenNote: 'a mount of another mount namespace: files under its own mounts are not looked at',
  };
}

function isUnder(path: string, dir: string): boolean {
  return dir === '/' ? path.startsWith('/') : path.startsWith(`${dir}/`);
}

/** Runs dist/walk/bind-walk-main.js in a new private mount namespace (util-linux unshare). */
function walkThroughBindMount(
  mountPoint: string,
  covered: readonly string[],
  onProgress?: (files: number) => void,
): Promise<WalkResult | null> {
  try {
    execFileSync('unshare', ['--version'], { stdio: 'ignore' });
  } catch {
    return Promise.resolve(null);
  }
  const script = fileURLToPath(new URL('./bind-walk-main.js', import.meta.url));
  const child = spawn(
    'unshare',
    ['--mount', '--propagation', 'private', '--', process.execPath, script, mountPoint, ...covered],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => {
    const match = /files (\d+)\n?$/.exec(chunk.toString());
    if (match) onProgress?.(Number(match[1]));
  });
  return new Promise((resolve) => {
    child.on('close', (code) => {
      if (code !== 0) return resolve(null);
      try {
        const parsed = JSON.parse(stdout) as Omit<WalkResult, 'errorSamples' | 'linked'>;
        resolve({ ...parsed, errorSamples: [], linked: [] });
      } catch {
        resolve(null);
      }
    });
  });
}
