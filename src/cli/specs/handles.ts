import { defineCommand, integerOption, withHelp } from '../options.js';
import { DELETED_FILTER_OPTIONS } from './option-groups.js';

/** Processes the table lists without --top. */
export const HANDLES_TOP = 10;

export const handlesSpec = defineCommand({
  name: 'handles',
  summary: 'Explain /proc/sys/fs/file-nr line by line, and warn before EMFILE or ENFILE.',
  usage: 'limbo handles [--top N] [--warn-percent P] [--container ID] [--json]',
  options: {
    top: integerOption({
      value: 'N',
      min: 1,
      help: 'list the N processes with most descriptors',
      defaultText: `${HANDLES_TOP} in the table, all in --json`,
    }),
    warnPercent: integerOption({
      value: 'P',
      min: 1,
      help: 'warn when a process or the system passes P% of its limit',
      // explainHandles applies it when the flag is absent.
      defaultText: '80',
    }),
    container: withHelp(
      DELETED_FILTER_OPTIONS.container,
      "only this container's processes in the list and the warnings (its id, a unique prefix, or its name); the ledger stays the whole system's",
    ),
  },
});
