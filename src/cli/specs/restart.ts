import { booleanOption, defineCommand } from '../options.js';

export const restartSpec = defineCommand({
  name: 'restart',
  summary:
    'List processes still running deleted or replaced code (after an upgrade), grouped by what to restart.',
  usage: 'limbo restart [--all] [--check] [--json]',
  options: {
    all: booleanOption('also report deleted or replaced data files mapped without execute'),
    check: booleanOption('exit 1 when anything needs a restart, 0 otherwise (for scripts)'),
  },
});
