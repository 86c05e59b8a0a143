import { parseArgs } from 'node:util';
import { LimboError } from '../core/errors.js';

/** One flag, declared once: it drives the parser and the help text. */
export interface OptionSpec {
  readonly name: string;
  readonly type: 'string' | 'boolean';
  readonly value?: string;
  readonly help: string;
  readonly multiple?: boolean;
}

/** A command's declaration: name, one-line summary, flags, and usage. */
export interface CommandSpec {
  readonly name: string;
  readonly summary: string;
  readonly usage: string;
  readonly options: readonly OptionSpec[];
  readonly positionals?: boolean;
  /** Paragraphs printed after the options in --help: what the command risks, and why. */
  readonly details?: string;
}

/** Flags every command takes. */
export const COMMON_OPTIONS: readonly OptionSpec[] = [
  { name: 'json', type: 'boolean', help: 'print the documented JSON instead of a table' },
  {
    name: 'from',
    type: 'string',
    value: 'FILE',
    help: 'analyse a snapshot saved by `limbo snapshot` instead of this machine',
  },
  { name: 'proc', type: 'string', value: 'DIR', help: 'the /proc to read (default /proc)' },
  { name: 'help', type: 'boolean', help: 'show this help' },
];

export type ParsedOptions = Record<string, string | boolean | string[] | undefined>;

/** Parses argv against a command's declared flags; unknown or malformed flags are usage errors. */
export function parseCommandArgs(
  spec: CommandSpec,
  argv: readonly string[],
): { values: ParsedOptions; positionals: string[] } {
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> = {};
  for (const option of [...spec.options, ...COMMON_OPTIONS]) {
    options[option.name] = option.multiple ? { type: option.type, multiple: true } : { type: option.type };
  }
  try {
    const parsed = parseArgs({ args: [...argv], options, allowPositionals: true, strict: true });
    if (!spec.positionals && parsed.positionals.length > 0) {
      throw new LimboError('usage', `limbo ${spec.name}: unexpected argument '${parsed.positionals[0]}'`);
    }
    return { values: parsed.values as ParsedOptions, positionals: parsed.positionals };
  } catch (error) {
    if (error instanceof LimboError) throw error;
    throw new LimboError('usage', `limbo ${spec.name}: ${(error as Error).message}`, { cause: error });
  }
}

/** The --help text of a command, built from its declaration. */
export function formatHelp(spec: CommandSpec): string {
  const all = [...spec.options, ...COMMON_OPTIONS];
  const flags = all.map((o) => `--${o.name}${o.value ? ` ${o.value}` : ''}`);
  const width = Math.max(...flags.map((f) => f.length)) + 2;
  const lines = all.map((o, i) => `  ${(flags[i] ?? '').padEnd(width)}${o.help}`);
  const details = spec.details ? `\n${spec.details.trimEnd()}\n` : '';
  return `${spec.summary}\n\nUsage: ${spec.usage}\n\nOptions:\n${lines.join('\n')}\n${details}`;
}
