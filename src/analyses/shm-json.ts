import { isUtf8 } from 'node:buffer';
import type { ShmStatus } from '../proc/sysvipc-shm.js';
import { inodeToJson } from './deleted-json.js';
import type { ShmReport, ShmStatusTotal } from './shm.js';

interface StatusTotalJson {
  readonly segments: number;
  readonly size: number;
  readonly rss: number;
  readonly swap: number;
}

/** The documented `limbo.shm/1` JSON (docs/json.md): bytes as numbers, times as ISO 8601 UTC or null. */
export interface ShmJson {
  readonly schema: 'limbo.shm/1';
  readonly segments: readonly {
    readonly shmid: number;
    readonly key: string;
    readonly originalKey: string | null;
    readonly status: ShmStatus;
    readonly size: number;
    readonly rss: number;
    readonly swap: number;
    readonly nattch: number;
    readonly owner: string;
    readonly uid: number;
    readonly gid: number;
    readonly cuid: number;
    readonly perms: string;
    readonly locked: boolean;
    readonly cpid: number;
    readonly cpidComm: string | null;
    readonly lpid: number;
    readonly lpidComm: string | null;
    readonly attachTime: string | null;
    readonly detachTime: string | null;
    readonly changeTime: string | null;
    readonly attachedBy: readonly number[];
    readonly attachments: readonly {
      readonly pid: number;
      readonly comm: string;
      readonly user: string;
      readonly count: number;
    }[];
    readonly unseenAttaches: number;
  }[];
  readonly totals: StatusTotalJson & { readonly byStatus: Readonly<Record<ShmStatus, StatusTotalJson>> };
  readonly unmatchedAttachments: readonly {
    readonly pid: number;
    readonly comm: string;
    readonly shmid: number;
    readonly key: string;
    readonly count: number;
  }[];
  readonly posix: {
    readonly mount: string | null;
    readonly dev: string | null;
    readonly files: number;
    readonly size: number;
    readonly allocated: number;
    readonly biggest: readonly {
      readonly name: string;
      readonly nameBytes?: string;
      readonly owner: string;
      readonly uid: number;
      readonly size: number;
      readonly allocated: number;
    }[];
    readonly deleted: readonly {
      readonly path: string | null;
      readonly pathBytes?: string;
      readonly inode: number | string;
      readonly size: number;
      readonly allocated: number;
      readonly holders: readonly {
        readonly pid: number;
        readonly comm: string;
        readonly user: string;
        readonly fds: readonly number[];
        readonly mappings: number;
      }[];
    }[];
    readonly deletedSize: number;
    readonly deletedAllocated: number;
  };
  readonly incomplete: {
    readonly sysvUnreadable: boolean;
    readonly devShmUnreadable: boolean;
    readonly unreadableProcesses: number;
    readonly unreadablePids: readonly number[];
    readonly unseenAttaches: number;
  };
}

/** Converts a report to the `limbo.shm/1` contract. */
export function shmReportToJson(report: ShmReport): ShmJson {
  const { posix } = report;
  return {
    schema: 'limbo.shm/1',
    segments: report.segments.map((s) => ({
      shmid: s.shmid,
      key: s.keyHex,
      originalKey: s.originalKeyHex,
      status: s.status,
      size: s.sizeBytes,
      rss: s.rssBytes,
      swap: s.swapBytes,
      nattch: s.nattch,
      owner: s.owner,
      uid: s.uid,
      gid: s.gid,
      cuid: s.cuid,
      perms: s.perms.toString(8).padStart(4, '0'),
      locked: s.locked,
      cpid: s.creator?.pid ?? 0,
      cpidComm: s.creator?.comm?.toString('utf8') ?? null,
      lpid: s.lastUser?.pid ?? 0,
      lpidComm: s.lastUser?.comm?.toString('utf8') ?? null,
      attachTime: isoTime(s.attachTime),
      detachTime: isoTime(s.detachTime),
      changeTime: isoTime(s.changeTime),
      attachedBy: s.attachments.map((a) => a.pid),
      attachments: s.attachments.map((a) => ({
        pid: a.pid,
        comm: a.comm.toString('utf8'),
        user: a.user,
        count: a.count,
      })),
      unseenAttaches: s.unseenAttaches,
    })),
    totals: {
      ...statusTotalToJson(report.totals),
      byStatus: {
        attached: statusTotalToJson(report.totals.byStatus.attached),
        orphaned: statusTotalToJson(report.totals.byStatus.orphaned),
        'removed-attached': statusTotalToJson(report.totals.byStatus['removed-attached']),
      },
    },
    unmatchedAttachments: report.unmatched.map((u) => ({
      pid: u.pid,
      comm: u.comm.toString('utf8'),
      shmid: u.shmid,
      key: u.keyHex,
      count: u.count,
    })),
    posix: {
      mount: posix.mount?.mountPoint ?? null,
      dev: posix.mount?.dev ?? null,
      files: posix.files,
      size: posix.sizeBytes,
      allocated: posix.allocatedBytes,
      biggest: posix.biggest.map((f) => ({
        name: f.name.toString('utf8'),
        ...(isUtf8(f.name) ? {} : { nameBytes: f.name.toString('base64') }),
        owner: f.owner,
        uid: f.uid,
        size: f.sizeBytes,
        allocated: f.allocatedBytes,
      })),
      deleted: posix.deleted.map((f) => ({
        path: f.name === null ? null : f.name.toString('utf8'),
        ...(f.name !== null && !isUtf8(f.name) ? { pathBytes: f.name.toString('base64') } : {}),
        inode: inodeToJson(f.ino),
        size: f.sizeBytes,
        allocated: f.allocatedBytes,
        holders: f.holders.map((h) => ({
          pid: h.pid,
          comm: h.comm.toString('utf8'),
          user: h.user,
          fds: h.fds,
          mappings: h.mappings,
        })),
      })),
      deletedSize: posix.deletedSizeBytes,
      deletedAllocated: posix.deletedAllocatedBytes,
    },
    incomplete: {
      sysvUnreadable: !report.sysvReadable,
      devShmUnreadable: !posix.readable,
      unreadableProcesses: report.incomplete.unreadableProcesses,
      unreadablePids: report.incomplete.unreadablePids,
      unseenAttaches: report.segments.reduce((sum, s) => sum + s.unseenAttaches, 0),
    },
  };
}

function statusTotalToJson(total: ShmStatusTotal): StatusTotalJson {
  return { segments: total.segments, size: total.sizeBytes, rss: total.rssBytes, swap: total.swapBytes };
}

/** Unix seconds to ISO 8601 UTC without milliseconds; null stays null (never happened). */
function isoTime(seconds: number | null): string | null {
  return seconds === null ? null : new Date(seconds * 1000).toISOString().replace('.000Z', 'Z');
}
