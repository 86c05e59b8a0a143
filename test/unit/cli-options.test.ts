// The option parser against declarations of every kind: what each accepts and converts, what it
// refuses (with limbo's usage error), what an absent flag is worth, and how --help shows it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_THRESHOLDS } from '../../src/analyses/report.js';
import { LimboError } from '../../src/core/errors.js';
import {
  booleanOption,
  customOption,
  defineCommand,
  describeOption,
  enumOption,
  flagName,
  formatHelp,
  integerOption,
  numberOption,
  parseCommandArgs,
  repeatedOption,
  sizeOption,
  stringOption,
  withHelp,
  COMMON_OPTIONS,
  type CommandSpec,
  type ValuesOf,
} from '../../src/cli/options.js';
import { COMMANDS } from '../../src/cli/commands.js';
import { earlyScanOfArgv, SCANS_FIRST } from '../../src/cli/scan-early.js';
import { reportSpec } from '../../src/cli/specs/report.js';
import { parseListen } from '../../src/cli/specs/serve.js';

const spec = defineCommand({
  name: 'try',
  summary: 'A command with a flag of every kind.',
  usage: 'limbo try [OPTIONS]',
  options: {
    verbose: booleanOption('say more'),
    user: stringOption({ value: 'NAME', help: 'a user' }),
    output: stringOption({ value: 'FILE', help: 'where to write', default: '-' }),
    pid: integerOption({ value: 'N', min: 0, expects: 'a process id', help: 'a process' }),
    limit: integerOption({ value: 'N', min: 1, help: 'at most N' }),
    count: integerOption({ value: 'N', min: 2, max: 5, help: 'between two and five', default: 3 }),
    interval: numberOption({ value: 'SECONDS', min: 0, minExclusive: true, help: 'a period', default: 2 }),
    percent: numberOption({ value: 'P', min: 0, max: 100, help: 'a share' }),
    minSize: sizeOption({ value: 'SIZE', help: 'a size' }),
    held: sizeOption({ value: 'SIZE', expects: 'a size such as 1G', help: 'a threshold', default: '1G' }),
    kind: enumOption(['file', 'tmpfile', 'memfd'], { value: 'K', help: 'a kind' }),
    sort: enumOption(['size', 'path'], { value: 'KEY', help: 'an order', default: 'size' }),
    listen: customOption({
      value: 'HOST:PORT',
      expects: 'HOST:PORT',
      parse: parseListen,
      help: 'an address',
      default: '127.0.0.1:9469',
    }),
    tag: repeatedOption(stringOption({ value: 'TAG', help: 'a tag' })),
    port: repeatedOption(integerOption({ value: 'PORT', min: 1, max: 65535, help: 'a port' })),
  },
});

type Values = ValuesOf<typeof spec>;

function parse(argv: string[]): Values {
  const parsed = parseCommandArgs(spec, argv);
  assert.equal(parsed.help, false);
  return parsed.help ? assert.fail('help') : parsed.values;
}

/** The usage error argv raises: its message, without the "limbo try: " every one starts with. */
function usageError(argv: string[], command: CommandSpec = spec): string {
  try {
    parseCommandArgs(command, argv);
  } catch (error) {
    assert.ok(error instanceof LimboError, String(error));
    assert.equal(error.code, 'usage');
    assert.ok(error.message.startsWith(`limbo ${command.name}: `), error.message);
    return error.message.slice(`limbo ${command.name}: `.length);
  }
  return assert.fail(`no error for ${argv.join(' ')}`);
}

