// Real processes in real kernel states: spawns test/fixtures/holder (see holder.c) and waits
// until it reports READY, so a test can point limbo at it and compare with what the kernel says.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { statSync } from 'node:fs';
import { formatDev } from '../../src/proc/file-stat.js';
import { publicCopy, repoRoot } from './paths.js';

export const holderBinary = `${repoRoot}test/fixtures/bin/holder`;

export interface Holder {
  readonly pid: number;
  readonly children: readonly number[];
  readonly fds: readonly number[];
  /** SysV segments it created (`shm` op). */
  readonly shmids: readonly number[];
  /** Ends the holder and its children and waits for them to go. */
  stop(): Promise<void>;
}

export interface HolderOptions {
  readonly uid?: number;
  readonly gid?: number;
  /** Run this copy of the holder instead of the built one (e.g. to replace its executable). */
  readonly binary?: string;
  /** A command that execs the holder, e.g. to start it in new namespaces: ['unshare', '-m', 'sh', '-c', '... exec "$0" "$@"']. */
  readonly wrapper?: readonly string[];
}

/** Starts a holder running `ops` (see holder.c) and resolves once it is in its state. */
export function startHolder(ops: readonly string[], options: HolderOptions = {}): Promise<Holder> {
  // Another user may not reach this checkout; it runs the world-readable copy instead.
  const binary =
    options.binary ?? (options.uid !== undefined ? `${publicCopy()}test/fixtures/bin/holder` : holderBinary);
  const [command, ...args] = options.wrapper ? [...options.wrapper, binary, ...ops] : [binary, ...ops];
  const child: ChildProcess = spawn(command as string, args, {
    stdio: ['pipe', 'pipe', 'pipe'],
    ...(options.uid !== undefined ? { uid: options.uid, gid: options.gid ?? options.uid } : {}),
  });
  let stdout = '';
  let stderr = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`holder did not get ready: ${stderr}`)), 10_000);
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`holder exited with ${code}: ${stderr}`));
    });
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const match = /READY (\{.*\})\n/.exec(stdout);
      if (!match) return;
      clearTimeout(timer);
      child.removeAllListeners('exit');
      const state = JSON.parse(match[1] as string) as {
        pid: number;
        children: number[];
        fds: number[];
        shmids: number[];
      };
      resolve({
        ...state,
        stop: () =>
          new Promise<void>((done) => {
            for (const pid of state.children) tryKill(pid);
            if (child.exitCode !== null || child.signalCode !== null) return done();
            child.on('exit', () => done());
            tryKill(state.pid);
          }),
      });
    });
  });
}

function tryKill(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** What the kernel says about a file through a /proc link: the truth limbo must match. */
export function kernelStat(link: string): {
  dev: string;
  inode: number;
  size: number;
  allocated: number;
  nlink: number;
} {
  const st = statSync(link, { bigint: true });
  return {
    dev: formatDev(st.dev),
    inode: Number(st.ino),
    size: Number(st.size),
    allocated: Number(st.blocks) * 512,
    nlink: Number(st.nlink),
  };
}

/**
 * Removes the SysV segments a holder created (IPC_RMID): a segment outlives its creator, so a test
 * that made one for another purpose would otherwise leave an orphan on the machine after every run.
 */
export function removeSegments(holder: Holder): void {
  for (const id of holder.shmids) {
    try {
      execFileSync('ipcrm', ['-m', String(id)], { stdio: 'ignore' });
    } catch {
      // already gone: its last attacher detached after an IPC_RMID of its own
    }
  }
}
