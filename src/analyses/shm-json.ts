import {
  base64JsonSchema,
  commBytesField,
  commBytesSchema,
  commToJson,
  devJsonSchema,
} from '../format/json-fields.js';
import { isUtf8 } from 'node:buffer';
import { inodeToJson } from './deleted-json.js';
import type { ShmReport, ShmStatusTotal } from './shm.js';
import {
  allOf,
  array,
  boolean,
  constant,
  contract,
  enumOf,
  integer,
  nullType,
  nullable,
  object,
  oneOf,
  optional,
  ref,
  string,
  type Static,
} from '../format/json-schema.js';
import {
  incompleteToJson,
  unreadableProcessesJsonSchema,
  vanishedProcessesJsonSchema,
  scannerJsonSchema,
  unansweredMountsJsonSchema,
} from './incomplete-json.js';
import { scanSourceJsonSchema } from './source-json.js';

interface StatusTotalJson {
  readonly segments: number;
  readonly size: number;
  readonly rss: number;
  readonly swap: number;
}

const keySchema = string({ pattern: '^0x[0-9a-f]{8}$' });
const timeSchema = nullable(string({ format: 'date-time' }));
const bytesSchema = integer({ minimum: 0 });
const statusTotalSchema = object({
  segments: integer({ minimum: 0 }),
  size: ref('bytes', bytesSchema),
  rss: ref('bytes', bytesSchema),
  swap: ref('bytes', bytesSchema),
});
/** The documented `limbo.shm/1` JSON (docs/json.md). */
export const shmJsonSchema = contract(
  'limbo.shm-1',
  'limbo shm --json (limbo.shm/1)',
  object(
    {
      schema: constant('limbo.shm/1'),
      segments: array(
        object({
          shmid: integer({ minimum: 0 }),
          key: ref('key', keySchema),
          originalKey: oneOf([ref('key', keySchema), nullType()]),
          status: enumOf(['attached', 'orphaned', 'removed-attached']),
          size: ref('bytes', bytesSchema),
          rss: ref('bytes', bytesSchema),
          swap: ref('bytes', bytesSchema),
          nattch: integer({ minimum: 0 }),
          owner: string(),
          uid: integer({ minimum: 0 }),
          gid: integer({ minimum: 0 }),
          cuid: integer({ minimum: 0 }),
          perms: string({ pattern: '^0[0-7]{3}$' }),
          locked: boolean(),
          cpid: integer({ minimum: 0 }),
          cpidComm: nullable(string()),
          cpidCommBytes: optional(commBytesSchema),
          lpid: integer({ minimum: 0 }),
          lpidComm: nullable(string()),
          lpidCommBytes: optional(commBytesSchema),
          attachTime: ref('time', timeSchema),
          detachTime: ref('time', timeSchema),
          changeTime: ref('time', timeSchema),
          attachedBy: array(integer({ minimum: 1 })),
          attachments: array(
            object({
              pid: integer({ minimum: 1 }),
              comm: string(),
              commBytes: optional(commBytesSchema),
              user: string(),
              count: integer({ minimum: 1 }),
            }),
          ),
          unseenAttaches: integer({ minimum: 0 }),
        }),
      ),
      totals: allOf([
        ref('statusTotal', statusTotalSchema),
        object({
          byStatus: object(
            {
              attached: ref('statusTotal', statusTotalSchema),
              orphaned: ref('statusTotal', statusTotalSchema),
              'removed-attached': ref('statusTotal', statusTotalSchema),
            },
            { additionalProperties: false },
          ),
        }),
      ]),
      unmatchedAttachments: array(
        object({
          pid: integer({ minimum: 1 }),
          comm: string(),
          commBytes: optional(commBytesSchema),
          shmid: integer({ minimum: 0 }),
          key: ref('key', keySchema),
          count: integer({ minimum: 1 }),
        }),
      ),
      posix: object({
        mount: nullable(string()),
        dev: nullable(devJsonSchema),
        files: integer({ minimum: 0 }),
        size: ref('bytes', bytesSchema),
        allocated: ref('bytes', bytesSchema),
        biggest: array(
          object({
            name: string(),
            nameBytes: optional(base64JsonSchema),
            owner: string(),
            uid: integer({ minimum: 0 }),
            size: ref('bytes', bytesSchema),
            allocated: ref('bytes', bytesSchema),
          }),
        ),
        deleted: array(
          object({
            path: nullable(string()),
            pathBytes: optional(base64JsonSchema),
            inode: oneOf([integer({ minimum: 0 }), string({ pattern: '^[0-9]+$' })]),
            size: ref('bytes', bytesSchema),
            allocated: ref('bytes', bytesSchema),
            holders: array(
              object({
                pid: integer({ minimum: 1 }),
                comm: string(),
                commBytes: optional(commBytesSchema),
                user: string(),
                fds: array(integer({ minimum: 0 })),
                mappings: integer({ minimum: 0 }),
              }),
              { minItems: 1 },
            ),
          }),
        ),
        deletedSize: ref('bytes', bytesSchema),
        deletedAllocated: ref('bytes', bytesSchema),
      }),
      source: optional(scanSourceJsonSchema),
      incomplete: object({
        sysvUnreadable: boolean(),
        devShmUnreadable: boolean(),
        unreadableProcesses: integer({ minimum: 0 }),
        unreadablePids: array(integer()),
        unseenAttaches: integer({ minimum: 0 }),
        processes: optional(unreadableProcessesJsonSchema),
        vanishedProcesses: optional(vanishedProcessesJsonSchema),
        scanner: optional(scannerJsonSchema),
        unansweredMounts: optional(unansweredMountsJsonSchema),
      }),
    },
    { definitions: { key: keySchema, time: timeSchema, bytes: bytesSchema, statusTotal: statusTotalSchema } },
  ),
);

export type ShmJson = Static<typeof shmJsonSchema>;

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
      ...commBytesField('cpidCommBytes', s.creator?.comm),
      lpid: s.lastUser?.pid ?? 0,
      lpidComm: s.lastUser?.comm?.toString('utf8') ?? null,
      ...commBytesField('lpidCommBytes', s.lastUser?.comm),
      attachTime: isoTime(s.attachTime),
      detachTime: isoTime(s.detachTime),
      changeTime: isoTime(s.changeTime),
      attachedBy: s.attachments.map((a) => a.pid),
      attachments: s.attachments.map((a) => ({
        pid: a.pid,
        ...commToJson(a.comm),
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
      ...commToJson(u.comm),
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
          ...commToJson(h.comm),
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
      ...incompleteToJson(report.incomplete),
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
