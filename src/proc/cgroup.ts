import { memoizeByText } from '../core/memo.js';
import { readProcText, type ReadResult } from './read.js';

/** The container runtimes limbo tells apart by the cgroup paths they make. */
export const CONTAINER_RUNTIMES = [
  'docker',
  'containerd',
  'cri-o',
  'podman',
  'lxc',
  'systemd-nspawn',
] as const;
export type ContainerRuntime = (typeof CONTAINER_RUNTIMES)[number];

/** A container, as its cgroup path names it. */
export interface ContainerIdentity {
  readonly runtime: ContainerRuntime;
  /** The container id (64 hex digits for docker, containerd, CRI-O, podman), or its name (LXC, systemd-nspawn). */
  readonly id: string;
  /** The Kubernetes pod UID (with dashes), when the kubelet placed it (kubepods). */
  readonly podUid: string | null;
}

/** Where a process sits in the cgroup tree, and what that says about who runs it. */
export interface CgroupPlacement {
  /** The cgroup v2 path, or the systemd (name=systemd) v1 path, or the first one found. */
  readonly path: string;
  /** The systemd unit (`nginx.service`, `session-3.scope`), when the path names one. */
  readonly unit: string | null;
  /** The container id (64 hex digits, as docker, containerd, CRI-O and podman name them; a name for LXC and systemd-nspawn). */
  readonly container: string | null;
}

const HEX64 = '([0-9a-f]{64})';

/**
 * Each runtime's cgroup names, most specific first. systemd drivers name a scope
 * (`docker-<id>.scope`), cgroupfs drivers a directory (`/docker/<id>`). Conmon's own scopes
 * (`libpod-conmon-<id>`, `crio-conmon-<id>`) are the monitor, not the container, and do not match.
 */
const containerPatterns: readonly { runtime: ContainerRuntime | 'kubepods'; pattern: RegExp }[] = [
  { runtime: 'docker', pattern: new RegExp(`/docker-${HEX64}\\.scope(?:/|$)`) },
  { runtime: 'docker', pattern: new RegExp(`/docker/${HEX64}(?:/|$)`) },
  { runtime: 'containerd', pattern: new RegExp(`/cri-containerd-${HEX64}\\.scope(?:/|$)`) },
  // containerd's own systemd cgroup driver on cgroup v1: <pod slice>:cri-containerd:<id>.
  { runtime: 'containerd', pattern: new RegExp(`:cri-containerd:${HEX64}(?:/|$)`) },
  { runtime: 'cri-o', pattern: new RegExp(`/crio-${HEX64}(?:\\.scope)?(?:/|$)`) },
  { runtime: 'podman', pattern: new RegExp(`/libpod-${HEX64}(?:\\.scope)?(?:/|$)`) },
  { runtime: 'containerd', pattern: new RegExp(`/(?:nerdctl|containerd)-${HEX64}\\.scope(?:/|$)`) },
  { runtime: 'containerd', pattern: new RegExp(`/(?:containerd|libpod)/${HEX64}(?:/|$)`) },
  // kubelet with the cgroupfs driver: /kubepods/<qos>/pod<uid>/<id> (containerd; CRI-O says crio-<id>).
  {
    runtime: 'kubepods',
    pattern: new RegExp(`/kubepods[^/]*/(?:[^/]+/)*pod[0-9a-f_-]+(?:\\.slice)?/${HEX64}(?:/|$)`),
  },
  // LXC 4+ (and LXD, Incus): lxc.payload.<name>; older LXC: /lxc/<name>.
  { runtime: 'lxc', pattern: /\/lxc\.payload\.([^/]+)(?:\/|$)/ },
  { runtime: 'lxc', pattern: /^\/lxc\/([^/]+)(?:\/|$)/ },
  // systemd-nspawn@<name>.service (machinectl start), or a machine-<name>.scope it registered.
  { runtime: 'systemd-nspawn', pattern: /\/systemd-nspawn@([^/]+)\.service(?:\/|$)/ },
  { runtime: 'systemd-nspawn', pattern: /\/machine\.slice\/machine-([^/]+)\.scope(?:\/|$)/ },
  // ctr (containerd without Kubernetes): /<namespace>/<id> under the root.
  { runtime: 'containerd', pattern: new RegExp(`^/[^/]+/${HEX64}(?:/|$)`) },
];

