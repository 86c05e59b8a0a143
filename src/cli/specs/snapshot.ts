import { booleanOption, defineCommand, stringOption } from '../options.js';

export const snapshotSpec = defineCommand({
  name: 'snapshot',
  summary: 'Scan this machine once and write the snapshot as JSON, for --from, replay or a bug report.',
  usage: 'limbo snapshot [--output FILE] [--handles]',
  options: {
    output: stringOption({
      value: 'FILE',
      help: 'write to FILE instead of standard output',
    }),
    handles: booleanOption('also count every file handle, for `limbo handles --from`'),
  },
});
