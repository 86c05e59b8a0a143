// Which commands scan first thing, and the start of their kernel walk from the raw argv, before the
// CLI itself loads: light (bpf-start.ts only), so bin/limbo.js imports it ahead of everything.
import { startBpfScanEarly } from '../snapshot/bpf-start.js';

/** The command bare `limbo` runs: the report, the one screen to read first. */
export const DEFAULT_COMMAND = 'report';

/**
 * The commands whose first act is a deleted-files snapshot of --proc (unless --from): their
 * kernel walk starts before their code is loaded (src/cli/commands.ts).
 */
export const SCANS_FIRST: ReadonlySet<string> = new Set(['deleted', 'df', 'report', 'restart', 'shm']);

/**
 * The scanner the snapshot of the command in `argv` (the arguments after the script) will ask
 * for, when that is plain to see without the command's declaration: a command of SCANS_FIRST with
 * no --from, --proc, --help, --version or `--`, and --scanner, if given, `auto` or `bpf`; else null, and the
 * command starts its walk once its arguments are parsed.
 */
export function earlyScanOfArgv(argv: readonly string[]): 'auto' | 'bpf' | null {
  const [first] = argv;
  const named = first !== undefined && !first.startsWith('-');
  if (!SCANS_FIRST.has(named ? first : DEFAULT_COMMAND)) return null;
  let scanner = 'auto';
  const args = named ? argv.slice(1) : argv;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg === '--' || arg === '-h' || arg === '-V' || /^--(from|proc|help|version)(=|$)/.test(arg))
      return null;
    if (arg === '--scanner') scanner = args[++i] ?? '';
    else if (arg.startsWith('--scanner=')) scanner = arg.slice('--scanner='.length);
  }
  return scanner === 'auto' || scanner === 'bpf' ? scanner : null;
}

/**
 * Starts the kernel walk of the command in `argv` (earlyScanOfArgv), from bin/limbo.js before the
 * CLI loads: that took ~20 ms of the walk's critical path. A wrong guess costs no truth: a
 * snapshot takes a walk started early only for its own /proc and kind of walk (startBpfScan),
 * and a walk no snapshot takes dies with the process.
 */
export function startScanForArgv(argv: readonly string[]): void {
  const scanner = earlyScanOfArgv(argv);
  if (scanner !== null) startBpfScanEarly(scanner, '/proc');
}