/** Parses /proc/PID/cgroup (v1 and v2 lines alike). */
export function parseCgroup(text: string): CgroupPlacement | null {
  let chosen: string | null = null;
  let fallback: string | null = null;
  for (const line of text.split('\n')) {
    const first = line.indexOf(':');
    const second = line.indexOf(':', first + 1);
    if (first < 0 || second < 0) continue;
    const controllers = line.slice(first + 1, second);
    const path = line.slice(second + 1);
    if (line.startsWith('0::') || controllers === 'name=systemd') {
      if (chosen === null || line.startsWith('0::')) chosen = path;
    } else if (fallback === null) fallback = path;
  }
  const path = chosen ?? fallback;
  if (path === null) return null;
  const container = matchContainer(path);
  // Units below a container's cgroup are the container's own (its systemd's), not the host's: only
  // the path down to the container's own cgroup names a host unit (systemd-nspawn@NAME.service).
  return {
    path,
    unit: findUnit(container ? path.slice(0, container.end) : path),
    container: container?.identity.id ?? null,
  };
}

const parseCgroupOnce = memoizeByText(parseCgroup);

/** Reads and parses /proc/PID/cgroup (a text seen before is not parsed again: its answer is shared). */
export function readCgroup(procRoot: string, pid: number): ReadResult<CgroupPlacement | null> {
  const read = readProcText(`${procRoot}/${pid}/cgroup`);
  return read.ok ? { ok: true, value: parseCgroupOnce(read.value) } : read;
}

/**
 * The uid whose systemd user manager (user@UID.service) holds this cgroup path in its subtree, or
 * null: a unit found below it is that user's, which only that manager can restart.
 */
export function userManagerOf(path: string): number | null {
  const match = /\/user@(\d+)\.service(?:\/|$)/.exec(path);
  return match ? Number(match[1]) : null;
}

function findUnit(path: string): string | null {
  const parts = path.split('/');
  for (let i = parts.length - 1; i >= 0; i--) {
    const part = parts[i] ?? '';
    // The user manager itself runs in user@UID.service/init.scope: its unit is user@UID.service.
    if (part === 'init.scope' && /^user@\d+\.service$/.test(parts[i - 1] ?? ''))
      return parts[i - 1] as string;
    if (
      /\.(service|scope)$/.test(part) &&
      !/^(docker|cri-containerd|crio|libpod|containerd|nerdctl)-/.test(part)
    )
      return part;
  }
  return null;
}

/**
 * The container a cgroup path names: its runtime, its id (or name), and the Kubernetes pod UID
 * when the kubelet made it. Null outside any container. Pure: the analyses call it on the
 * snapshot's cgroup paths, so saved snapshots get the same answer.
 */
export function findContainer(path: string): ContainerIdentity | null {
  return matchContainer(path)?.identity ?? null;
}

/**
 * The container a cgroup path names, and where its component ends in the path: once per distinct
 * path (the analyses ask for every holder, and a service's workers share one cgroup).
 */
const matchContainer = memoizeByText(matchContainerOnce);

function matchContainerOnce(path: string): { identity: ContainerIdentity; end: number } | null {
  for (const { runtime, pattern } of containerPatterns) {
    const match = pattern.exec(path);
    const id = match?.[1];
    if (!match || !id) continue;
    const podUid = findPodUid(path);
    // cgroupfs kubelet paths name the container by id alone: CRI-O says crio-<id>, so this is containerd.
    return {
      identity: { runtime: runtime === 'kubepods' ? 'containerd' : runtime, id, podUid },
      end: match.index + match[0].length,
    };
  }
  return null;
}

/**
 * The cgroup of the monitor of the LXC container whose payload cgroup holds `path`: liblxc (LXC 4+,
 * and so LXD and Incus) makes `lxc.monitor.NAME` beside `lxc.payload.NAME` (src/lxc/cgroups/cgfsng.c,
 * DEFAULT_MONITOR_CGROUP_PREFIX), the monitor process in it. null outside an `lxc.payload.` cgroup
 * (older LXC's `/lxc/NAME` has no monitor cgroup).
 */
export function lxcMonitorCgroupOf(path: string): string | null {
  const match = /^(.*?\/)lxc\.payload\.([^/]+)(?:\/|$)/.exec(path);
  return match ? `${match[1]}lxc.monitor.${match[2]}` : null;
}

/** Whether a cgroup path is an LXC monitor's own (`…/lxc.monitor.NAME`). */
export function isLxcMonitorCgroup(path: string): boolean {
  return /\/lxc\.monitor\.[^/]+$/.test(path);
}

/** `pod<uid>`: with dashes under cgroupfs, with underscores in the systemd driver's slice names. */
function findPodUid(path: string): string | null {
  if (!path.includes('/kubepods')) return null;
  const match =
    /pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})(?:\.slice)?(?:\/|$)/.exec(
      path,
    );
  return match?.[1] ? match[1].replaceAll('_', '-') : null;
}
