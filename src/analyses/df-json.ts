import { commBytesSchema, commToJson, devJsonSchema } from '../format/json-fields.js';
import type { DfReport } from './df.js';
import { summarizeFilesystem } from './df-words.js';
import { incompleteToJson, scanIncompleteJsonSchema } from './incomplete-json.js';
import {
  array,
  constant,
  contract,
  integer,
  nullable,
  object,
  optional,
  ref,
  string,
  type Static,
} from '../format/json-schema.js';
import { scanSourceJsonSchema } from './source-json.js';

const bytesSchema = integer({ minimum: 0 });
const bytesOrNullSchema = nullable(integer({ minimum: 0 }));
/** The documented `limbo.df/1` JSON (docs/json.md). */
export const dfJsonSchema = contract(
  'limbo.df-1',
  'limbo df --json (limbo.df/1)',
  object(
    {
      schema: constant('limbo.df/1'),
      filesystems: array(
        object({
          mount: string(),
          mountNamespace: optional(
            nullable(
              string({
                description:
                  "The mount namespace of a mount private to another namespace (a container's), as mnt:[…]; null for limbo's own.",
              }),
            ),
          ),
          mountId: optional(
            integer({ minimum: 0, description: "Its mount id in that namespace's mountinfo." }),
          ),
          mountPath: optional(
            string({
              description:
                'The path on the host it was measured at, and that --mount takes: the mount point, or /proc/PID/root/MOUNTPOINT for a mount of another namespace.',
            }),
          ),
          source: string(),
          fstype: string(),
          dev: devJsonSchema,
          size: ref('bytes', bytesSchema),
          used: ref('bytes', bytesSchema),
          available: ref('bytes', bytesSchema),
          reserved: ref('bytes', bytesSchema),
          heldByDeleted: ref('bytes', bytesSchema),
          heldByDeletedFiles: ref('bytes', bytesSchema),
          heldByDeletedShared: optional(
            integer({
              minimum: 0,
              description:
                'Blocks of deleted files that FIEMAP flags shared with other files or snapshots (XFS reflink, btrfs): left out of heldByDeleted (du counts them under the other names) and freed by no close.',
            }),
          ),
          heldByDeletedUnknown: optional(
            integer({
              minimum: 0,
              description:
                'The part of heldByDeleted from files whose shared blocks are unknown (counted in full): an upper bound.',
            }),
          ),
          visible: ref('bytesOrNull', bytesOrNullSchema),
          hiddenUnderMounts: ref('bytesOrNull', bytesOrNullSchema),
          hiddenUnder: optional(
            array(string(), {
              description:
                'The mount points that cover directories of this filesystem: hiddenUnderMounts lies under them.',
            }),
          ),
          sillyRenamed: optional(
            integer({
              minimum: 0,
              description:
                'Allocated bytes of files a FUSE or NFS client renamed to a hidden name when they were unlinked while open: a walk sees them under that name, so they are in visible, not in heldByDeleted; closing their holders frees them.',
            }),
          ),
          sillyRenamedFiles: optional(integer({ minimum: 0 })),
          overlays: optional(
            array(string(), {
              description:
                "Overlay mounts whose upperdir is on this filesystem: statfs on them answers with this filesystem's numbers, and files deleted through them are counted here.",
            }),
          ),
          unexplained: nullable(integer()),
          walkErrors: ref('bytesOrNull', bytesOrNullSchema),
          topHolders: array(
            object({
              pid: integer({ minimum: 1 }),
              comm: string(),
              commBytes: optional(commBytesSchema),
              allocated: ref('bytes', bytesSchema),
              reclaimable: optional(
                integer({
                  minimum: 0,
                  description:
                    "What closing this process's deleted files there frees (unknown splits in full).",
                }),
              ),
              files: integer({ minimum: 1 }),
            }),
          ),
          summary: string(),
        }),
      ),
      source: optional(scanSourceJsonSchema),
      incomplete: optional(scanIncompleteJsonSchema),
    },
    { definitions: { bytes: bytesSchema, bytesOrNull: bytesOrNullSchema } },
  ),
);

export type DfJson = Static<typeof dfJsonSchema>;

/** Converts a report to the `limbo.df/1` contract. */
export function dfReportToJson(report: DfReport): DfJson {
  return {
    schema: 'limbo.df/1',
    filesystems: report.filesystems.map((fs) => ({
      mount: fs.mount,
      mountNamespace: fs.mountNamespace,
      mountId: fs.mountId,
      mountPath: fs.mountPath,
      source: fs.source,
      fstype: fs.fstype,
      dev: fs.dev,
      size: fs.sizeBytes,
      used: fs.usedBytes,
      available: fs.availableBytes,
      reserved: fs.reservedBytes,
      heldByDeleted: fs.heldByDeletedBytes,
      heldByDeletedFiles: fs.heldByDeletedFiles,
      heldByDeletedShared: fs.heldByDeletedSharedBytes,
      heldByDeletedUnknown: fs.heldByDeletedUnknownBytes,
      visible: fs.visibleBytes,
      hiddenUnderMounts: fs.hiddenUnderMountsBytes,
      hiddenUnder: [...fs.coveringMounts],
      sillyRenamed: fs.sillyRenamedBytes,
      sillyRenamedFiles: fs.sillyRenamedFiles,
      overlays: [...fs.overlays],
      unexplained: fs.unexplainedBytes,
      walkErrors: fs.walkErrors,
      topHolders: fs.topHolders.map((h) => ({
        pid: h.pid,
        ...commToJson(h.comm),
        allocated: h.allocatedBytes,
        reclaimable: h.reclaimableBytes,
        files: h.files,
      })),
      summary: summarizeFilesystem(fs),
    })),
    incomplete: {
      unreadableProcesses: report.incomplete.unreadableProcesses,
      unreadablePids: report.incomplete.unreadablePids,
      ...incompleteToJson(report.incomplete),
    },
  };
}
