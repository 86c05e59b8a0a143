import type { DeletedFilter } from '../analyses/deleted.js';
import { parseTarget, type Target } from '../actions/target.js';
import { LimboError } from '../core/errors.js';
import { parseDeletedFilter } from './deleted-command.js';
import type { OptionSpec, ParsedOptions } from './options.js';

/** The filters of `limbo deleted`, as the acting commands take them to choose files. */
export const FILTER_OPTIONS: readonly OptionSpec[] = [
  { name: 'pid', type: 'string', value: 'N', help: 'every deleted file process N holds' },
  { name: 'user', type: 'string', value: 'NAME', help: 'every deleted file a process of this user holds' },
  {
    name: 'mount',
    type: 'string',
    value: 'PATH',
    help: 'every deleted file on the filesystem that holds PATH',
  },
  { name: 'min-size', type: 'string', value: 'SIZE', help: 'only files holding at least SIZE (10M, 1G)' },
  { name: 'all', type: 'boolean', help: 'every deleted file held open (the filters narrow it)' },
];

/** Parses `PID:FD` and `MAJ:MIN:INODE` arguments; a bad one is a usage error. */
export function parseTargets(command: string, positionals: readonly string[]): Target[] {
  return positionals.map((text) => {
    const target = parseTarget(text);
    if (!target) {
      throw new LimboError(
        'usage',
        `limbo ${command}: '${text}' is not a target: give PID:FD (one descriptor) or MAJ:MIN:INODE (as limbo deleted prints it)`,
      );
    }
    return target;
  });
}

/** The filter the flags describe, or null when none was given (then only named targets count). */
export function parseFilterArgs(command: string, values: ParsedOptions): DeletedFilter | null {
  const filter = parseDeletedFilter(command, values);
  return values['all'] === true || Object.keys(filter).length > 0 ? filter : null;
}

/** The acting commands work on this machine, now: a saved snapshot cannot be acted on. */
export function refuseSavedSnapshot(command: string, values: ParsedOptions): void {
  if (typeof values['from'] === 'string') {
    throw new LimboError(
      'usage',
      `limbo ${command}: --from cannot be used: ${command} acts on the live system`,
    );
  }
}
