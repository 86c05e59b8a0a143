// Every command: its light declaration, loaded with the CLI, and its implementation, loaded only
// when it runs. Importing all of them (the server, the actions, the walker) costs about 60 ms of
// start-up that `limbo deleted` does not need, and `limbo --help` needs none of them.
import { startBpfScanEarly } from '../snapshot/bpf-start.js';
import type { ActingIo } from './confirm.js';
import {
  formatHelp,
  parseCommandArgs,
  type CommandSpec,
  type CommonValues,
  type ValuesOf,
} from './options.js';
import { closeSpec } from './specs/close.js';
import { deletedSpec } from './specs/deleted.js';
import { dfSpec } from './specs/df.js';
import { handlesSpec } from './specs/handles.js';
import { linksSpec } from './specs/links.js';
import { reclaimSpec } from './specs/reclaim.js';
import { recoverSpec } from './specs/recover.js';
import { reportSpec } from './specs/report.js';
import { SCANS_FIRST } from './scan-early.js';
import { restartSpec } from './specs/restart.js';
import { serveSpec } from './specs/serve.js';
import { shmSpec } from './specs/shm.js';
import { snapshotSpec } from './specs/snapshot.js';
import { watchSpec } from './specs/watch.js';

/** A command's implementation: its parsed values in, an exit code out. */
export type Run<S extends CommandSpec> = (
  values: ValuesOf<S>,
  io: ActingIo,
  positionals: string[],
) => number | Promise<number>;

/** A command as main() sees it: the declaration, and argv to exit code. */
export interface Command {
  readonly spec: CommandSpec;
  /** Parses argv (usage errors throw), prints --help, or loads the implementation and runs it. */
  run(argv: readonly string[], io: ActingIo): Promise<number>;
}

/**
 * Ties a declaration to the implementation typed by it; past here, neither is seen apart. A
 * command of SCANS_FIRST starts its snapshot's kernel walk before its implementation is loaded,
 * unless bin/limbo.js started it from the raw argv already.
 */
function command<S extends CommandSpec>(spec: S, load: () => Promise<Run<S>>): Command {
  return {
    spec,
    async run(argv, io) {
      const parsed = parseCommandArgs(spec, argv);
      if (parsed.help) {
        io.stdout.write(formatHelp(spec));
        return 0;
      }
      if (SCANS_FIRST.has(spec.name)) {
        const { from, proc, scanner } = parsed.values as CommonValues;
        if (from === undefined) startBpfScanEarly(scanner, proc);
      }
      const run = await load();
      // Every command takes the common flags; the generic spec hides that from the checker.
      const { color } = parsed.values as CommonValues;
      return run(parsed.values, withColor(io, color), parsed.positionals);
    },
  };
}

/**
 * `--color` as the environment paletteFor reads: `always` beats NO_COLOR and a pipe, `never`
 * beats FORCE_COLOR and a terminal, `auto` leaves the environment to decide.
 */
function withColor(io: ActingIo, color: 'auto' | 'always' | 'never'): ActingIo {
  if (color === 'auto') return io;
  const env = { ...io.env };
  delete env[color === 'always' ? 'NO_COLOR' : 'FORCE_COLOR'];
  if (color === 'always') env['FORCE_COLOR'] = '1';
  else env['NO_COLOR'] = '1';
  return { ...io, env };
}

/** In the order `limbo --help` lists them. */
export const COMMANDS: readonly Command[] = [
  command(deletedSpec, async () => (await import('./deleted-command.js')).runDeleted),
  command(dfSpec, async () => (await import('./df-command.js')).runDf),
  command(handlesSpec, async () => (await import('./handles-command.js')).runHandles),
  command(linksSpec, async () => (await import('./links-command.js')).runLinks),
  command(reportSpec, async () => (await import('./report-command.js')).runReport),
  command(restartSpec, async () => (await import('./restart-command.js')).runRestart),
  command(reclaimSpec, async () => (await import('./reclaim-command.js')).runReclaim),
  command(recoverSpec, async () => (await import('./recover-command.js')).runRecover),
  command(closeSpec, async () => (await import('./close-command.js')).runClose),
  command(serveSpec, async () => (await import('./serve-command.js')).runServe),
  command(watchSpec, async () => (await import('./watch-command.js')).runWatch),
  command(shmSpec, async () => (await import('./shm-command.js')).runShm),
  command(snapshotSpec, async () => (await import('./snapshot-command.js')).runSnapshot),
];
