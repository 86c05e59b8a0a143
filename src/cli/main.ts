import { readFileSync } from 'node:fs';
import { LimboError } from '../proc/errors.js';
import { deletedSpec, runDeleted } from './deleted-command.js';
import type { Io } from './io.js';
import { formatHelp, parseCommandArgs, type CommandSpec, type ParsedOptions } from './options.js';
import { closeSpec, runClose } from './close-command.js';
import type { ActingIo } from './confirm.js';
import { dfSpec, runDf } from './df-command.js';
import { handlesSpec, runHandles } from './handles-command.js';
import { linksSpec, runLinks } from './links-command.js';
import { reclaimSpec, runReclaim } from './reclaim-command.js';
import { recoverSpec, runRecover } from './recover-command.js';
import { reportSpec, runReport } from './report-command.js';
import { restartSpec, runRestart } from './restart-command.js';
import { runServe, serveSpec } from './serve-command.js';
import { runWatch, watchSpec } from './watch-command.js';
import { runShm, shmSpec } from './shm-command.js';
import { runSnapshot, snapshotSpec } from './snapshot-command.js';

interface Command {
  readonly spec: CommandSpec;
  readonly run: (values: ParsedOptions, io: Io, positionals: string[]) => number | Promise<number>;
}

const COMMANDS: readonly Command[] = [
  { spec: deletedSpec, run: runDeleted },
  { spec: dfSpec, run: runDf },
  { spec: handlesSpec, run: runHandles },
  { spec: linksSpec, run: runLinks },
  { spec: reportSpec, run: runReport },
  { spec: restartSpec, run: runRestart },
  { spec: reclaimSpec, run: runReclaim },
  { spec: recoverSpec, run: runRecover },
  { spec: closeSpec, run: runClose },
  { spec: serveSpec, run: runServe },
  { spec: watchSpec, run: runWatch },
  { spec: shmSpec, run: runShm },
  { spec: snapshotSpec, run: runSnapshot },
];

/** The command bare `limbo` runs: the report, the one screen to read first. */
const DEFAULT_COMMAND = 'report';

/** Runs the CLI; resolves to the exit code (0 ok, 1 failure, 2 usage) and never calls process.exit. */
export async function main(argv: readonly string[], io: ActingIo): Promise<number> {
  const [first, ...rest] = argv;
  if (first === '--version' || first === '-V') {
    io.stdout.write(`${version()}\n`);
    return 0;
  }
  if (first === 'help' || first === '-h' || (first === '--help' && rest.length === 0)) {
    io.stdout.write(overallHelp());
    return 0;
  }
  const explicit = first !== undefined && !first.startsWith('-');
  const name = explicit ? first : DEFAULT_COMMAND;
  const command = COMMANDS.find((c) => c.spec.name === name);
  if (!command) {
    io.stderr.write(`limbo: unknown command '${name}'\n\n${overallHelp()}`);
    return 2;
  }
  try {
    const { values, positionals } = parseCommandArgs(command.spec, explicit ? rest : argv);
    if (values['help']) {
      io.stdout.write(formatHelp(command.spec));
      return 0;
    }
    return await command.run(values, io, positionals);
  } catch (error) {
    if (error instanceof LimboError) {
      io.stderr.write(`${error.message}\n`);
      if (error.code === 'usage') {
        io.stderr.write(`Try 'limbo ${command.spec.name} --help'.\n`);
        return 2;
      }
      return 1;
    }
    io.stderr.write(`limbo: internal error: ${(error as Error).stack ?? String(error)}\n`);
    return 1;
  }
}

function overallHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.spec.name.length)) + 2;
  return [
    'limbo: where did my disk space go, and where did my file handles go?',
    '',
    'Usage: limbo [COMMAND] [OPTIONS]   (no command: limbo report)',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.spec.name.padEnd(width)}${c.spec.summary}`),
    '',
    "Run 'limbo COMMAND --help' for a command's options. Exit codes: 0 ok, 1 failure, 2 usage error.",
    '',
  ].join('\n');
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return `limbo ${pkg.version}`;
}
