import { booleanOption, defineCommand, withHelp } from '../options.js';
import { consentOptions, DELETED_FILTER_OPTIONS } from './option-groups.js';

const filters = DELETED_FILTER_OPTIONS;

export const reclaimSpec = defineCommand({
  name: 'reclaim',
  summary: 'Give back the space of deleted files still held open, without a restart: truncate them, safely.',
  usage:
    'limbo reclaim TARGET... | --pid N | --user NAME | --mount MOUNTPOINT | --filesystem-of PATH | --container ID | --min-size SIZE | --all  [--force] [--yes | --dry-run] [--json]',
  positionals: true,
  options: {
    pid: withHelp(filters.pid, 'every deleted file process N holds'),
    user: withHelp(filters.user, 'every deleted file a process of this user holds'),
    mount: withHelp(
      filters.mount,
      'every deleted file on the filesystem mounted at PATH (a mount point exactly; /proc/PID/root/MOUNTPOINT for a mount of another mount namespace)',
    ),
    filesystemOf: withHelp(
      filters.filesystemOf,
      'every deleted file on the whole filesystem that holds PATH, wherever it is (the dry run names it)',
    ),
    minSize: withHelp(filters.minSize, 'only files holding at least SIZE (10M, 1G)'),
    container: withHelp(
      filters.container,
      'every deleted file a process of this container holds (its id, a unique prefix, or its name)',
    ),
    all: booleanOption('every deleted file held open (the filters narrow it)'),
    force: booleanOption(
      'also truncate files a holder reads back, maps, or writes without O_APPEND, and durable program state (see below)',
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

Truncated without --force only when every holder only appends (opened write-only with
O_APPEND) and nothing maps it: each keeps writing at the new end, nothing is lost but the old
content. Every truncation destroys the content: when the file is not a log, the plan offers
limbo recover first.

Needs --force: a holder that reads the data back (O_RDONLY or O_RDWR: databases, temporary files,
caches, a backup in progress) loses it, and its next reads come back short or fail; a holder that
maps it gets SIGBUS past the new end; a holder that writes without O_APPEND (write or pwrite at
its own offsets) regrows a sparse file whose start reads as zeros; a file known to be a program's
durable state (Redis AOF and RDB, SQLite database, -wal and -journal, PostgreSQL and MySQL/MariaDB
data, WAL and binlogs, journald journals) is named, with that program's own safe step.

Never truncated, even with --force: a file mapped as code (restart the process), a file still
linked under another name (that name would be emptied too), anything not a regular file, a
descriptor whose number now refers to another file, a memfd sealed against writes or shrinking,
and a file that changed between the preview and the act where its filesystem keeps no birth
time (size, ctime, holders or their flags differ: it may be another file with the same inode).

limbo names what makes each holder let go without a truncation: the program's own step sent to
its master (nginx and Apache USR1, rsyslogd and syslog-ng HUP, pg_rotate_logfile(), FLUSH LOGS,
BGREWRITEAOF), systemctl restart UNIT for a service, or a restart of the family's top process.

--mount takes a mount point exactly; --filesystem-of PATH means the whole filesystem holding PATH.
A mount private to another mount namespace (a container's) is named from the host through a
process of that namespace, /proc/PID/root/MOUNTPOINT, as limbo deleted and limbo report print it.
Every plan names the filesystem it covers.

On a terminal limbo shows the plan and asks first; scripts pass --yes; --dry-run only shows.
Afterwards it reports statfs free space (df's "Avail") before and after per filesystem, beside
what the files held of their own. Exit 1 when anything was refused.`,
});
