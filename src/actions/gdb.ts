// The one door to gdb, which limbo drives to make a running process close (or redirect) one of
// its own descriptors. gdb stops every thread of the process while it works, checks the fd is
// still the file limbo examined (from inside that stop, so the number cannot be reused in
// between), calls close() or dup2() in it, restores its errno, and detaches.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

/** What gdb reported. */
export type GdbOutcome =
  | { readonly kind: 'done'; readonly output: string }
  /** The call ran in the process and failed: errno as the process saw it. */
  | { readonly kind: 'call-failed'; readonly errno: number; readonly output: string }
  /** The fd no longer referred to the file examined when gdb had stopped the process: nothing done. */
  | { readonly kind: 'changed'; readonly output: string }
  /** gdb could not attach, or could not call functions in the process (no symbols, static binary). */
  | { readonly kind: 'gdb-failed'; readonly output: string };

export interface GdbCall {
  readonly pid: number;
  readonly fd: number;
  /** st_dev and st_ino the fd must still have (`stat -L` through /proc, inside the stop). */
  readonly dev: bigint;
  readonly ino: bigint;
  /** Its birth time in whole seconds (`stat -c %W`), or null when the filesystem keeps none. */
  readonly bornSeconds: bigint | null;
  /** `close`: close(fd). `devnull`: point fd at /dev/null (open, dup2, close), so its number stays taken. */
  readonly how: 'close' | 'devnull';
  readonly procRoot: string;
}

const TIMEOUT_MS = 120_000;

/** The gdb on PATH, or null. */
export function findGdb(env: NodeJS.ProcessEnv = process.env): string | null {
  for (const dir of (env['PATH'] ?? '/usr/bin:/bin').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, 'gdb');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

/** Runs gdb in batch mode on `call.pid` with the script below; never throws. */
export function runGdbCall(gdb: string, call: GdbCall): GdbOutcome {
  const dir = mkdtempSync(join(tmpdir(), 'limbo-gdb-'));
  try {
    const script = join(dir, 'close.gdb');
    writeFileSync(script, gdbScript(call), { mode: 0o600 });
    const run = spawnSync(
      gdb,
      ['-nx', '-q', '-batch', '-iex', 'set debuginfod enabled off', '-p', String(call.pid), '-x', script],
      {
        encoding: 'utf8',
        timeout: TIMEOUT_MS,
        killSignal: 'SIGTERM',
        // `shell` runs the identity check with /bin/sh, never the user's login shell.
        env: { ...process.env, SHELL: '/bin/sh', LC_ALL: 'C' },
      },
    );
    const output = `${run.stdout ?? ''}${run.stderr ?? ''}`;
    if (run.error) return { kind: 'gdb-failed', output: `${run.error.message}\n${output}` };
    if (/^limbo-changed$/m.test(output)) return { kind: 'changed', output };
    const result = /^limbo-result (-?\d+) (-?\d+)$/m.exec(output);
    if (!result) return { kind: 'gdb-failed', output };
    const rc = Number(result[1]);
    return rc < 0 ? { kind: 'call-failed', errno: Number(result[2]), output } : { kind: 'done', output };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The gdb script. Only numbers are interpolated. The identity check (dev, inode, and birth
 * time where the filesystem keeps one) runs while gdb holds the process stopped; errno is saved before and restored after, so a failed call leaves the
 * process's errno as it was. O_RDWR is 2 on every Linux architecture.
 */
function gdbScript(call: GdbCall): string {
  const { fd, pid } = call;
  const link = `${call.procRoot}/${pid}/fd/${fd}`;
  const act =
    call.how === 'close'
      ? [`  set $limbo_rc = (int) close(${fd})`]
      : [
          '  set $limbo_null = (int) open("/dev/null", 2)',
          `  set $limbo_rc = $limbo_null < 0 ? -1 : (int) dup2($limbo_null, ${fd})`,
          `  if $limbo_null >= 0 && $limbo_null != ${fd}`,
          '    call (int) close($limbo_null)',
          '  end',
        ];
  return [
    'set confirm off',
    'set pagination off',
    call.bornSeconds === null
      ? `shell test "$(stat -L -c %d:%i ${link} 2>/dev/null)" = "${call.dev}:${call.ino}"`
      : `shell test "$(stat -L -c %d:%i:%W ${link} 2>/dev/null)" = "${call.dev}:${call.ino}:${call.bornSeconds}"`,
    'if $_shell_exitcode == 0',
    '  set $limbo_errno = *(int *) __errno_location()',
    ...act,
    '  printf "limbo-result %d %d\\n", $limbo_rc, *(int *) __errno_location()',
    '  set var *(int *) __errno_location() = $limbo_errno',
    'else',
    '  printf "limbo-changed\\n"',
    'end',
    'detach',
    '',
  ].join('\n');
}
