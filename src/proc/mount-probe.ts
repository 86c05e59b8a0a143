// Bounded statfs for mounts that can stop answering. A FUSE daemon that is stopped, or an NFS,
// CIFS or 9p server that is gone, leaves every stat and statfs on its mount waiting in the kernel
// (FUSE: fs/fuse/dev.c request_wait_answer). Such a wait on Node's main thread cannot be
// interrupted by SIGTERM (Node handles SIGTERM, so it is not fatal and the killable wait goes on),
// and one in the libuv threadpool keeps the process from exiting. So limbo never calls into such
// a mount itself before a child process has shown, within a time limit, that it answers; the
// child is killed (SIGKILL ends a killable wait) when it does not.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** How long a mount has to answer statfs before limbo skips it and says so. */
export const MOUNT_ANSWER_TIMEOUT_MS = 5000;

/**
 * Filesystems served by a process or over a network: their calls can wait for ever. Local disk
 * and memory filesystems answer from the kernel and are not probed.
 */
export function mayNotAnswer(fstype: string): boolean {
  return (
    fstype === 'fuse' ||
    fstype === 'fuseblk' ||
    fstype.startsWith('fuse.') ||
    /^(nfs|nfs4|cifs|smb3|smbfs|9p|ceph|glusterfs|lustre|afs|ncpfs|coda|davfs|virtiofs|orangefs|beegfs)$/.test(
      fstype,
    )
  );
}

/** statfs of one filesystem, in bytes. */
export interface StatfsBytes {
  readonly sizeBytes: number;
  readonly usedBytes: number;
  readonly availableBytes: number;
  readonly reservedBytes: number;
}

/** What one path's statfs gave in the child: its numbers, an error code, or no answer in time. */
export type ProbeAnswer =
  | { readonly answered: true; readonly space: StatfsBytes | null; readonly error: string | null }
  | { readonly answered: false };

/**
 * statfs of every path at once in a child process, each on its own thread; a path that has not
 * answered after `timeoutMs` is `{ answered: false }`, and the child is killed. One child for
 * all the paths: one start-up (about 50 ms), and a hung mount delays the others by nothing.
 */
export function probeMounts(
  paths: readonly string[],
  timeoutMs: number = MOUNT_ANSWER_TIMEOUT_MS,
): Map<string, ProbeAnswer> {
  const answers = new Map<string, ProbeAnswer>();
  if (paths.length === 0) return answers;
  const script = fileURLToPath(new URL('./mount-probe-main.js', import.meta.url));
  const child = spawnSync(process.execPath, [script, String(timeoutMs), ...paths], {
    encoding: 'utf8',
    // The child kills itself at timeoutMs; this is the backstop should it not even start.
    timeout: timeoutMs + 5000,
    killSignal: 'SIGKILL',
    maxBuffer: 16 * 1024 * 1024,
    // Every statfs on its own thread: one that waits must not hold up the others.
    env: { ...process.env, UV_THREADPOOL_SIZE: String(Math.min(1024, Math.max(4, paths.length))) },
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  for (const line of (child.stdout ?? '').split('\n')) {
    if (line === '') continue;
    let parsed: { i: number; space?: StatfsBytes; error?: string };
    try {
      parsed = JSON.parse(line) as typeof parsed;
    } catch {
      continue;
    }
    const path = paths[parsed.i];
    if (path === undefined) continue;
    answers.set(path, { answered: true, space: parsed.space ?? null, error: parsed.error ?? null });
  }
  for (const path of paths) if (!answers.has(path)) answers.set(path, { answered: false });
  return answers;
}
