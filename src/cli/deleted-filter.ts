import { existsSync, statSync } from 'node:fs';
import type { DeletedFilter, DeletedKind, DeletedSort } from '../analyses/deleted.js';
import { readPasswd } from '../proc/passwd.js';
import type { Snapshot } from '../snapshot/types.js';
import { quote } from './options.js';
import { LimboError } from '../core/errors.js';
import { formatDev } from '../proc/file-stat.js';
import type { OptionValues } from './options.js';
import type { DELETED_FILTER_OPTIONS } from './specs/option-groups.js';

/** The parsed filter flags; `limbo deleted` adds --kind and --sort. */
export type DeletedFilterValues = OptionValues<typeof DELETED_FILTER_OPTIONS> & {
  readonly kind?: DeletedKind | undefined;
  readonly sort?: DeletedSort | undefined;
};

/**
 * The filter the flags describe. The parser has checked every value; only --mount is left, as it
 * needs the filesystem: a path that cannot be stat'ed does not exist (exit 1), as for df and links.
 */
export function toDeletedFilter(command: string, values: DeletedFilterValues): DeletedFilter {
  const filter: { -readonly [K in keyof DeletedFilter]: DeletedFilter[K] } = {};
  if (values.pid !== undefined) filter.pid = values.pid;
  if (values.user !== undefined) filter.user = values.user;
  if (values.mount !== undefined) {
    try {
      filter.dev = formatDev(statSync(values.mount, { bigint: true }).dev);
    } catch (error) {
      throw new LimboError(
        'not-found',
        `limbo ${command}: --mount: cannot stat ${quote(values.mount)}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`,
      );
    }
  }
  if (values.minSize !== undefined) filter.minAllocatedBytes = values.minSize;
  if (values.kind !== undefined) filter.kind = values.kind;
  if (values.sort !== undefined) filter.sort = values.sort;
  return filter;
}

/**
 * Refuses a filter whose subject does not exist, so that a typo never reads as "nothing held":
 * `--pid` of no process (in the snapshot, or a live kernel thread under `procRoot`), `--user` that
 * names no user (not in the snapshot's processes, not in the user table, not a number).
 */
export function checkFilterSubjects(
  command: string,
  filter: DeletedFilter,
  snapshot: Snapshot,
  live: boolean,
): void {
  const { pid, user } = filter;
  if (
    pid !== undefined &&
    !snapshot.processes.some((p) => p.pid === pid) &&
    !(live && existsSync(`${snapshot.procRoot}/${pid}`))
  ) {
    throw new LimboError('not-found', `limbo ${command}: no process ${pid}`);
  }
  if (
    user !== undefined &&
    !/^\d+$/.test(user) &&
    !snapshot.processes.some((p) => p.user === user) &&
    !(live && [...readPasswd().values()].includes(user))
  ) {
    throw new LimboError('not-found', `limbo ${command}: no user ${quote(user)}`);
  }
}
