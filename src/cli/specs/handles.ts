import { defineCommand, integerOption } from '../options.js';

/** Processes the table lists without --top. */
export const HANDLES_TOP = 10;

export const handlesSpec = defineCommand({
  name: 'handles',
  summary: 'Explain /proc/sys/fs/file-nr line by line, and warn before EMFILE or ENFILE.',
  usage: 'limbo handles [--top N] [--warn-percent P] [--json]',
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
  },
});
