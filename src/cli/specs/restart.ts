import { booleanOption, defineCommand, withHelp } from '../options.js';
import { DELETED_FILTER_OPTIONS } from './option-groups.js';

export const restartSpec = defineCommand({
  name: 'restart',
  summary:
    'List processes still running deleted or replaced code (after an upgrade), grouped by what to restart.',
  usage: 'limbo restart [--container ID] [--all] [--check] [--json]',
  options: {
    all: booleanOption('also report deleted or replaced data files mapped without execute'),
    container: withHelp(
      DELETED_FILTER_OPTIONS.container,
      'only processes of this container: its id, a unique prefix of it (as docker prints), or its name (LXC, systemd-nspawn)',
    ),
    check: booleanOption('exit 1 when anything needs a restart, 0 otherwise (for scripts)'),
  },
});
