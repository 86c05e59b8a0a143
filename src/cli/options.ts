// Flags as data. Each option is declared once, with its kind, its checks, its default and its
// help; the one parser below validates and converts argv against those declarations, and the
// values it returns are typed per command from the same declarations (a misspelt flag name is a
// compile error). Nothing here imports a command, an analysis or an action: `limbo --help`
// needs only this module and the specs.
import { parseArgs } from 'node:util';
import { LimboError } from '../core/errors.js';
import { quote } from '../format/escape.js';
import { parseSize } from '../format/size.js';

/** How an option's text becomes its value. */
export type OptionKind = 'boolean' | 'string' | 'integer' | 'number' | 'size' | 'enum' | 'custom';

/**
 * One flag. `V` is the type of its parsed value, `undefined` included when it has no default.
 * Build options with the functions below, which keep `V`, `parse` and `default` consistent.
 */
export interface Option<V> {
  readonly kind: OptionKind;
  readonly help: string;
  /** The placeholder shown after the flag: `--pid N`. */
  readonly value?: string;
  /** The only values an enum option takes, in the order help and errors list them. */
  readonly choices?: readonly string[];
  /** The flag may be repeated; its value is then the list of every value given. */
  readonly multiple?: boolean;
  /** Ends the usage error "--NAME takes EXPECTS, not 'TEXT'". */
  readonly expects?: string;
  /** The value when the flag is not given. */
  readonly default?: V;
  /** How --help shows the default (when it is not simply the value, or depends on the output). */
  readonly defaultText?: string;
  /**
   * One given text to its value (one element, for a repeated option), or null when the text is
   * not one; booleans take no text. The builders type it; the parser only passes it on.
   */
  readonly parse?: (text: string) => unknown;
}

/** A command's flags, keyed by their camelCase name (`minSize` is `--min-size`). */
export type Options = { readonly [name: string]: Option<unknown> };

/** The parsed values of a set of options: `values.pid` is `number | undefined`, and so on. */
export type OptionValues<O extends Options> = {
  readonly [K in keyof O]: O[K] extends Option<infer V> ? V : never;
};

/** A command's declaration: name, one-line summary, usage, flags and notes for --help. */
export interface CommandSpec<O extends Options = Options> {
  readonly name: string;
  readonly summary: string;
  readonly usage: string;
  readonly options: O;
  readonly positionals?: boolean;
  /** Common flags this command does not take: it neither lists nor accepts them. */
  readonly without?: readonly (keyof CommonOptions)[];
  /** Paragraphs printed after the options in --help: what the command risks, and why. */
  readonly details?: string;
}

/** Declares a command, keeping the literal option names so its values are typed by them. */
export function defineCommand<O extends Options>(spec: CommandSpec<O>): CommandSpec<O> {
  return spec;
}

/** What a command's run receives: its own options and the common ones, parsed and converted. */
export type ValuesOf<S extends CommandSpec> = OptionValues<S['options'] & CommonOptions>;

// ---- option builders -------------------------------------------------------------------------

interface Declared {
  readonly help: string;
  readonly value?: string;
  readonly defaultText?: string;
}

interface Checked extends Declared {
  /** Overrides the wording of the usage error; each kind has its own otherwise. */
  readonly expects?: string;
}

/** A flag without a value; absent means false. */
export function booleanOption(help: string): Option<boolean> {
  return { kind: 'boolean', help, default: false };
}

/** Free text, such as a path or a user name. */
export function stringOption(o: Declared & { readonly default: string }): Option<string>;
export function stringOption(o: Declared): Option<string | undefined>;
export function stringOption(o: Declared & { readonly default?: string }): Option<string | undefined> {
  return { kind: 'string', ...o, parse: (text) => text };
}

/** Bounds of a numeric option, inclusive unless `minExclusive`. */
interface Bounds {
  readonly min?: number;
  readonly max?: number;
  /** The value must be greater than `min`, not equal to it: "a positive number" of seconds. */
  readonly minExclusive?: boolean;
}

/** Digits only, as limbo has always taken counts and ids: no sign, no exponent, no hex. */
const INTEGER = /^\d+$/;
/** Digits with an optional fraction: 2, 0.5, 12.75. */
const DECIMAL = /^\d+(\.\d+)?$/;

