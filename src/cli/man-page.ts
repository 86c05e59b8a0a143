// limbo.1, written from the same declarations as --help (scripts/man.mjs writes man/limbo.1, and
// a test fails when the committed page differs from what the declarations produce).
import { BUILTINS } from './builtins.js';
import { COMMANDS } from './commands.js';
import { COMMON_OPTIONS, describeOption, flagName, type Options } from './options.js';

/** Text as roff shows it: a backslash is an escape, a leading dot or quote a request. */
function roff(text: string): string {
  return text
    .replace(/\\/g, '\\e')
    .replace(/-/g, '\\-')
    .replace(/^([.'])/gm, '\\&$1');
}

function optionList(options: Options): string[] {
  return Object.entries(options).flatMap(([key, option]) => [
    '.TP',
    `.B \\-\\-${roff(flagName(key))}${option.value ? ` "\\fI${roff(option.value)}\\fR"` : ''}`,
    roff(describeOption(option)),
  ]);
}

/** The man page of limbo `version`, in roff. */
export function formatManPage(version: string): string {
  const commands = COMMANDS.map(({ spec }) => [
    `.SS ${roff(spec.name)}`,
    roff(spec.summary),
    '.PP',
    `.B ${roff(spec.usage)}`,
    ...optionList(spec.options),
    ...(spec.details ?? '')
      .trim()
      .split(/\n\s*\n/)
      .filter((paragraph) => paragraph !== '')
      .flatMap((paragraph) => ['.PP', roff(paragraph)]),
  ]);
  const builtins = BUILTINS.map((builtin) => ['.TP', `.B ${roff(builtin.usage)}`, roff(builtin.summary)]);
  return [
    `.TH LIMBO 1 "" "limbo ${roff(version)}" "User Commands"`,
    '.SH NAME',
    'limbo \\- find deleted files still held open and account for every kernel file handle',
    '.SH SYNOPSIS',
    '.B limbo',
    '[\\fICOMMAND\\fR] [\\fIOPTIONS\\fR]',
    '.br',
    '.B limbo \\-\\-version',
    '.SH DESCRIPTION',
    roff(
      'limbo finds deleted files that processes still hold open or mapped (the space df counts and du ' +
        'cannot see), explains /proc/sys/fs/file-nr, lists processes running deleted code, reconciles df ' +
        'and du, and serves Prometheus metrics. Without a command it runs the report.',
    ),
    '.SH COMMANDS',
    ...commands.flat(),
    ...builtins.flat(),
    '.SH COMMON OPTIONS',
    'Every command takes these.',
    ...optionList(COMMON_OPTIONS),
    '.SH ENVIRONMENT',
    '.TP',
    '.B NO_COLOR',
    roff('When set and not empty, no colour (https://no-color.org); --color=always overrides it.'),
    '.TP',
    '.B FORCE_COLOR',
    roff('When set and not 0, colour even when the output is not a terminal; --color=never overrides it.'),
    '.TP',
    '.B LIMBO_NO_NATIVE',
    roff('When set, scan with the JavaScript reader instead of the native addon (the same answers, slower).'),
    '.SH EXIT STATUS',
    roff('0 success, 1 failure, 2 usage error; --check modes: 0 ok, 1 warning, 2 critical.'),
    '.SH SEE ALSO',
    '.BR lsof (8),',
    '.BR df (1),',
    '.BR du (1),',
    '.BR proc (5)',
    '',
  ].join('\n');
}
