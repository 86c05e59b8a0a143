import { commBytesSchema, commToJson } from '../format/json-fields.js';
import type { IncompleteView } from './incomplete.js';
import { array, enumOf, integer, nullable, object, optional, string } from '../format/json-schema.js';

/**
 * The fields every contract's `incomplete` carries beside `unreadableProcesses` and
 * `unreadablePids`, each declared `optional(...)` there (add-only within a version): the
 * unreadable processes named, and the processes that exited mid-scan.
 */
export const unreadableProcessesJsonSchema = array(
  object({
    pid: integer({ minimum: 1 }),
    comm: string(),
    commBytes: optional(commBytesSchema),
    user: string(),
    why: array(enumOf(['fd-directory', 'fd-links', 'maps'])),
    descriptors: nullable(integer({ minimum: 0 })),
  }),
  { description: 'The processes that could not be read: who, what the kernel refused, fds left unknown.' },
);
export const vanishedProcessesJsonSchema = integer({
  minimum: 0,
  description: 'Processes that exited while the scan ran: left out, not unread.',
});

export const scannerJsonSchema = object(
  {
    name: enumOf(['proc', 'bpf']),
    reason: string(),
  },
  {
    description:
      'Who read the fd tables and why: proc (every fd link through /proc) or bpf (the kernel tables walked by BPF iterators); absent when replaying a snapshot taken before limbo had a choice.',
  },
);

/** `incomplete` of a contract that added it whole within its version (limbo.df/1, limbo.report/1). */
export const scanIncompleteJsonSchema = object({
  unreadableProcesses: integer({ minimum: 0 }),
  unreadablePids: array(integer()),
  processes: optional(unreadableProcessesJsonSchema),
  vanishedProcesses: optional(vanishedProcessesJsonSchema),
  scanner: optional(scannerJsonSchema),
});

/** Those fields' values. */
export function incompleteToJson(incomplete: IncompleteView): {
  processes: {
    pid: number;
    comm: string;
    commBytes?: string;
    user: string;
    why: ('fd-directory' | 'fd-links' | 'maps')[];
    descriptors: number | null;
  }[];
  vanishedProcesses: number;
  scanner?: { name: 'proc' | 'bpf'; reason: string };
} {
  return {
    processes: incomplete.processes.map((p) => ({
      pid: p.pid,
      ...commToJson(p.comm),
      user: p.user,
      why: [...p.why],
      descriptors: p.descriptors,
    })),
    vanishedProcesses: incomplete.vanishedProcesses,
    ...(incomplete.scanner ? { scanner: { ...incomplete.scanner } } : {}),
  };
}