/** A whole number within bounds (`--limit 1` and up: `min: 1`). */
export function integerOption(o: Checked & Bounds & { readonly default: number }): Option<number>;
export function integerOption(o: Checked & Bounds): Option<number | undefined>;
export function integerOption(
  o: Checked & Bounds & { readonly default?: number },
): Option<number | undefined> {
  return numeric('integer', INTEGER, o);
}

/** A number with an optional decimal fraction, within bounds (`--interval 0.5`). */
export function numberOption(o: Checked & Bounds & { readonly default: number }): Option<number>;
export function numberOption(o: Checked & Bounds): Option<number | undefined>;
export function numberOption(
  o: Checked & Bounds & { readonly default?: number },
): Option<number | undefined> {
  return numeric('number', DECIMAL, o);
}

function numeric(
  kind: 'integer' | 'number',
  pattern: RegExp,
  o: Checked & Bounds & { readonly default?: number },
): Option<number | undefined> {
  const { min, max, minExclusive, ...rest } = o;
  return {
    kind,
    expects: describeBounds(kind, o),
    ...rest,
    parse: (text) => {
      if (!pattern.test(text)) return null;
      const n = Number(text);
      if (min !== undefined && (minExclusive ? n <= min : n < min)) return null;
      if (max !== undefined && n > max) return null;
      return n;
    },
  };
}

function describeBounds(kind: 'integer' | 'number', b: Bounds): string {
  const positive = b.min !== undefined && (b.minExclusive ? b.min >= 0 : b.min > 0);
  if (positive && b.max === undefined) return 'a positive number';
  if (b.min !== undefined && b.max !== undefined) return `a number from ${b.min} to ${b.max}`;
  return kind === 'integer' ? 'a whole number' : 'a number';
}

/** A size in bytes, given as 10M, 1G, 512K or 4096 (see parseSize); the default is such a text. */
export function sizeOption(o: Checked & { readonly default: string }): Option<number>;
export function sizeOption(o: Checked): Option<number | undefined>;
export function sizeOption(o: Checked & { readonly default?: string }): Option<number | undefined> {
  return textParsed('size', { expects: 'a size such as 10M or 1G', ...o }, parseSize);
}

/** One of a fixed list of words; its value is their literal union. */
export function enumOption<const C extends readonly string[]>(
  choices: C,
  o: Declared & { readonly default: C[number] },
): Option<C[number]>;
export function enumOption<const C extends readonly string[]>(
  choices: C,
  o: Declared,
): Option<C[number] | undefined>;
export function enumOption<const C extends readonly string[]>(
  choices: C,
  o: Declared & { readonly default?: C[number] },
): Option<C[number] | undefined> {
  return {
    kind: 'enum',
    choices,
    ...o,
    parse: (text) => (choices.includes(text) ? (text as C[number]) : null),
  };
}

interface Custom<T> extends Checked {
  readonly expects: string;
  readonly parse: (text: string) => T | null;
}

/** A value with a parser of its own, such as HOST:PORT; the default is given as a person types it. */
export function customOption<T>(o: Custom<T> & { readonly default: string }): Option<T>;
export function customOption<T>(o: Custom<T>): Option<T | undefined>;
export function customOption<T>(o: Custom<T> & { readonly default?: string }): Option<T | undefined> {
  const { parse, ...rest } = o;
  return textParsed('custom', rest, parse);
}

/** The default is parsed here, once: a default that does not parse is a bug, caught at start-up. */
function textParsed<T>(
  kind: OptionKind,
  o: Checked & { readonly default?: string },
  parse: (text: string) => T | null,
): Option<T | undefined> {
  const { default: text, ...rest } = o;
  if (text === undefined) return { kind, ...rest, parse };
  const value = parse(text);
  if (value === null) throw new Error(`option default '${text}' does not parse`);
  return { kind, ...rest, parse, default: value, defaultText: o.defaultText ?? text };
}

