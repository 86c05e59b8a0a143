// Runs the built CLI (bin/limbo.js) the way a user does, and parses its JSON.
import { spawnSync } from 'node:child_process';
import type { DeletedJson } from '../../src/analyses/deleted-json.js';
import { publicCopy, repoRoot } from './paths.js';

export interface LimboRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  /** Run as this user; the binary then runs from `publicCopy()`, which any user can reach. */
  readonly uid?: number;
  readonly env?: NodeJS.ProcessEnv;
}

/** Runs `limbo ARGS...` and returns its exit code and output. */
export function runLimbo(args: readonly string[], options: RunOptions = {}): LimboRun {
  const root = options.uid !== undefined ? publicCopy() : repoRoot;
  const result = spawnSync(process.execPath, [`${root}bin/limbo.js`, ...args], {
    encoding: 'utf8',
    maxBuffer: 1024 ** 3, // a busy machine's full JSON can pass the 1 MiB default
    env: { ...process.env, NO_COLOR: '', FORCE_COLOR: undefined, ...options.env },
    ...(options.uid !== undefined ? { uid: options.uid, gid: options.uid } : {}),
  });
  return { code: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

/** `limbo deleted --json ARGS...`, parsed; fails loudly when the exit code is not 0. */
export function limboDeleted(args: readonly string[] = [], options: RunOptions = {}): DeletedJson {
  const run = runLimbo(['deleted', '--json', ...args], options);
  if (run.code !== 0) throw new Error(`limbo exited ${run.code}: ${run.stderr}`);
  return JSON.parse(run.stdout) as DeletedJson;
}

export type DeletedFileJson = DeletedJson['files'][number];

/** The entry for one (dev, inode), or undefined. */
export function findFile(report: DeletedJson, dev: string, inode: number): DeletedFileJson | undefined {
  return report.files.find((file) => file.dev === dev && file.inode === inode);
}
