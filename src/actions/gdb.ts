// The one door to gdb, which limbo drives to make a running process close (or redirect) one of
// its own descriptors. gdb stops every thread of the process while it works, checks the fd is
// still the file limbo examined (from inside that stop, so the number cannot be reused in
// between), makes the process run close() or dup2() on it, and detaches.
//
// On x86_64 the process runs a raw system call, injected by registers: gdb points the program
// counter of the stopped thread at a `syscall` instruction already in the process, loads the
// call's number and arguments, steps over that one instruction, reads the result and puts every
// register back. It writes only general-purpose registers. gdb's `call` would save and restore
// the whole register file instead, and writing the XSAVE area back fails ("Couldn't write
// extended state status: Bad address") on CPUs with dynamically enabled state (AMX); it also
// needs symbols and runs the C library's wrappers, which set errno. A raw system call needs no
// symbol and leaves errno alone. Other architectures keep the `call` path.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { readMaps } from '../proc/maps.js';

/** The system calls limbo makes the process run. */
export type GdbSyscall = 'open' | 'dup2' | 'close';

/** What gdb reported. */
export type GdbOutcome =
  | { readonly kind: 'done'; readonly output: string }
  /** The call ran in the process and failed with this errno. */
  | {
      readonly kind: 'call-failed';
      readonly call: GdbSyscall;
      readonly errno: number;
      readonly output: string;
    }
  /** The fd no longer referred to the file examined when gdb had stopped the process: nothing done. */
  | { readonly kind: 'changed'; readonly output: string }
  /** gdb could not attach, or could not make the process run the call; `reason` says why when known. */
  | { readonly kind: 'gdb-failed'; readonly reason?: string; readonly output: string };

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
/** Attempts when a signal interrupts the injection before anything ran. */
const ATTEMPTS = 3;

/** x86_64 system call numbers (arch/x86/entry/syscalls/syscall_64.tbl). */
const X86_64_NR: Record<GdbSyscall, number> = { open: 2, close: 3, dup2: 33 };
/** Argument registers of the x86_64 system call convention, in order. */
const X86_64_ARGS = ['$rdi', '$rsi', '$rdx'];
/**
 * Every register the injection touches: the call's number and arguments, what `syscall` itself
 * clobbers ($rcx, $r11), the flags the single step runs with, and $orig_rax, which tells the
 * kernel whether (and which) interrupted system call to restart. $pc is restored first: gdb may
 * reset $orig_rax when the program counter is written.
 */
const X86_64_SAVED = [
  'pc',
  'rsp',
  'rax',
  'rdi',
  'rsi',
  'rdx',
  'r10',
  'r8',
  'r9',
  'rcx',
  'r11',
  'eflags',
  'orig_rax',
];
/** At most this many executable mappings are searched for a `syscall` instruction. */
const MAX_RANGES = 8;

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

/**
 * Runs gdb in batch mode on `call.pid` with the script below; never throws. A signal that
 * reached the process while it was stopped ends the attempt before anything ran (and is
 * delivered when gdb detaches): the next attempt, from a fresh stop, usually finds none.
 */
export function runGdbCall(gdb: string, call: GdbCall): GdbOutcome {
  let outcome = runGdbOnce(gdb, call);
  for (let attempt = 1; attempt < ATTEMPTS && nothingRan(outcome); attempt++) {
    outcome = runGdbOnce(gdb, call);
  }
  return outcome;
}

function nothingRan(outcome: GdbOutcome): boolean {
  return (
    outcome.kind === 'gdb-failed' &&
    /^limbo-interrupted /m.test(outcome.output) &&
    !/^limbo-result /m.test(outcome.output)
  );
}

