import { booleanOption, defineCommand } from '../options.js';
import { consentOptions } from './option-groups.js';

export const closeSpec = defineCommand({
  name: 'close',
  summary: 'Close a leaked descriptor inside a running process (through gdb; needs --force).',
  usage: 'limbo close PID:FD --force [--devnull] [--yes | --dry-run] [--json]',
  positionals: true,
  options: {
    force: booleanOption('required: you accept the risk described below'),
    devnull: booleanOption('point the descriptor at /dev/null instead of closing it: its number stays taken'),
    ...consentOptions('closed and freed'),
  },
  details: `How: gdb attaches to the process, which stops all its threads for a moment (about a second),
checks the descriptor still refers to the file limbo examined, makes the process run close(FD)
(on x86_64 as a raw system call, its registers saved and restored, its errno untouched), and
detaches. limbo then checks the descriptor is gone and measures, with
statfs, the space that came back (only when it was the file's last holder).

The risk: the process is not told. If it uses the number again it gets EBADF, or worse: the next
file it opens takes the same number, and code still holding the old one reads or writes that
file. A restart, or a log reopen when the program offers one, is the safer fix. --devnull avoids
the reuse: the descriptor then points at /dev/null (reads see end-of-file, writes vanish).
Standard input, output and error (0, 1, 2) are only ever redirected with --devnull.

Refused: pid 1, limbo itself, kernel threads, zombies, stopped processes (kill -CONT first),
processes already traced (a debugger or strace), and any process when gdb is not installed.`,
});
