import { booleanOption, defineCommand } from '../options.js';

export const recoverSpec = defineCommand({
  name: 'recover',
  summary:
    'Get a deleted file back while a process still holds it: copy it out (holes kept), or relink an O_TMPFILE.',
  usage: 'limbo recover TARGET DEST [--link] [--force] [--json]',
  positionals: true,
  options: {
    link: booleanOption('give an O_TMPFILE file the name DEST instead of copying it (same filesystem only)'),
    force: booleanOption("copy even when DEST's filesystem looks too small for it"),
  },
  details: `TARGET is PID:FD or MAJ:MIN:INODE (as limbo deleted prints it); a file that only a memory
mapping holds is read through /proc/PID/map_files (root only).

DEST is created exclusively: limbo never overwrites anything and never follows a symlink at DEST.
Holes are kept, so a sparse file stays sparse (SEEK_DATA/SEEK_HOLE with the native addon; without
it, blocks of zeros are left as holes). Mode (without setuid/setgid) and times are kept, the size
is verified, and limbo warns when the holder wrote to the file during the copy. Run as root, DEST
also gets the file's owner and group.

An SQLite database comes with its -wal and -journal, when the same process holds them (deleted or
not): they are copied to DEST-wal and DEST-journal, which must not exist. The -shm is not copied
(SQLite rebuilds it). A database in WAL mode without a -wal held beside it is recovered with a
warning: transactions committed since its last checkpoint are gone.

--link works only for a file created with O_TMPFILE (and without O_EXCL): the kernel gives no
other unlinked file a name again, so everything else is copied.`,
});
