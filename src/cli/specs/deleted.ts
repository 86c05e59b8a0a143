import { DELETED_KINDS, DELETED_SORTS } from '../../analyses/choices.js';
import { booleanOption, defineCommand, enumOption, integerOption } from '../options.js';
import { DELETED_FILTER_OPTIONS } from './option-groups.js';

/** Files the table shows without --limit or --all. */
export const DELETED_TABLE_LIMIT = 20;

export const deletedSpec = defineCommand({
  name: 'deleted',
  summary: 'List deleted files still held open or mapped: the space df counts and du cannot see.',
  usage:
    'limbo deleted [--pid N] [--user NAME] [--mount MOUNTPOINT | --filesystem-of PATH] [--container ID] [--min-size SIZE] [--kind K] [--sort KEY] [--limit N | --all] [--json]',
  options: {
    ...DELETED_FILTER_OPTIONS,
    kind: enumOption(DELETED_KINDS, { value: 'K', help: 'only this kind' }),
    sort: enumOption(DELETED_SORTS, { value: 'KEY', help: 'order by KEY', default: 'allocated' }),
    limit: integerOption({
      value: 'N',
      min: 1,
      help: 'show at most N files; totals count all',
      defaultText: `${DELETED_TABLE_LIMIT} in the table, all in --json`,
    }),
    all: booleanOption('show every file in the table'),
  },
});