describe('option parser: values given', () => {
  const cases: [string[], Partial<Values>][] = [
    [['--verbose'], { verbose: true }],
    [['--user', 'www-data'], { user: 'www-data' }],
    [['--user='], { user: '' }],
    [['--output', 'out.json'], { output: 'out.json' }],
    [['--pid', '0'], { pid: 0 }],
    [['--pid', '4242'], { pid: 4242 }],
    [['--limit', '1'], { limit: 1 }],
    [['--limit', '007'], { limit: 7 }],
    [['--count', '2'], { count: 2 }],
    [['--count', '5'], { count: 5 }],
    [['--interval', '0.5'], { interval: 0.5 }],
    [['--interval', '10'], { interval: 10 }],
    [['--percent', '0'], { percent: 0 }],
    [['--percent', '99.5'], { percent: 99.5 }],
    [['--percent', '100'], { percent: 100 }],
    [['--min-size', '4096'], { minSize: 4096 }],
    [['--min-size', '10M'], { minSize: 10 * 1024 ** 2 }],
    [['--min-size', '1.5GiB'], { minSize: 1.5 * 1024 ** 3 }],
    [['--held', '2G'], { held: 2 * 1024 ** 3 }],
    [['--kind', 'tmpfile'], { kind: 'tmpfile' }],
    [['--sort', 'path'], { sort: 'path' }],
    [['--listen', '[::1]:80'], { listen: { host: '::1', port: 80 } }],
    [['--listen', '0.0.0.0:80'], { listen: { host: '0.0.0.0', port: 80 } }],
    [['--listen', '9000'], { listen: { host: '127.0.0.1', port: 9000 } }],
    [['--listen', ':9000'], { listen: { host: '127.0.0.1', port: 9000 } }],
    [['--tag', 'a'], { tag: ['a'] }],
    [['--tag', 'a', '--tag', 'b'], { tag: ['a', 'b'] }],
    [['--port', '80', '--port', '443'], { port: [80, 443] }],
    [['--pid', '1', '--pid', '2'], { pid: 2 }],
  ];
  for (const [argv, expected] of cases) {
    it(`${argv.join(' ')} gives ${JSON.stringify(expected)}`, () => {
      const values = parse(argv);
      for (const [key, value] of Object.entries(expected)) {
        assert.deepEqual(values[key as keyof Values], value, key);
      }
    });
  }
});

describe('option parser: values refused', () => {
  const cases: [string[], string][] = [
    [['--pid', 'abc'], "--pid takes a process id, not 'abc'"],
    [['--pid=-1'], "--pid takes a process id, not '-1'"],
    [['--pid', '1.5'], "--pid takes a process id, not '1.5'"],
    [['--pid', ''], "--pid takes a process id, not ''"],
    [['--limit', '0'], "--limit takes a positive number, not '0'"],
    [['--limit', '+3'], "--limit takes a positive number, not '+3'"],
    [['--limit', '1e3'], "--limit takes a positive number, not '1e3'"],
    [['--limit', '0x10'], "--limit takes a positive number, not '0x10'"],
    [['--count', '1'], "--count takes a number from 2 to 5, not '1'"],
    [['--count', '6'], "--count takes a number from 2 to 5, not '6'"],
    [['--interval', '0'], "--interval takes a positive number, not '0'"],
    [['--interval', '.5'], "--interval takes a positive number, not '.5'"],
    [['--interval', 'Infinity'], "--interval takes a positive number, not 'Infinity'"],
    [['--percent', '100.1'], "--percent takes a number from 0 to 100, not '100.1'"],
    [['--percent=-5'], "--percent takes a number from 0 to 100, not '-5'"],
    [['--min-size', 'lots'], "--min-size takes a size such as 10M or 1G, not 'lots'"],
    [['--min-size', '10Q'], "--min-size takes a size such as 10M or 1G, not '10Q'"],
    [['--held', 'big'], "--held takes a size such as 1G, not 'big'"],
    [['--kind', 'socket'], '--kind takes one of file, tmpfile, memfd'],
    [['--kind', 'FILE'], '--kind takes one of file, tmpfile, memfd'],
    [['--sort', 'age'], '--sort takes one of size, path'],
    [['--listen', 'nope'], "--listen takes HOST:PORT, not 'nope'"],
    [['--listen', ':70000'], "--listen takes HOST:PORT, not ':70000'"],
    [['--port', '80', '--port', '0'], "--port takes a number from 1 to 65535, not '0'"],
  ];
  for (const [argv, message] of cases) {
    it(`${argv.join(' ')}: ${message}`, () => {
      assert.equal(usageError(argv), message);
    });
  }

  it('refuses an unknown flag, a missing value, a value given to a boolean and a stray argument, in its own words', () => {
    assert.equal(usageError(['--bogus']), "unknown option '--bogus'");
    assert.equal(usageError(['--minSize', '1']), "unknown option '--minSize'");
    assert.equal(usageError(['-x']), "unknown option '-x'");
    assert.equal(usageError(['--pid']), '--pid takes a process id');
    assert.equal(usageError(['--pid', '--verbose']), '--pid takes a process id');
    assert.equal(usageError(['--kind']), '--kind takes one of file, tmpfile, memfd');
    assert.equal(usageError(['--verbose=yes']), '--verbose takes no value');
    assert.equal(usageError(['extra']), "unexpected argument 'extra'");
  });

  it('takes a negative number as the value it refuses, never as a flag', () => {
    assert.equal(usageError(['--pid', '-1']), "--pid takes a process id, not '-1'");
    assert.equal(usageError(['--limit', '-3']), "--limit takes a positive number, not '-3'");
    assert.equal(usageError(['--interval', '-0.5']), "--interval takes a positive number, not '-0.5'");
  });

  it('escapes what the user typed, as names are escaped', () => {
    assert.equal(usageError(['--limit', 'x\x1b[31m']), "--limit takes a positive number, not 'x\\e[31m'");
    assert.equal(usageError(['--b\nogus']), "unknown option '--b\\nogus'");
    assert.equal(usageError(['ex\x07tra']), "unexpected argument 'ex\\x07tra'");
  });

  it('takes positionals only from a command that declares them', () => {
    const withPaths = { ...spec, positionals: true };
    const parsed = parseCommandArgs(withPaths, ['a', '--pid', '3', 'b']);
    assert.ok(!parsed.help);
    assert.deepEqual(parsed.positionals, ['a', 'b']);
    assert.equal(parsed.values.pid, 3);
  });

  it('shows help without checking the values, so a bad value cannot hide the help', () => {
    assert.deepEqual(parseCommandArgs(spec, ['--pid', 'abc', '--help']), { help: true });
  });
});

