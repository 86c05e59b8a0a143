import {
  commBytesSchema,
  commToJson,
  devJsonSchema,
  inodeJsonSchema,
  inodeToJson,
} from '../format/json-fields.js';
import { isUtf8 } from 'node:buffer';
import type { DeletedReport } from './deleted.js';
import { EXTENT_WALK_MAX, EXTENT_WALK_MIN_BYTES, SHARING_UNKNOWNS } from '../proc/extent-sharing.js';
import {
  array,
  boolean,
  constant,
  contract,
  enumOf,
  integer,
  nullable,
  object,
  optional,
  string,
  type Static,
} from '../format/json-schema.js';
import {
  incompleteToJson,
  unreadableProcessesJsonSchema,
  vanishedProcessesJsonSchema,
  scannerJsonSchema,
} from './incomplete-json.js';

/** `mountBytes`, beside `mount` wherever a mount point's bytes are not valid UTF-8. */
const mountBytesSchema = string({
  description: "Base64 of the mount point's exact bytes; present only when they are not valid UTF-8.",
  contentEncoding: 'base64',
});

/** The documented `limbo.deleted/1` JSON (docs/json.md): stable field names, bytes and counts as numbers. */
export const deletedJsonSchema = contract(
  'limbo.deleted-1',
  'limbo deleted --json (limbo.deleted/1)',
  object({
    schema: constant('limbo.deleted/1'),
    files: array(
      object({
        dev: devJsonSchema,
        inode: inodeJsonSchema,
        path: nullable(
          string({ description: "The kernel's name without ' (deleted)'; null when longer than PATH_MAX." }),
        ),
        pathBytes: optional(
          string({
            description: 'Base64 of the exact name bytes; present only when they are not valid UTF-8.',
            contentEncoding: 'base64',
          }),
        ),
        kind: enumOf(['file', 'tmpfile', 'memfd']),
        size: integer({ minimum: 0 }),
        allocated: integer({ minimum: 0 }),
        reclaimable: optional(
          nullable(
            integer({
              minimum: 0,
              description:
                'Bytes closing every holder gives back: allocated less the blocks FIEMAP flags shared with other files or snapshots (XFS reflink, btrfs); equal to allocated where the filesystem cannot share extents; null when unknown (see reclaimableUnknownReason).',
            }),
          ),
        ),
        reclaimableUnknownReason: optional(
          enumOf([...SHARING_UNKNOWNS, null], {
            description: `Why reclaimable is null (null when known): capped (over ${EXTENT_WALK_MAX} extents), self-shared (extents cloned within the file), encoded (compressed), small (under ${EXTENT_WALK_MIN_BYTES} bytes, not walked), unreadable (no native addon, FIEMAP failed).`,
          }),
        ),
        mount: nullable(string()),
        mountBytes: optional(mountBytesSchema),
        fstype: nullable(string()),
        ramBacked: boolean(),
        holders: array(
          object({
            pid: integer({ minimum: 1 }),
            comm: string(),
            commBytes: optional(commBytesSchema),
            user: string(),
            uid: integer({ minimum: 0 }),
            fds: array(integer({ minimum: 0 })),
            mappings: integer({ minimum: 0 }),
            tids: array(integer({ minimum: 1 })),
            unit: nullable(string()),
            container: nullable(string()),
            mountNamespace: nullable(string()),
          }),
          { minItems: 1 },
        ),
      }),
    ),
    totals: object({
      files: integer({ minimum: 0 }),
      size: integer({ minimum: 0 }),
      allocated: integer({ minimum: 0 }),
      diskAllocated: integer({ minimum: 0 }),
      ramAllocated: integer({ minimum: 0 }),
      reclaimable: optional(
        integer({ minimum: 0, description: "Sum of the files' known reclaimable bytes." }),
      ),
      reclaimableUnknown: optional(
        integer({
          minimum: 0,
          description:
            'Allocated bytes of the files whose reclaimable is null: closing them frees between 0 and this.',
        }),
      ),
      byMount: array(
        object({
          mount: nullable(string()),
          mountBytes: optional(mountBytesSchema),
          fstype: nullable(string()),
          ramBacked: boolean(),
          files: integer({ minimum: 1 }),
          size: integer({ minimum: 0 }),
          allocated: integer({ minimum: 0 }),
          reclaimable: optional(integer({ minimum: 0 })),
          reclaimableUnknown: optional(integer({ minimum: 0 })),
        }),
      ),
    }),
    incomplete: object({
      unreadableProcesses: integer({ minimum: 0 }),
      unreadablePids: array(integer()),
      unverifiedMappings: integer({ minimum: 0 }),
      processes: optional(unreadableProcessesJsonSchema),
      vanishedProcesses: optional(vanishedProcessesJsonSchema),
      scanner: optional(scannerJsonSchema),
    }),
  }),
);

export type DeletedJson = Static<typeof deletedJsonSchema>;

export { inodeToJson } from '../format/json-fields.js';

function mountBytesToJson(bytes: Buffer | undefined): { mountBytes?: string } {
  return bytes ? { mountBytes: bytes.toString('base64') } : {};
}

/** Converts a report to the `limbo.deleted/1` contract. */
export function deletedReportToJson(report: DeletedReport): DeletedJson {
  return {
    schema: 'limbo.deleted/1',
    files: report.files.map((file) => ({
      dev: file.dev,
      inode: inodeToJson(file.ino),
      path: file.name === null ? null : file.name.toString('utf8'),
      ...(file.name !== null && !isUtf8(file.name) ? { pathBytes: file.name.toString('base64') } : {}),
      kind: file.kind,
      size: file.sizeBytes,
      allocated: file.allocatedBytes,
      reclaimable: file.reclaimableBytes,
      reclaimableUnknownReason: file.reclaimableUnknownReason,
      mount: file.mount,
      ...mountBytesToJson(file.mountBytes),
      fstype: file.fstype,
      ramBacked: file.ramBacked,
      holders: file.holders.map((holder) => ({
        pid: holder.pid,
        ...commToJson(holder.comm),
        user: holder.user,
        uid: holder.uid,
        fds: holder.fds,
        mappings: holder.mappings,
        tids: holder.tids,
        unit: holder.unit,
        container: holder.container,
        mountNamespace: holder.mountNamespace,
      })),
    })),
    totals: {
      files: report.totals.files,
      size: report.totals.sizeBytes,
      allocated: report.totals.allocatedBytes,
      diskAllocated: report.totals.diskAllocatedBytes,
      ramAllocated: report.totals.ramAllocatedBytes,
      reclaimable: report.totals.reclaimableBytes,
      reclaimableUnknown: report.totals.reclaimableUnknownBytes,
      byMount: report.totals.byMount.map((m) => ({
        mount: m.mount,
        ...mountBytesToJson(m.mountBytes),
        fstype: m.fstype,
        ramBacked: m.ramBacked,
        files: m.files,
        size: m.sizeBytes,
        allocated: m.allocatedBytes,
        reclaimable: m.reclaimableBytes,
        reclaimableUnknown: m.reclaimableUnknownBytes,
      })),
    },
    incomplete: {
      unreadableProcesses: report.incomplete.unreadableProcesses,
      unreadablePids: report.incomplete.unreadablePids,
      unverifiedMappings: report.incomplete.unverifiedMappings,
      ...incompleteToJson(report.incomplete),
    },
  };
}
