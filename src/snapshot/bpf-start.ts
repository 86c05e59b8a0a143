// Whether the BPF scanner can run, and the start of its deleted-files walk: light (node:fs and
// the addon only), so a command can start the walk before it loads the code that collects it
// (src/snapshot/bpf-fd-scan.ts, through takeSnapshot).
import { existsSync, readlinkSync, statSync } from 'node:fs';
import { nativeAddon } from '../native.js';

/** What the caller asks for: a scanner by name, or `auto` (BPF where it works, else /proc). */
export type ScannerRequest = 'proc' | 'bpf' | 'auto';

/** A BPF run started ahead of chooseScanner, which collects it. */
export interface StartedBpfScan {
  readonly generation: number;
  /** Whether the walk sends every fd, to count them (fdDirSizeCounts false). */
  readonly everyFd: boolean;
}

/** The run startBpfScanEarly started, until a scan takes it. */
let early: { readonly procRoot: string; readonly started: StartedBpfScan } | null = null;

/**
 * Starts the run chooseScanner will collect on an addon thread, so the program load and the
 * kernel walk overlap the reads of /proc; null where the BPF scanner would not run. A run
 * startBpfScanEarly started for the same /proc, not yet taken, is this one.
 */
export function startBpfScan(request: ScannerRequest, procRoot: string): StartedBpfScan | null {
  const ahead = early;
  early = null;
  if (request === 'proc' || bpfProblem(procRoot) !== null) return null;
  const everyFd = !fdDirSizeCounts(procRoot);
  if (ahead && ahead.procRoot === procRoot && ahead.started.everyFd === everyFd) return ahead.started;
  const generation = nativeAddon()?.bpfStartFdScan?.(everyFd);
  return generation === undefined ? null : { generation, everyFd };
}

/**
 * Starts the deleted-files walk of the next snapshot of `procRoot` now, before the code that
 * takes it is even loaded: a command that scans first thing calls it as soon as its arguments
 * are parsed, or bin/limbo.js before the CLI loads (the walk is the critical path of `limbo
 * deleted` at 1,000,000 fds, and loading the command took 30-40 ms of it). The next startBpfScan
 * of the same /proc takes the run; so does a second startBpfScanEarly, which keeps it.
 */
export function startBpfScanEarly(request: ScannerRequest, procRoot: string): void {
  // A run started early for the same /proc and walk is kept: called again, this starts no other.
  const started = startBpfScan(request, procRoot);
  early = started && { procRoot, started };
}

/** Why the BPF scanner cannot run here, or null when it may (whether its programs load is known only by running them). */
export function bpfProblem(procRoot: string): string | null {
  if (!nativeAddon()?.bpfScanFds)
    return 'limbo was built without it (clang, bpftool or libbpf-dev missing at install)';
  if (procRoot !== '/proc') return `it reads this kernel's tables, not ${procRoot}`;
  if (process.geteuid?.() !== 0) return 'not root';
  if (!existsSync('/sys/kernel/btf/vmlinux')) return 'the kernel has no BTF (/sys/kernel/btf/vmlinux)';
  if (!inInitialPidNamespace())
    return "limbo runs in a child pid namespace: the kernel's tids are not its pids";
  return null;
}

/**
 * Whether stat(2) of an fd directory counts its fds: Linux >= 6.2 gives st_size the number of
 * open fds (fs/proc/fd.c proc_fd_getattr, bitmap_weight of open_fds); older kernels give 0, and
 * the BPF program then sends a record per fd to count them. This process always holds fds.
 * LIMBO_BPF_EVERY_FD=1 takes the older kernels' way on any kernel, so a test can prove it.
 */
export function fdDirSizeCounts(procRoot: string): boolean {
  if (process.env.LIMBO_BPF_EVERY_FD === '1') return false;
  try {
    return statSync(`${procRoot}/self/fd`).size > 0;
  } catch {
    return false;
  }
}

/**
 * The initial pid namespace has a fixed inode (include/linux/proc_ns.h PROC_PID_INIT_INO). NSpid
 * cannot tell: under a /proc mounted for a child namespace (unshare --mount-proc) it lists only
 * that namespace's pid, one field, as in the initial one.
 */
const INITIAL_PID_NAMESPACE = 'pid:[4026531836]';

function inInitialPidNamespace(): boolean {
  try {
    return readlinkSync('/proc/self/ns/pid') === INITIAL_PID_NAMESPACE;
  } catch {
    return false;
  }
}
