import { readFileSync } from 'node:fs';
import { LimboError } from '../core/errors.js';
import { escapeControls, quote } from '../format/escape.js';
import { BUILTINS, SHELLS } from './builtins.js';
import { COMMANDS } from './commands.js';
import type { ActingIo } from './confirm.js';
import { formatHelp } from './options.js';
import { DEFAULT_COMMAND } from './scan-early.js';

/** Runs the CLI; resolves to the exit code (0 ok, 1 failure, 2 usage) and never calls process.exit. */
export async function main(argv: readonly string[], io: ActingIo): Promise<number> {
  const [first, ...rest] = argv;
  if (first === '--version' || first === '-V') {
    io.stdout.write(`${version()}\n`);
    return 0;
  }
  if (first === 'help' && rest.length > 0) return commandHelp(rest, io);
  if (first === 'help' || first === '-h' || (first === '--help' && rest.length === 0)) {
    io.stdout.write(overallHelp());
    return 0;
  }
  if (first === 'completion') return completion(rest, io);
  const explicit = first !== undefined && !first.startsWith('-');
  const name = explicit ? first : DEFAULT_COMMAND;
  const command = COMMANDS.find((c) => c.spec.name === name);
  if (!command) {
    io.stderr.write(`limbo: unknown command ${quote(name)}\n\n${overallHelp()}`);
    return 2;
  }
  try {
    return await command.run(explicit ? rest : argv, io);
  } catch (error) {
    if (error instanceof LimboError) {
      io.stderr.write(`${escapeControls(error.message)}\n`);
      if (error.code === 'usage') {
        io.stderr.write(`Try 'limbo ${command.spec.name} --help'.\n`);
        return 2;
      }
      return 1;
    }
    io.stderr.write(`limbo: internal error: ${escapeControls((error as Error).stack ?? String(error))}\n`);
    return 1;
  }
}

/** The list of commands, from their declarations alone: no command module is loaded for it. */
function overallHelp(): string {
  const specs = COMMANDS.map((c) => c.spec);
  const width = Math.max(...specs.map((spec) => spec.name.length)) + 2;
  return [
    'limbo: where did my disk space go, and where did my file handles go?',
    '',
    'Usage: limbo [COMMAND] [OPTIONS]   (no command: limbo report)',
    '',
    'Commands:',
    ...specs.map((spec) => `  ${spec.name.padEnd(width)}${spec.summary}`),
    '',
    ...BUILTINS.map((builtin) => `${builtin.usage}\n    ${builtin.summary}`),
    '',
    "Run 'limbo COMMAND --help' for a command's options. Exit codes: 0 ok, 1 failure, 2 usage error.",
    '',
  ].join('\n');
}

/** `limbo help COMMAND`: the same text as `limbo COMMAND --help`. */
function commandHelp(args: readonly string[], io: ActingIo): number {
  const command = args.length === 1 ? COMMANDS.find((c) => c.spec.name === args[0]) : undefined;
  if (!command) {
    io.stderr.write(`limbo help: no command '${args.join(' ')}'\n\n${overallHelp()}`);
    return 2;
  }
  io.stdout.write(formatHelp(command.spec));
  return 0;
}

/** `limbo completion SHELL`: the script that shell sources. */
async function completion(args: readonly string[], io: ActingIo): Promise<number> {
  const shell = SHELLS.find((name) => args.length === 1 && args[0] === name);
  if (!shell) {
    io.stderr.write(`limbo completion: takes one of ${SHELLS.join(', ')}\n`);
    return 2;
  }
  const { completionScript } = await import('./completion.js');
  io.stdout.write(completionScript(shell));
  return 0;
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return `limbo ${pkg.version}`;
}
