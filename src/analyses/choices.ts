// The words the analyses take as filters, declared once and importing nothing at run time, so the
// CLI's option declarations (src/cli/specs/) offer exactly these without loading an analysis.
import type { ShmStatus } from '../proc/sysvipc-shm.js';

/**
 * What kind of deleted file: on a filesystem, an O_TMPFILE, a memfd (RAM), a file a FUSE or NFS
 * client renamed to a hidden name instead of removing it (silly-renamed), or a POSIX message
 * queue removed with mq_unlink (mqueue: kernel memory, no blocks).
 */
export const DELETED_KINDS = ['file', 'tmpfile', 'memfd', 'silly-renamed', 'mqueue'] as const;
export type DeletedKind = (typeof DELETED_KINDS)[number];

/** How `limbo deleted` can order its files. */
export const DELETED_SORTS = ['allocated', 'size', 'holders', 'path'] as const;
export type DeletedSort = (typeof DELETED_SORTS)[number];

/** The states of a SysV segment, worst first. */
export const SHM_STATUSES = [
  'orphaned',
  'removed-attached',
  'attached',
] as const satisfies readonly ShmStatus[];