describe('option parser: flags not given', () => {
  it('gives each option its default, or undefined when it has none', () => {
    assert.deepEqual(parse([]), {
      verbose: false,
      user: undefined,
      output: '-',
      pid: undefined,
      limit: undefined,
      count: 3,
      interval: 2,
      percent: undefined,
      minSize: undefined,
      held: 1024 ** 3,
      kind: undefined,
      sort: 'size',
      listen: { host: '127.0.0.1', port: 9469 },
      tag: [],
      port: [],
      json: false,
      from: undefined,
      proc: '/proc',
      scanner: 'auto',
      mountTimeout: 5,
      color: 'auto',
      help: false,
    });
  });

  it('refuses, at declaration, a default its own parser refuses', () => {
    assert.throws(() => sizeOption({ help: 'x', default: 'huge' }), /default 'huge' does not parse/);
  });
});

describe('option declarations', () => {
  it('names the flag after the key: minSize is --min-size', () => {
    const cases: [string, string][] = [
      ['pid', 'pid'],
      ['minSize', 'min-size'],
      ['warnPercent', 'warn-percent'],
      ['dryRun', 'dry-run'],
      ['tokenFile', 'token-file'],
    ];
    for (const [key, flag] of cases) assert.equal(flagName(key), flag);
  });

  it('types the values by the declaration: a misspelt name does not compile', () => {
    const values = parse(['--pid', '7', '--kind', 'memfd']);
    const pid: number | undefined = values.pid;
    const kind: 'file' | 'tmpfile' | 'memfd' | undefined = values.kind;
    const sort: 'size' | 'path' = values.sort;
    const tags: readonly string[] = values.tag;
    // @ts-expect-error: there is no --pdi
    assert.equal(values.pdi, undefined);
    // @ts-expect-error: --kind takes only its choices
    const wrong: 'socket' | undefined = values.kind;
    assert.deepEqual([pid, kind, sort, tags, wrong], [7, 'memfd', 'size', [], 'memfd']);
  });

  it('keeps the report defaults of the CLI equal to the library’s', () => {
    const parsed = parseCommandArgs(reportSpec, []);
    assert.ok(!parsed.help);
    assert.deepEqual(
      {
        warnHeldBytes: parsed.values.warnHeld,
        critHeldBytes: parsed.values.critHeld,
        warnPercent: parsed.values.warnPercent,
        critPercent: parsed.values.critPercent,
      },
      DEFAULT_THRESHOLDS,
    );
  });

  it('gives every command distinct flags, none of them shadowing a common one', () => {
    const common = Object.keys(COMMON_OPTIONS).map(flagName);
    for (const { spec: command } of COMMANDS) {
      const flags = Object.keys(command.options).map(flagName);
      assert.equal(new Set(flags).size, flags.length, `${command.name}: ${flags.join(' ')}`);
      assert.deepEqual(
        flags.filter((flag) => common.includes(flag)),
        [],
        `${command.name} redeclares a common flag`,
      );
    }
    const names = COMMANDS.map((c) => c.spec.name);
    assert.equal(new Set(names).size, names.length);
  });

  it('rewords a shared option without changing how it parses', () => {
    const pid = integerOption({ value: 'N', min: 0, expects: 'a process id', help: 'only files of N' });
    const reworded = withHelp(pid, 'every file of N');
    assert.equal(reworded.help, 'every file of N');
    assert.equal(reworded.parse?.('12'), 12);
    assert.equal(reworded.parse?.('x'), null);
  });
});

