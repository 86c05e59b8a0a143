import { booleanOption, defineCommand, stringOption } from '../options.js';

export const linksSpec = defineCommand({
  name: 'links',
  summary:
    'Explain hard links: every name of a file, what rm would free, directory link counts, link groups.',
  usage: 'limbo links PATH... [--within DIR] [--groups DIR] [--all] [--json]',
  positionals: true,
  options: {
    within: stringOption({
      value: 'DIR',
      help: "look for a file's other names only under DIR",
      defaultText: 'its whole filesystem',
    }),
    groups: stringOption({
      value: 'DIR',
      help: 'list every hard-link group under DIR, biggest first, and what a backup of DIR needs',
    }),
    all: booleanOption('show every name and every group in the table'),
  },
});
