import { readProcText, type ReadResult } from './read.js';

/** Where a process sits in the cgroup tree, and what that says about who runs it. */
export interface CgroupPlacement {
  /** The cgroup v2 path, or the systemd (name=systemd) v1 path, or the first one found. */
  readonly path: string;
  /** The systemd unit (`nginx.service`, `session-3.scope`), when the path names one. */
  readonly unit: string | null;
  /** A container id (64 hex digits, as docker, containerd, CRI-O and podman name them). */
  readonly container: string | null;
}

const containerPatterns: readonly RegExp[] = [
  /(?:docker|cri-containerd|crio|libpod|containerd)-([0-9a-f]{64})\.scope/,
  /\/(?:docker|libpod|containerd|crio|kubepods[^/]*\/[^/]+)\/([0-9a-f]{64})(?:\/|$)/,
  /\/libpod-([0-9a-f]{64})(?:\/|$)/,
  /\/([0-9a-f]{64})(?:\/|$)/,
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
  return { path, unit: findUnit(path), container: findContainer(path) };
}

/** Reads and parses /proc/PID/cgroup. */
export function readCgroup(procRoot: string, pid: number): ReadResult<CgroupPlacement | null> {
  const read = readProcText(`${procRoot}/${pid}/cgroup`);
  return read.ok ? { ok: true, value: parseCgroup(read.value) } : read;
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
    if (/\.(service|scope)$/.test(part) && !/^(docker|cri-containerd|crio|libpod|containerd)-/.test(part))
      return part;
  }
  return null;
}

function findContainer(path: string): string | null {
  for (const pattern of containerPatterns) {
    const match = pattern.exec(path);
    if (match?.[1]) return match[1];
  }
  return null;
}
