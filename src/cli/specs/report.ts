import { booleanOption, defineCommand, numberOption, sizeOption } from '../options.js';

/** The thresholds a percentage flag takes, as `limbo report` has always checked them. */
const percent = { value: 'P', min: 0, max: 100, expects: 'a percentage from 0 to 100' } as const;

// The defaults are DEFAULT_THRESHOLDS of the report analysis (a test holds them equal).
export const reportSpec = defineCommand({
  name: 'report',
  summary:
    'The one screen to read first (also bare `limbo`): every finding, worst first, with the next command.',
  usage:
    'limbo [report] [--check] [--warn-held SIZE] [--crit-held SIZE] [--warn-percent P] [--crit-percent P] [--json]',
  options: {
    check: booleanOption(
      'monitoring mode: print one Nagios-style line; exit 0 ok, 1 warning, 2 critical, 3 unknown (could not look)',
    ),
    warnHeld: sizeOption({
      value: 'SIZE',
      expects: 'a size such as 1G',
      help: 'warn when deleted files hold SIZE on a filesystem',
      default: '1G',
    }),
    critHeld: sizeOption({
      value: 'SIZE',
      expects: 'a size such as 1G',
      help: 'critical from SIZE held on a filesystem',
      default: '10G',
    }),
    warnPercent: numberOption({
      ...percent,
      help: 'warn at P% of a process fd limit or fs.file-max',
      default: 80,
    }),
    critPercent: numberOption({ ...percent, help: 'critical from P% of a limit', default: 95 }),
  },
});
