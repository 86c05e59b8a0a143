import {
  commBytesSchema,
  commToJson,
  devJsonSchema,
  inodeJsonSchema,
  inodeToJson,
} from '../format/json-fields.js';
import { isUtf8 } from 'node:buffer';
import type { DeletedReport } from './deleted.js';
import { DELETED_KINDS } from './choices.js';
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
import { scanSourceJsonSchema } from './source-json.js';

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
        kind: enumOf(DELETED_KINDS, {
          description:
            'file; tmpfile (O_TMPFILE); memfd (RAM); silly-renamed (a FUSE or NFS client renamed it to a hidden name, now its path, see sillyRename); mqueue (a POSIX message queue removed with mq_unlink: kernel memory, nothing to truncate).',
        }),
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
        overlay: optional(
          nullable(
            object(
              {
                mount: string(),
                mountBytes: optional(mountBytesSchema),
                upperDir: string(),
              },
              {
                description:
                  "The overlay mount its holder wrote and holds it through; mount and fstype then name the filesystem of the overlay's upperdir, where its blocks are. null otherwise.",
              },
            ),
          ),
        ),
        sillyRename: optional(
          nullable(
            object(
              {
                by: enumOf(['fuse', 'nfs']),
                deletedPath: nullable(
                  string({
                    description:
                      "The name it was opened by, now unlinked (what a FUSE holder's fd reads); null when the fd reads the hidden name (NFS).",
                  }),
                ),
                backingHolders: array(
                  object({
                    pid: integer({ minimum: 1 }),
                    comm: string(),
                    commBytes: optional(commBytesSchema),
                    fds: array(integer({ minimum: 0 })),
                    path: string(),
                  }),
                  {
                    description:
                      'Processes holding its backing file under the same hidden name on the filesystem underneath (the FUSE daemon): they let go when its last holder closes it.',
                  },
                ),
              },
              {
                description:
                  'For kind silly-renamed: the filesystem keeps the file under its hidden name (path) until its last holder closes it, then removes it. null otherwise.',
              },
            ),
          ),
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
    source: optional(scanSourceJsonSchema),
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
      overlay: file.overlay
        ? {
            mount: file.overlay.mount,
            ...mountBytesToJson(file.overlay.mountBytes),
            upperDir: file.overlay.upperDir,
          }
        : null,
      sillyRename: file.sillyRename
        ? {
            by: file.sillyRename.by,
            deletedPath: file.sillyRename.deletedName?.toString('utf8') ?? null,
            backingHolders: file.sillyRename.backingHolders.map((holder) => ({
              pid: holder.pid,
              ...commToJson(holder.comm),
              fds: [...holder.fds],
              path: holder.name.toString('utf8'),
            })),
          }
        : null,
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