function runGdbOnce(gdb: string, call: GdbCall): GdbOutcome {
  const dir = mkdtempSync(join(tmpdir(), 'limbo-gdb-'));
  try {
    const script = join(dir, 'close.gdb');
    writeFileSync(script, gdbScript(call, executableRanges(call.procRoot, call.pid)), { mode: 0o600 });
    const run = spawnSync(
      gdb,
      ['-nx', '-q', '-batch', '-iex', 'set debuginfod enabled off', '-p', String(call.pid), '-x', script],
      {
        encoding: 'utf8',
        timeout: TIMEOUT_MS,
        killSignal: 'SIGTERM',
        env: {
          ...process.env,
          // `shell` runs the identity check with /bin/sh, never the user's login shell.
          SHELL: '/bin/sh',
          LC_ALL: 'C',
          // The fd's link reaches the check through the environment, never through the script
          // text: a --proc path may hold spaces, quotes, `$(...)` or a newline.
          LIMBO_FD_LINK: `${call.procRoot}/${call.pid}/fd/${call.fd}`,
        },
      },
    );
    const output = `${run.stdout ?? ''}${run.stderr ?? ''}`;
    if (run.error) return { kind: 'gdb-failed', output: `${run.error.message}\n${output}` };
    return readOutcome(call.how, output);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** What the script printed, as an outcome. Exported for tests. */
export function readOutcome(how: 'close' | 'devnull', output: string): GdbOutcome {
  if (/^limbo-changed$/m.test(output)) return { kind: 'changed', output };
  const results = new Map<string, number>();
  for (const match of output.matchAll(/^limbo-result (open|dup2|close) (-?\d+)$/gm)) {
    results.set(match[1] as string, Number(match[2]));
  }
  const failed = (call: GdbSyscall): GdbOutcome | null => {
    const value = results.get(call);
    return value !== undefined && value < 0 ? { kind: 'call-failed', call, errno: -value, output } : null;
  };
  const last: GdbSyscall = how === 'close' ? 'close' : 'dup2';
  const failure = (how === 'devnull' ? failed('open') : null) ?? failed(last);
  if (failure) return failure;
  if (results.has(last)) return { kind: 'done', output };
  const interrupted = /^limbo-interrupted (open|dup2|close)$/m.exec(output);
  if (interrupted) {
    const signal = /^Program received signal (SIG[A-Z0-9+-]+)/m.exec(output)?.[1];
    return {
      kind: 'gdb-failed',
      reason: `a signal${signal ? ` (${signal})` : ''} reached the process before its ${interrupted[1]} ran, so limbo stopped there${
        results.has('open')
          ? ` (fd ${results.get('open')}, on /dev/null, which it had opened first, stays open)`
          : `, ${ATTEMPTS} times; nothing was changed`
      }; its registers were put back and the signal delivered (a process taking signals this often, from a fast timer for example, cannot be acted on this way)`,
      output,
    };
  }
  if (/^limbo-no-syscall$/m.test(output)) {
    return {
      kind: 'gdb-failed',
      reason: 'found no system call instruction in the process to run the call with; nothing was changed',
      output,
    };
  }
  return { kind: 'gdb-failed', output };
}

/** Address ranges of the process's executable mappings, the vDSO and the C library first. */
export function executableRanges(procRoot: string, pid: number): [bigint, bigint][] {
  const maps = readMaps(`${procRoot}/${pid}/maps`);
  if (!maps.ok) return [];
  const ranges: { start: bigint; end: bigint; rank: number }[] = [];
  for (const entry of maps.value) {
    if (entry.perms[2] !== 'x') continue;
    const path = entry.path.toString('latin1');
    // [vsyscall] is emulated: it cannot be read, and holds no instruction to run.
    if (path === '[vsyscall]') continue;
    const rank = path === '[vdso]' ? 0 : /\/libc[.-]/.test(path) ? 1 : 2;
    const [start = '0', end = '0'] = entry.range.split('-');
    ranges.push({ start: BigInt(`0x${start}`), end: BigInt(`0x${end}`), rank });
  }
  return ranges
    .sort((a, b) => a.rank - b.rank)
    .slice(0, MAX_RANGES)
    .map((r) => [r.start, r.end]);
}

/**
 * The gdb script. Only numbers are interpolated. The identity check (dev, inode, and birth
 * time where the filesystem keeps one) runs while gdb holds the process stopped, with every
 * thread kept stopped (scheduler-locking) until gdb detaches. Then, when the stopped thread has
 * x86_64 registers, the register path; otherwise the `call` path, which saves errno before and
 * restores it after. Each call prints `limbo-result NAME VALUE`, VALUE as the kernel returns it
 * (negative: -errno). O_RDWR is 2 on every Linux architecture.
 */
export function gdbScript(call: GdbCall, ranges: readonly (readonly [bigint, bigint])[]): string {
  const identity =
    call.bornSeconds === null
      ? `shell test "$(stat -L -c %d:%i -- "$LIMBO_FD_LINK" 2>/dev/null)" = "${call.dev}:${call.ino}"`
      : `shell test "$(stat -L -c %d:%i:%W -- "$LIMBO_FD_LINK" 2>/dev/null)" = "${call.dev}:${call.ino}:${call.bornSeconds}"`;
  return [
    'set confirm off',
    'set pagination off',
    'set scheduler-locking on',
    identity,
    'if $_shell_exitcode != 0',
    '  printf "limbo-changed\\n"',
    'else',
    '  if $_isvoid($orig_rax)',
    ...indent(callPath(call), 4),
    '  else',
    ...indent(x86_64Path(call, ranges), 4),
    '  end',
    'end',
    'detach',
    '',
  ].join('\n');
}

/** Through gdb's `call`, on architectures limbo has no register recipe for (arm64, i386...). */
function callPath(call: GdbCall): string[] {
  const { fd } = call;
  const result = (name: GdbSyscall, rc: string) => [
    `set $limbo_ret = ${rc} < 0 ? -*(int *) __errno_location() : ${rc}`,
    `printf "limbo-result ${name} %d\\n", $limbo_ret`,
  ];
  const act =
    call.how === 'close'
      ? [`set $limbo_rc = (int) close(${fd})`, ...result('close', '$limbo_rc')]
      : [
          'set $limbo_null = (int) open("/dev/null", 2)',
          ...result('open', '$limbo_null'),
          'if $limbo_null >= 0',
          `  set $limbo_rc = (int) dup2($limbo_null, ${fd})`,
          ...indent(result('dup2', '$limbo_rc'), 2),
          `  if $limbo_null != ${fd}`,
          '    call (int) close($limbo_null)',
          '  end',
          'end',
        ];
  return [
    'set $limbo_errno = *(int *) __errno_location()',
    ...act,
    'set var *(int *) __errno_location() = $limbo_errno',
  ];
}

/**
 * The register path. The `syscall` instruction: the one the thread is stopped just after when
 * it sits in a system call (the common case: read, poll, nanosleep...), else the first one
 * found in the vDSO or the C library. $orig_rax is set to -1 while the injected call runs, so
 * the kernel applies no restart logic to it; restoring the saved $orig_rax and $rax lets the
 * kernel restart the interrupted call on resume, exactly as after any ptrace stop. If a signal
 * arrives during the step, gdb stops on it (handle all stop) before the instruction runs: the
 * script then steps no more, puts everything back and gdb hands the signal over on detach.
 */
function x86_64Path(call: GdbCall, ranges: readonly (readonly [bigint, bigint])[]): string[] {
  const { fd } = call;
  const find = ranges.flatMap(([start, end]) => [
    'if $limbo_sc == 0',
    `  find /b1 0x${start.toString(16)}, 0x${(end - 1n).toString(16)}, 0x0f, 0x05`,
    '  if $numfound > 0',
    '    set $limbo_sc = (unsigned long) $_',
    '  end',
    'end',
  ]);
  const save = X86_64_SAVED.map((r) => `set $limbo_r_${r} = $${r}`);
  const restore = X86_64_SAVED.map((r) => `set $${r} = $limbo_r_${r}`);
  // Runs one system call; on success $limbo_NAME holds what the kernel returned.
  const inject = (name: GdbSyscall, args: (string | number)[]): string[] => [
    'set $pc = $limbo_sc',
    'set $orig_rax = -1',
    `set $rax = ${X86_64_NR[name]}`,
    ...args.map((arg, i) => `set ${X86_64_ARGS[i] as string} = ${arg}`),
    'stepi',
    'if (unsigned long) $pc == $limbo_sc + 2',
    `  set $limbo_${name} = (long) $rax`,
    `  printf "limbo-result ${name} %ld\\n", $limbo_${name}`,
    'else',
    '  set $limbo_ok = 0',
    `  printf "limbo-interrupted ${name}\\n"`,
    'end',
  ];
  // The path string goes below the red zone (128 bytes under $rsp, which leaf functions may
  // use); the 16 bytes it covers are saved and written back afterwards.
  const act =
    call.how === 'close'
      ? inject('close', [fd])
      : [
          ...inject('open', ['$limbo_buf', 2, 0]),
          'if $limbo_ok && $limbo_open >= 0',
          ...indent(inject('dup2', ['$limbo_open', fd]), 2),
          `  if $limbo_ok && $limbo_open != ${fd}`,
          ...indent(inject('close', ['$limbo_open']), 4),
          '  end',
          'end',
        ];
  const buffer =
    call.how === 'close'
      ? []
      : [
          'set $limbo_buf = ((unsigned long) $rsp - 256) & ~15',
          'set $limbo_m0 = *(unsigned long *) $limbo_buf',
          'set $limbo_m1 = *(unsigned long *) ($limbo_buf + 8)',
          'set {char[10]} $limbo_buf = "/dev/null"',
        ];
  const unbuffer =
    call.how === 'close'
      ? []
      : [
          'set *(unsigned long *) $limbo_buf = $limbo_m0',
          'set *(unsigned long *) ($limbo_buf + 8) = $limbo_m1',
        ];
  return [
    'handle all stop print pass',
    'set $limbo_sc = 0',
    // Defined before any `if` reads them: gdb type-checks both sides of &&.
    'set $limbo_open = 0',
    'if $orig_rax >= 0',
    '  if *(unsigned short *) ((unsigned long) $pc - 2) == 0x050f',
    '    set $limbo_sc = (unsigned long) $pc - 2',
    '  end',
    'end',
    ...find,
    'if $limbo_sc == 0',
    '  printf "limbo-no-syscall\\n"',
    'else',
    ...indent([...buffer, ...save, 'set $limbo_ok = 1', ...act, ...restore, ...unbuffer], 2),
    'end',
  ];
}

function indent(lines: readonly string[], by: number): string[] {
  return lines.map((line) => ' '.repeat(by) + line);
}
