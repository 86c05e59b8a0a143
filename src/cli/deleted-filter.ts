import { statSync } from 'node:fs';
import type { DeletedFilter, DeletedKind, DeletedSort } from '../analyses/deleted.js';
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
 * needs the filesystem: a path that cannot be stat'ed is a usage error here.
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
        'usage',
        `limbo ${command}: --mount: cannot stat '${values.mount}': ${(error as NodeJS.ErrnoException).code ?? 'error'}`,
      );
    }
  }
  if (values.minSize !== undefined) filter.minAllocatedBytes = values.minSize;
  if (values.kind !== undefined) filter.kind = values.kind;
  if (values.sort !== undefined) filter.sort = values.sort;
  return filter;
}