/** The same option, given any number of times: its value is every value given, in order. */
export function repeatedOption<T>(option: Option<T | undefined>): Option<readonly T[]> {
  // The single option's default does not carry over: given no times, the list is empty.
  const repeated: { -readonly [K in keyof Option<unknown>]: Option<unknown>[K] } = { ...option };
  delete repeated.default;
  delete repeated.defaultText;
  return { ...repeated, multiple: true, default: [] } as Option<readonly T[]>;
}

/** The option with another help sentence: a shared flag that reads differently in one command. */
export function withHelp<V>(option: Option<V>, help: string): Option<V> {
  return { ...option, help };
}

// ---- the flags every command takes ----------------------------------------------------------

/** Flags every command takes. */
export const COMMON_OPTIONS = {
  json: booleanOption('print the documented JSON instead of a table'),
  from: stringOption({
    value: 'FILE',
    help: 'analyse a snapshot saved by `limbo snapshot` instead of this machine',
  }),
  proc: stringOption({
    value: 'DIR',
    help: 'the /proc to read: a proc filesystem, or a tree with PID/status and sys/fs/file-nr',
    default: '/proc',
  }),
  scanner: enumOption(['auto', 'proc', 'bpf'], {
    value: 'NAME',
    help: 'who reads the fd tables: proc links, bpf iterators in the kernel (root, BTF), auto: bpf where it works',
    default: 'auto',
  }),
  mountTimeout: numberOption({
    value: 'SECONDS',
    min: 0.1,
    max: 600,
    help: 'how long a FUSE or network mount has to answer before limbo skips it (or refuses a target on it) and says so',
    default: 5,
  }),
  color: enumOption(['auto', 'always', 'never'], {
    value: 'WHEN',
    help: 'colour the output: auto is a terminal without NO_COLOR',
    default: 'auto',
  }),
  help: booleanOption('show this help'),
} as const satisfies Options;

type CommonOptions = typeof COMMON_OPTIONS;

/** The values of the common flags, as the helpers shared by every command take them. */
export type CommonValues = OptionValues<CommonOptions>;

// ---- parsing ---------------------------------------------------------------------------------

