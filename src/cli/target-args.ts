import type { DeletedFilter } from '../analyses/deleted.js';
import { parseTarget, type Target } from '../actions/target.js';
import { LimboError } from '../core/errors.js';
import { toDeletedFilter, type DeletedFilterValues } from './deleted-filter.js';
import type { CommonValues } from './options.js';

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
export function parseFilterArgs(
  command: string,
  values: DeletedFilterValues & { readonly all: boolean },
): DeletedFilter | null {
  const filter = toDeletedFilter(command, values);
  return values.all || Object.keys(filter).length > 0 ? filter : null;
}

/** The acting commands work on this machine, now: a saved snapshot cannot be acted on. */
export function refuseSavedSnapshot(command: string, values: Pick<CommonValues, 'from'>): void {
  if (values.from !== undefined) {
    throw new LimboError(
      'usage',
      `limbo ${command}: --from cannot be used: ${command} acts on the live system`,
    );
  }
}
