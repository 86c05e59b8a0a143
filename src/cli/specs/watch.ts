import { booleanOption, defineCommand, numberOption } from '../options.js';

export const watchSpec = defineCommand({
  name: 'watch',
  summary:
    'A live terminal view of the report with trends and leak flags (q quits); one plain view when not a TTY.',
  usage: 'limbo watch [--interval SECONDS] [--once]',
  // A live view of this machine: a saved snapshot has no trend, and the view is for people.
  without: ['from', 'json'],
  options: {
    interval: numberOption({
      value: 'SECONDS',
      min: 0,
      minExclusive: true,
      expects: 'a positive number of seconds',
      help: 'time between scans',
      default: 2,
    }),
    once: booleanOption('print one view and exit (the default when output is not a terminal)'),
  },
});
