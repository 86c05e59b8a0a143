// Where the checkout is, and a copy of it that any user can run.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The repository root (tests run compiled, from .test-build/test/helpers). */
export const repoRoot = new URL('../../../', import.meta.url).pathname;

let publicRoot: string | null = null;

/**
 * A copy of what limbo needs at run time (bin, dist, the addon, package.json) plus the test
 * holder, in a directory every user can read: a checkout under a 0700 directory (mktemp -d,
 * a CI workspace) is out of reach for an unprivileged user. Made once per test process.
 */
export function publicCopy(): string {
  if (publicRoot) return publicRoot;
  const root = mkdtempSync(join(tmpdir(), 'limbo-public-'));
  chmodSync(root, 0o755);
  const parts = ['bin', 'dist', 'package.json', 'build', 'test/fixtures/bin'];
  execFileSync('cp', ['-r', '--parents', ...parts, root], { cwd: repoRoot });
  execFileSync('chmod', ['-R', 'a+rX', root]);
  publicRoot = `${root}/`;
  process.on('exit', () => execFileSync('rm', ['-rf', root]));
  return publicRoot;
}
