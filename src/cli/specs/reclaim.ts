import { booleanOption, defineCommand, withHelp } from '../options.js';
import { consentOptions, DELETED_FILTER_OPTIONS } from './option-groups.js';

const filters = DELETED_FILTER_OPTIONS;

export const reclaimSpec = defineCommand({
  name: 'reclaim',
  summary: 'Give back the space of deleted files still held open, without a restart: truncate them, safely.',
  usage:
    'limbo reclaim TARGET... | --pid N | --user NAME | --mount PATH | --min-size SIZE | --all  [--force] [--yes | --dry-run] [--json]',
  positionals: true,
  options: {
    pid: withHelp(filters.pid, 'every deleted file process N holds'),
    user: withHelp(filters.user, 'every deleted file a process of this user holds'),
    mount: withHelp(filters.mount, 'every deleted file on the filesystem that holds PATH'),
    minSize: withHelp(filters.minSize, 'only files holding at least SIZE (10M, 1G)'),
    all: booleanOption('every deleted file held open (the filters narrow it)'),
    force: booleanOption(
      'also truncate files that are memory-mapped or written without O_APPEND (see below)',
    ),
    ...consentOptions('truncated and freed'),
  },
  details: `TARGET is PID:FD (one descriptor) or MAJ:MIN:INODE (a file, as limbo deleted prints it: every
holder of it). Without a target or a filter nothing is done.

How: limbo opens the /proc link with O_PATH, checks through that descriptor that it is a regular
file, unlinked (st_nlink 0) and the very inode the scan saw, then opens that inode for writing
through /proc/self/fd and truncates it to 0. Every holder then sees an empty file; the space is
free at once (btrfs shows it in statfs only once its transaction commits, within 30 s by default).
Blocks the file shares with other files (reflinks, btrfs snapshots) stay in use: limbo reads them
with FIEMAP and expects back only the rest; a file whose blocks are all shared is skipped. A file named by MAJ:MIN:INODE is reached through a holder found by a fresh scan.

Never truncated: a file still linked under another name (that name would be emptied too),
anything not a regular file, a descriptor whose number now refers to another file, a memfd
sealed against writes or shrinking.

Needs --force: a file some holder has memory-mapped (it gets SIGBUS reading past the new end;
code mapped from it crashes), or one a holder writes without O_APPEND: its next write lands at
its old offset and recreates the old size as a sparse file whose start reads as zeros. There a
restart or a log reopen (limbo names the one it knows) is the better fix.

On a terminal limbo shows the plan and asks first; scripts pass --yes; --dry-run only shows.
Afterwards it reports statfs free space (df's "Avail") before and after per filesystem, beside
what the files held of their own. Exit 1 when anything was refused.`,
});