/** `minSize` → `min-size`: the flag a person types for an option key. */
export function flagName(key: string): string {
  return key.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`);
}

/** What argv asked for: this command's help, or a run with these values. */
export type ParsedArgs<S extends CommandSpec> =
  | { readonly help: true }
  | { readonly help: false; readonly values: ValuesOf<S>; readonly positionals: string[] };

/**
 * Parses argv against a command's declared flags, then checks and converts every value. Unknown
 * or malformed flags and bad values are usage errors; with --help the values are not checked,
 * so `limbo deleted --pid x --help` still shows the help.
 */
export function parseCommandArgs<S extends CommandSpec>(spec: S, argv: readonly string[]): ParsedArgs<S> {
  const all = allOptions(spec);
  const config: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> = {};
  for (const [key, option] of all) {
    const type = option.kind === 'boolean' ? 'boolean' : 'string';
    config[flagName(key)] = option.multiple ? { type, multiple: true } : { type };
  }
  const args = normalizeArgs(spec.name, all, argv);
  let parsed: {
    values: Record<string, string | boolean | (string | boolean)[] | undefined>;
    positionals: string[];
  };
  try {
    parsed = parseArgs({ args, options: config, allowPositionals: true, strict: true });
  } catch (error) {
    // normalizeArgs has refused everything parseArgs would; this is a safety net in its words.
    throw new LimboError('usage', `limbo ${spec.name}: ${quote((error as Error).message)}`, { cause: error });
  }
  if (!spec.positionals && parsed.positionals.length > 0) {
    throw new LimboError(
      'usage',
      `limbo ${spec.name}: unexpected argument ${quote(parsed.positionals[0] ?? '')}`,
    );
  }
  if (parsed.values['help'] === true) return { help: true };
  const values: Record<string, unknown> = {};
  for (const [key, option] of all) {
    const given = parsed.values[flagName(key)];
    values[key] =
      given === undefined
        ? option.default
        : Array.isArray(given)
          ? given.map((text) => convert(spec.name, key, option, text))
          : convert(spec.name, key, option, given);
  }
  return { help: false, values: values as ValuesOf<S>, positionals: parsed.positionals };
}

/**
 * Checks argv against the declared flags in limbo's own words, before node's parseArgs sees it:
 * an unknown flag, a value given to a switch, a flag missing its value. A value that starts with a
 * dash and a digit (`--pid -1`) is the flag's value, passed on as `--pid=-1`, so that the option's
 * own check refuses it ("--pid takes a process id, not '-1'") rather than parseArgs' "ambiguous".
 */
function normalizeArgs(
  command: string,
  all: readonly [string, Option<unknown>][],
  argv: readonly string[],
): string[] {
  const byFlag = new Map(all.map(([key, option]) => [`--${flagName(key)}`, option]));
  const usage = (message: string) => new LimboError('usage', `limbo ${command}: ${message}`);
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') {
      args.push(...argv.slice(i));
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      args.push(arg);
      continue;
    }
    const equals = arg.indexOf('=');
    const flag = equals > 0 ? arg.slice(0, equals) : arg;
    const option = byFlag.get(flag);
    if (!option) throw usage(`unknown option ${quote(flag)}`);
    if (option.kind === 'boolean') {
      if (equals > 0) throw usage(`${flag} takes no value`);
      args.push(arg);
      continue;
    }
    if (equals > 0) {
      args.push(arg);
      continue;
    }
    const next = argv[i + 1];
    const wants =
      option.kind === 'enum' ? `one of ${(option.choices ?? []).join(', ')}` : (option.expects ?? 'a value');
    if (next === undefined || (next.startsWith('-') && !/^-[\d.]/.test(next)))
      throw usage(`${flag} takes ${wants}`);
    args.push(`${flag}=${next}`);
    i++;
  }
  return args;
}

function convert(command: string, key: string, option: Option<unknown>, given: string | boolean): unknown {
  if (typeof given === 'boolean' || !option.parse) return given;
  const value = option.parse(given);
  if (value !== null) return value;
  const flag = `--${flagName(key)}`;
  // An enum's error lists the choices; echoing the bad word adds nothing to that list.
  const message =
    option.kind === 'enum'
      ? `${flag} takes one of ${(option.choices ?? []).join(', ')}`
      : `${flag} takes ${option.expects ?? 'a value'}, not ${quote(given)}`;
  throw new LimboError('usage', `limbo ${command}: ${message}`);
}

function allOptions(spec: CommandSpec): [string, Option<unknown>][] {
  const without = new Set<string>(spec.without ?? []);
  return Object.entries({ ...spec.options, ...COMMON_OPTIONS }).filter(([key]) => !without.has(key));
}

// ---- help ------------------------------------------------------------------------------------

/** The --help text of a command, built from its declaration: each flag, its choices and default. */
export function formatHelp(spec: CommandSpec): string {
  const all = allOptions(spec);
  const flags = all.map(([key, o]) => `--${flagName(key)}${o.value ? ` ${o.value}` : ''}`);
  const width = Math.max(...flags.map((f) => f.length)) + 2;
  const lines = all.map(([, o], i) => `  ${(flags[i] ?? '').padEnd(width)}${describeOption(o)}`);
  const details = spec.details ? `\n${spec.details.trimEnd()}\n` : '';
  return `${spec.summary}\n\nUsage: ${spec.usage}\n\nOptions:\n${lines.join('\n')}\n${details}`;
}

/** The help sentence, then what the declaration adds: "(one of a, b; default a)". */
export function describeOption(o: Option<unknown>): string {
  const notes: string[] = [];
  if (o.choices) notes.push(`one of ${o.choices.join(', ')}`);
  if (o.multiple) notes.push('repeatable');
  const shown = o.defaultText ?? showDefault(o);
  if (shown !== undefined) notes.push(`default ${shown}`);
  return notes.length > 0 ? `${o.help} (${notes.join('; ')})` : o.help;
}

function showDefault(o: Option<unknown>): string | undefined {
  // A boolean is false unless given, and a repeated option empty: saying so tells nothing.
  if (o.kind === 'boolean' || o.multiple) return undefined;
  return typeof o.default === 'string' || typeof o.default === 'number' ? String(o.default) : undefined;
}
