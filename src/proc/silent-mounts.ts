// The skip rule every scan of fd links shares: before any stat, every FUSE and network mount of
// every mount namespace seen is asked (mount-probe.ts, in a child killed when it does not
// answer); afterwards a link whose text lies under a mount that did not answer is not stat-ed
// (the stat would wait for ever), and counted there instead.
import type { NativeSkipRule } from '../native.js';
import type { SkipLink } from './fd-table.js';
import { mayNotAnswer, probeMounts } from './mount-probe.js';
import { pathThroughRoot, type Mount } from './mountinfo.js';

/**
 * A mount whose filesystem did not answer (a stopped FUSE daemon, an NFS server gone): limbo
 * skipped every call on it and names it, instead of waiting for ever.
 */
export interface UnansweredMount {
  readonly mountPoint: string;
  readonly fstype: string;
  readonly dev: string;
  /** Its mount namespace; null when it is limbo's own. */
  readonly mountNamespace: string | null;
  /** The path limbo asked: the mount point, or /proc/PID/root/MOUNTPOINT for another namespace's. */
  readonly path: string;
  /** How long limbo waited for statfs, in milliseconds. */
  readonly waitedMilliseconds: number;
  /** Descriptors and mappings whose files on it were not stat-ed: what they hold is unknown. */
  readonly skipped: number;
}

/** One mount namespace's table, and a process of it whose root reaches its mounts (none for limbo's own). */
export interface NamespaceMounts {
  readonly id: string;
  readonly mounts: readonly Mount[];
  readonly pid?: number;
  /** The root of the process `pid`, when it is not the namespace's (its table was translated). */
  readonly root?: string;
}

/** A mount that did not answer, and what the scan left unread on it. */
export class SilentMount {
  skipped = 0;
  /** The mount point's bytes, as fd links and maps print it. */
  readonly prefix: Buffer;

  constructor(
    readonly mount: Mount,
    readonly namespace: string | null,
    readonly path: string,
    readonly waitedMilliseconds: number,
  ) {
    this.prefix = mount.mountPointBytes ?? Buffer.from(mount.mountPoint);
  }

  /** Whether a name is the mount point or under it. */
  holds(name: Buffer): boolean {
    const p = this.prefix;
    if (p.length === 1) return name[0] === 0x2f;
    return name.subarray(0, p.length).equals(p) && (name.length === p.length || name[p.length] === 0x2f);
  }

  record(): UnansweredMount {
    return {
      mountPoint: this.mount.mountPoint,
      fstype: this.mount.fstype,
      dev: this.mount.dev,
      mountNamespace: this.namespace,
      path: this.path,
      waitedMilliseconds: this.waitedMilliseconds,
      skipped: this.skipped,
    };
  }
}

/**
 * Probes every FUSE and network mount of `namespaces` (once per device, all at once, in one
 * child process) and returns those that did not answer in `timeoutMs`. Another namespace's
 * mounts are asked through /proc/PID/root of its process; one without a process is left out.
 */
export function findSilentMounts(
  procRoot: string,
  namespaces: Iterable<NamespaceMounts>,
  hostNamespace: string | null,
  timeoutMs: number,
): SilentMount[] {
  const byDev = new Map<string, string>();
  const sites: { namespace: NamespaceMounts; mount: Mount; path: string }[] = [];
  for (const namespace of namespaces) {
    const host = namespace.id === hostNamespace;
    if (!host && namespace.pid === undefined) continue;
    for (const mount of namespace.mounts) {
      if (!mayNotAnswer(mount.fstype)) continue;
      const through = host
        ? null
        : pathThroughRoot(procRoot, namespace, mount.mountPointBytes ?? Buffer.from(mount.mountPoint));
      if (!host && through === null) continue;
      const path = through?.toString() ?? mount.mountPoint;
      sites.push({ namespace, mount, path });
      if (!byDev.has(mount.dev)) byDev.set(mount.dev, path);
    }
  }
  if (sites.length === 0) return [];
  const answers = probeMounts([...byDev.values()], timeoutMs);
  return sites
    .filter((site) => answers.get(byDev.get(site.mount.dev) ?? '')?.answered === false)
    .map(
      (site) =>
        new SilentMount(
          site.mount,
          site.namespace.id === hostNamespace ? null : site.namespace.id,
          site.path,
          timeoutMs,
        ),
    );
}

/**
 * True when `target` (an fd link or a mapping's name, as a process of `namespace` shows it) is
 * on a mount that did not answer: it must not be stat-ed, and it is counted there.
 */
export function skipOnSilentMount(
  silent: readonly SilentMount[],
  namespace: string | null,
  target: Buffer,
): boolean {
  for (const mount of silent) {
    if (mount.namespace !== null && mount.namespace !== namespace) continue;
    if (mount.holds(target)) {
      mount.skipped++;
      return true;
    }
  }
  return false;
}

/**
 * The skip rule for a batch of fd directories, the `i`th read by a process of namespace
 * `namespaceOfDir[i]` (null: limbo's own), as a function and as data for the addon; null when
 * every mount answered.
 */
export function skipLinkOf(
  silent: readonly SilentMount[],
  namespaceOfDir: readonly (string | null)[],
): SkipLink | null {
  if (silent.length === 0) return null;
  const groupOfNamespace = new Map<string | null, number>();
  const groups: Buffer[][] = [];
  const groupOfDir = Int32Array.from(namespaceOfDir, (namespace) => {
    let group = groupOfNamespace.get(namespace);
    if (group === undefined) {
      const prefixes = silent
        .filter((m) => m.namespace === null || m.namespace === namespace)
        .map((m) => m.prefix);
      group = prefixes.length === 0 ? -1 : groups.push(prefixes) - 1;
      groupOfNamespace.set(namespace, group);
    }
    return group;
  });
  const rule: NativeSkipRule = { groups, groupOfDir };
  const skip = (dirIndex: number, target: Buffer): boolean =>
    skipOnSilentMount(silent, namespaceOfDir[dirIndex] ?? null, target);
  const holds = (dirIndex: number, target: Buffer): boolean => {
    const namespace = namespaceOfDir[dirIndex] ?? null;
    return silent.some((m) => (m.namespace === null || m.namespace === namespace) && m.holds(target));
  };
  return Object.assign(skip, { rule, holds });
}

/**
 * The mounts that did not answer, once per filesystem: another namespace's copy of a host
 * mount (every unshare copies them) is the host's one, its skipped descriptors added to it.
 */
export function unansweredRecordsOf(silent: readonly SilentMount[]): UnansweredMount[] {
  const byDev = new Map<string, UnansweredMount>();
  // The host's own first, so a filesystem is named by its mount point on the host.
  const ordered = [...silent].sort((a, b) => Number(a.namespace !== null) - Number(b.namespace !== null));
  for (const mount of ordered) {
    const record = mount.record();
    const seen = byDev.get(record.dev);
    byDev.set(record.dev, seen ? { ...seen, skipped: seen.skipped + record.skipped } : record);
  }
  return [...byDev.values()];
}
