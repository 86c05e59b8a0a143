// A scratch directory for the action tests: its own tmpfs mount when running as root, where
// statfs deltas are exact (nothing else writes there); a plain temporary directory otherwise.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statfsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Scratch {
  /** Where the test files go. */
  readonly dir: string;
  /** True when `dir` is a tmpfs of its own: free space there moves only with the test's files. */
  readonly exact: boolean;
  remove(): void;
}

export const isRoot = process.geteuid?.() === 0;

/** Creates the scratch directory (and mounts its tmpfs of `size` as root); `remove` undoes both. */
export function makeScratch(prefix: string, size = '64m'): Scratch {
  const base = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(base, 0o755);
  if (!isRoot)
    return { dir: base, exact: false, remove: () => rmSync(base, { recursive: true, force: true }) };
  const dir = join(base, 'fs');
  mkdirSync(dir);
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0755`, 'limbo-test', dir]);
  return {
    dir,
    exact: true,
    remove() {
      execFileSync('umount', ['-l', dir]);
      rmSync(base, { recursive: true, force: true });
    },
  };
}

/** What df shows as "Avail" for the filesystem of `path`: f_bavail × f_bsize. */
export function availableBytes(path: string): number {
  const st = statfsSync(path, { bigint: true });
  return Number(st.bavail * st.bsize);
}

/** Polls `check` until it returns true, or fails after `ms`. */
export async function waitUntil(check: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
