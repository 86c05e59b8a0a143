import { commBytesSchema, commToJson } from '../format/json-fields.js';
import type { IncompleteView } from './incomplete.js';
import type { UnansweredMount } from '../snapshot/types.js';
import { array, enumOf, integer, nullable, object, optional, string } from '../format/json-schema.js';
import { devJsonSchema } from '../format/json-fields.js';

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

export const unansweredMountsJsonSchema = array(
  object({
    mount: string({ description: 'Its mount point, as its own mount namespace sees it.' }),
    fstype: string(),
    dev: devJsonSchema,
    mountNamespace: nullable(string({ description: "Its mount namespace; null when limbo's own." })),
    path: string({ description: 'The path limbo asked: the mount point, or /proc/PID/root/MOUNTPOINT.' }),
    waitedMilliseconds: integer({ minimum: 0, description: 'How long limbo waited for its statfs.' }),
    skipped: integer({
      minimum: 0,
      description: 'Descriptors and mappings whose files on it were not stat-ed: what they hold is unknown.',
    }),
  }),
  {
    description:
      'FUSE and network mounts that did not answer statfs in time (a stopped daemon, a server gone): skipped and named, never waited for.',
  },
);

/** `incomplete` of a contract that added it whole within its version (limbo.df/1, limbo.report/1). */
export const scanIncompleteJsonSchema = object({
  unreadableProcesses: integer({ minimum: 0 }),
  unreadablePids: array(integer()),
  processes: optional(unreadableProcessesJsonSchema),
  vanishedProcesses: optional(vanishedProcessesJsonSchema),
  scanner: optional(scannerJsonSchema),
  unansweredMounts: optional(unansweredMountsJsonSchema),
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
  unansweredMounts?: UnansweredMountJson[];
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
    // Only when a mount did not answer: the field is new within each contract's version.
    ...(incomplete.unansweredMounts.length > 0
      ? { unansweredMounts: unansweredMountsToJson(incomplete.unansweredMounts) }
      : {}),
  };
}

/** One entry of `unansweredMounts`. */
interface UnansweredMountJson {
  mount: string;
  fstype: string;
  dev: string;
  mountNamespace: string | null;
  path: string;
  waitedMilliseconds: number;
  skipped: number;
}

/** `unansweredMounts`' value. */
export function unansweredMountsToJson(mounts: readonly UnansweredMount[]): UnansweredMountJson[] {
  return mounts.map((m) => ({
    mount: m.mountPoint,
    fstype: m.fstype,
    dev: m.dev,
    mountNamespace: m.mountNamespace,
    path: m.path,
    waitedMilliseconds: m.waitedMilliseconds,
    skipped: m.skipped,
  }));
}
