import { booleanOption, defineCommand } from '../options.js';

export const dfSpec = defineCommand({
  name: 'df',
  summary:
    'Explain why df and du disagree, per filesystem: reserved, held by deleted files, hidden under mounts.',
  usage: 'limbo df [PATH...] [--walk] [--json]',
  positionals: true,
  options: {
    walk: booleanOption(
      'walk each filesystem like du -sx (always done for a single PATH); as root, also under mount points',
    ),
  },
});
