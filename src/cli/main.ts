import { readFileSync } from 'node:fs';
import { LimboError } from '../core/errors.js';
import type { Io } from './io.js';
import { formatHelp, parseCommandArgs, type CommandSpec, type ParsedOptions } from './options.js';
import type { ActingIo } from './confirm.js';

interface Command {
  readonly spec: CommandSpec;
  readonly run: (values: ParsedOptions, io: Io, positionals: string[]) => number | Promise<number>;
}

/**
 * Every command, loaded only when run: importing all of them (the server, the actions, the
 * walker) costs about 60 ms of start-up that `limbo deleted` does not need.
 */
const COMMANDS: readonly { readonly name: string; readonly load: () => Promise<Command> }[] = [
  {
    name: 'deleted',
    load: async () =>
      import('./deleted-command.js').then((m) => ({ spec: m.deletedSpec, run: m.runDeleted })),
  },
  { name: 'df', load: async () => import('./df-command.js').then((m) => ({ spec: m.dfSpec, run: m.runDf })) },
  {
    name: 'handles',
    load: async () =>
      import('./handles-command.js').then((m) => ({ spec: m.handlesSpec, run: m.runHandles })),
  },
  {
    name: 'links',
    load: async () => import('./links-command.js').then((m) => ({ spec: m.linksSpec, run: m.runLinks })),
  },
  {
    name: 'report',
    load: async () => import('./report-command.js').then((m) => ({ spec: m.reportSpec, run: m.runReport })),
  },
  {
    name: 'restart',
    load: async () =>
      import('./restart-command.js').then((m) => ({ spec: m.restartSpec, run: m.runRestart })),
  },
  {
    name: 'reclaim',
    load: async () =>
      import('./reclaim-command.js').then((m) => ({ spec: m.reclaimSpec, run: m.runReclaim })),
  },
  {
    name: 'recover',
    load: async () =>
      import('./recover-command.js').then((m) => ({ spec: m.recoverSpec, run: m.runRecover })),
  },
  {
    name: 'close',
    load: async () => import('./close-command.js').then((m) => ({ spec: m.closeSpec, run: m.runClose })),
  },
  {
    name: 'serve',
    load: async () => import('./serve-command.js').then((m) => ({ spec: m.serveSpec, run: m.runServe })),
  },
  {
    name: 'watch',
    load: async () => import('./watch-command.js').then((m) => ({ spec: m.watchSpec, run: m.runWatch })),
  },
  {
    name: 'shm',
    load: async () => import('./shm-command.js').then((m) => ({ spec: m.shmSpec, run: m.runShm })),
  },
  {
    name: 'snapshot',
    load: async () =>
      import('./snapshot-command.js').then((m) => ({ spec: m.snapshotSpec, run: m.runSnapshot })),
  },
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
    io.stdout.write(await overallHelp());
    return 0;
  }
  const explicit = first !== undefined && !first.startsWith('-');
  const name = explicit ? first : DEFAULT_COMMAND;
  const entry = COMMANDS.find((c) => c.name === name);
  if (!entry) {
    io.stderr.write(`limbo: unknown command '${name}'\n\n${await overallHelp()}`);
    return 2;
  }
  const command = await entry.load();
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

async function overallHelp(): Promise<string> {
  const specs = await Promise.all(COMMANDS.map(async (c) => (await c.load()).spec));
  const width = Math.max(...specs.map((spec) => spec.name.length)) + 2;
  return [
    'limbo: where did my disk space go, and where did my file handles go?',
    '',
    'Usage: limbo [COMMAND] [OPTIONS]   (no command: limbo report)',
    '',
    'Commands:',
    ...specs.map((spec) => `  ${spec.name.padEnd(width)}${spec.summary}`),
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
