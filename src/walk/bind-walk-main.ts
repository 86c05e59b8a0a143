// Runs inside `unshare --mount --propagation private`: bind-mounts one filesystem's tree (without
// its submounts) on a temporary directory and walks it, totalling apart what the submounts cover.
// Only this process's private namespace sees the bind mount; it vanishes when the process exits.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { walkTree } from './walk-tree.js';

const [mountPoint, ...covered] = process.argv.slice(2);
if (!mountPoint) {
  process.stderr.write('usage: bind-walk-main MOUNTPOINT [COVERED...]\n');
  process.exit(2);
}
const target = mkdtempSync(join(tmpdir(), 'limbo-bind-'));
try {
  execFileSync('mount', ['--bind', '-o', 'ro', mountPoint, target], { stdio: 'ignore' });
} catch {
  // some kernels refuse ro on the first bind: bind, then remount read-only
  execFileSync('mount', ['--bind', mountPoint, target], { stdio: 'ignore' });
}
const inside = (path: string) => join(target, mountPoint === '/' ? path : path.slice(mountPoint.length));
const result = await walkTree(target, {
  hidden: covered.map(inside),
  onProgress: (files) => process.stderr.write(`files ${files}\n`),
});
execFileSync('umount', [target]);
rmdirSync(target);
if ('failure' in result) process.exit(1);
const { allocatedBytes, hiddenAllocatedBytes, files, dirs, errors } = result;
process.stdout.write(JSON.stringify({ allocatedBytes, hiddenAllocatedBytes, files, dirs, errors }));