describe('help', () => {
  const cases: [string, string][] = [
    ['verbose', 'say more'],
    ['user', 'a user'],
    ['output', 'where to write (default -)'],
    ['count', 'between two and five (default 3)'],
    ['interval', 'a period (default 2)'],
    ['held', 'a threshold (default 1G)'],
    ['kind', 'a kind (one of file, tmpfile, memfd)'],
    ['sort', 'an order (one of size, path; default size)'],
    ['listen', 'an address (default 127.0.0.1:9469)'],
    ['tag', 'a tag (repeatable)'],
  ];
  for (const [key, line] of cases) {
    it(`describes --${flagName(key)} as "${line}"`, () => {
      const option = spec.options[key as keyof typeof spec.options];
      assert.equal(describeOption(option), line);
    });
  }

  it('shows a default that depends on the output in its own words', () => {
    const limit = integerOption({
      value: 'N',
      min: 1,
      help: 'show at most N',
      defaultText: '20 in the table, all in --json',
    });
    assert.equal(describeOption(limit), 'show at most N (default 20 in the table, all in --json)');
  });

  it('lists every flag, with its placeholder, in declaration order, then the common ones', () => {
    const help = formatHelp(spec);
    assert.ok(
      help.startsWith('A command with a flag of every kind.\n\nUsage: limbo try [OPTIONS]\n\nOptions:\n'),
    );
    const flags = [...help.matchAll(/^ {2}(--[a-z-]+(?: \S+)?)/gm)].map((m) => m[1]);
    assert.deepEqual(flags, [
      '--verbose',
      '--user NAME',
      '--output FILE',
      '--pid N',
      '--limit N',
      '--count N',
      '--interval SECONDS',
      '--percent P',
      '--min-size SIZE',
      '--held SIZE',
      '--kind K',
      '--sort KEY',
      '--listen HOST:PORT',
      '--tag TAG',
      '--port PORT',
      '--json',
      '--from FILE',
      '--proc DIR',
      '--scanner NAME',
      '--mount-timeout SECONDS',
      '--color WHEN',
      '--help',
    ]);
    assert.match(
      help,
      /^ {2}--proc DIR +the \/proc to read: a proc filesystem, or a tree with PID\/status and sys\/fs\/file-nr \(default \/proc\)$/m,
    );
    assert.match(help, /^ {2}--sort KEY +an order \(one of size, path; default size\)$/m);
  });

  it('prints the details after the options', () => {
    const help = formatHelp({ ...spec, details: 'Why it is safe.\n' });
    assert.match(help, / {2}--help +show this help\n\nWhy it is safe\.\n$/);
  });
});

describe('the walk bin/limbo.js starts before the CLI loads', () => {
  it('starts it for a command that scans first, with the scanner asked for', () => {
    assert.equal(earlyScanOfArgv(['deleted', '--json', '--scanner', 'bpf']), 'bpf');
    assert.equal(earlyScanOfArgv(['deleted', '--scanner=bpf']), 'bpf');
    assert.equal(earlyScanOfArgv(['df']), 'auto');
    // Bare limbo and limbo --json run the report, which scans first.
    assert.equal(earlyScanOfArgv([]), 'auto');
    assert.equal(earlyScanOfArgv(['--json']), 'auto');
    // Every command of SCANS_FIRST is one commands.ts knows.
    for (const name of SCANS_FIRST)
      assert.ok(
        COMMANDS.some((c) => c.spec.name === name),
        name,
      );
  });

  it('leaves it to the command where the argv says another /proc, a saved snapshot, /proc links or help', () => {
    for (const argv of [
      ['deleted', '--from', 'snap.json'],
      ['deleted', '--from=snap.json'],
      ['deleted', '--proc', '/tmp/proc'],
      ['deleted', '--scanner', 'proc'],
      ['deleted', '--scanner=proc'],
      ['deleted', '--scanner'],
      ['deleted', '--help'],
      ['deleted', '-h'],
      ['deleted', '--', '--json'],
      ['handles'],
      ['snapshot'],
      ['help', 'deleted'],
      ['--version'],
      ['-V'],
    ])
      assert.equal(earlyScanOfArgv(argv), null, argv.join(' '));
  });
});
