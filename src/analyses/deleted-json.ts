import {
  base64UnlessUtf8,
  commBytesSchema,
  commToJson,
  devJsonSchema,
  inodeJsonSchema,
  inodeToJson,
} from '../format/json-fields.js';
import type { DeletedFile, DeletedReport } from './deleted.js';
import { DELETED_KINDS } from './choices.js';
import { CONTAINER_RUNTIMES } from '../proc/cgroup.js';
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
  unansweredMountsJsonSchema,
} from './incomplete-json.js';
import { scanSourceJsonSchema } from './source-json.js';

/** `mountBytes`, beside `mount` wherever a mount point's bytes are not valid UTF-8. */
const mountBytesSchema = string({
  description: "Base64 of the mount point's exact bytes; present only when they are not valid UTF-8.",
  contentEncoding: 'base64',
});

/** Base64 of a path's exact bytes, beside it only when they are not valid UTF-8. */
const pathBytesSchema = string({
  description:
    'Base64 of the exact bytes of the field it follows; present only when they are not valid UTF-8.',
  contentEncoding: 'base64',
});
const mountNamespaceSchema = nullable(
  string({
    description:
      "The mount namespace whose mount table placed the file (mnt:[…]): the host's, or a holder's own for a mount private to it; null for memfd.",
  }),
);
const mountPathSchema = nullable(
  string({
    description:
      'A path on the host that names this filesystem, for --mount and df: its mount point where the host mounts it, else /proc/PID/root/MOUNTPOINT through a process of its mount namespace; null for memfd.',
  }),
);

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
        mountNamespace: optional(mountNamespaceSchema),
        mountId: optional(
          nullable(integer({ minimum: 0, description: "The mount's id in that namespace's mountinfo." })),
        ),
        mountPath: optional(mountPathSchema),
        mountPathBytes: optional(pathBytesSchema),
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
            containerRuntime: optional(
              enumOf([...CONTAINER_RUNTIMES, null], {
                description: 'The runtime that made its container, from its cgroup path; null outside one.',
              }),
            ),
            podUid: optional(
              nullable(
                string({ description: 'The Kubernetes pod UID of its container; null outside a pod.' }),
              ),
            ),
            mountNamespace: nullable(string()),
            root: optional(
              nullable(
                string({
                  description:
                    'Its root directory as limbo sees it (readlink /proc/PID/root): a chroot or container root; "/" also when out of sight (pivot_root). null when unreadable.',
                }),
              ),
            ),
            nsPid: optional(
              nullable(
                integer({
                  minimum: 1,
                  description: 'Its pid inside its own pid namespace (the last NSpid); null when unknown.',
                }),
              ),
            ),
            pathInRoot: optional(
              nullable(
                string({
                  description:
                    "The file's name as this holder sees it, relative to its root (a container's own path); null when longer than PATH_MAX.",
                }),
              ),
            ),
            pathInRootBytes: optional(pathBytesSchema),
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
          mountNamespace: optional(mountNamespaceSchema),
          mountPath: optional(mountPathSchema),
          mountPathBytes: optional(pathBytesSchema),
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
      unansweredMounts: optional(unansweredMountsJsonSchema),
    }),
  }),
);

export type DeletedJson = Static<typeof deletedJsonSchema>;

export { inodeToJson } from '../format/json-fields.js';

function mountBytesToJson(bytes: Buffer | undefined): { mountBytes?: string } {
  return bytes ? { mountBytes: bytes.toString('base64') } : {};
}

/** A name's bytes as text (lossy where they are not valid UTF-8: its `…Bytes` field is exact). */
function textOf(bytes: Buffer | null): string | null {
  return bytes === null ? null : bytes.toString('utf8');
}

/** `{ [field]: text }`, with `[field]Bytes` beside it when the bytes are not valid UTF-8. */
function pathToJson<K extends string>(
  field: K,
  bytes: Buffer | null,
): Record<K, string | null> & Partial<Record<`${K}Bytes`, string>> {
  const json: Record<string, string | null> = { [field]: textOf(bytes) };
  const exact = base64UnlessUtf8(bytes);
  if (exact !== undefined) json[`${field}Bytes`] = exact;
  return json as Record<K, string | null> & Partial<Record<`${K}Bytes`, string>>;
}

/** Converts a report to the `limbo.deleted/1` contract. */
export function deletedReportToJson(report: DeletedReport): DeletedJson {
  return {
    schema: 'limbo.deleted/1',
    files: report.files.map(deletedFileToJson),
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
        mountNamespace: m.mountNamespace,
        ...pathToJson('mountPath', m.mountPath),
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

/**
 * One file of the `limbo.deleted/1` contract: a report's files can be written one at a time. The
 * `…Bytes` fields are undefined, not absent, where the bytes are valid UTF-8: JSON.stringify leaves
 * them out alike, and one object literal per file and holder takes half the time of a spread per
 * optional field (10,000 files: 35 against 65 ms).
 */
export function deletedFileToJson(file: DeletedFile): DeletedJson['files'][number] {
  return {
    dev: file.dev,
    inode: inodeToJson(file.ino),
    path: textOf(file.name),
    pathBytes: base64UnlessUtf8(file.name),
    kind: file.kind,
    size: file.sizeBytes,
    allocated: file.allocatedBytes,
    reclaimable: file.reclaimableBytes,
    reclaimableUnknownReason: file.reclaimableUnknownReason,
    mount: file.mount,
    mountBytes: file.mountBytes?.toString('base64'),
    mountNamespace: file.mountNamespace,
    mountId: file.mountId,
    mountPath: textOf(file.mountPath),
    mountPathBytes: base64UnlessUtf8(file.mountPath),
    fstype: file.fstype,
    ramBacked: file.ramBacked,
    holders: file.holders.map((holder) => ({
      pid: holder.pid,
      comm: holder.comm.toString('utf8'),
      commBytes: base64UnlessUtf8(holder.comm),
      user: holder.user,
      uid: holder.uid,
      fds: holder.fds,
      mappings: holder.mappings,
      tids: holder.tids,
      unit: holder.unit,
      container: holder.container,
      containerRuntime: holder.containerRuntime,
      podUid: holder.podUid,
      mountNamespace: holder.mountNamespace,
      root: holder.root,
      nsPid: holder.nsPid,
      pathInRoot: textOf(holder.pathInRoot),
      pathInRootBytes: base64UnlessUtf8(holder.pathInRoot),
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
  };
}
