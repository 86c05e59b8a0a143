import { base64JsonSchema, devJsonSchema } from '../format/json-fields.js';
import { isUtf8 } from 'node:buffer';
import { LimboError } from '../core/errors.js';
import {
  array,
  boolean,
  constant,
  contract,
  enumOf,
  findSchemaError,
  integer,
  nullable,
  nullType,
  number,
  object,
  oneOf,
  optional,
  record,
  ref,
  string,
  type Static,
} from '../format/json-schema.js';
import { SHARING_UNKNOWNS } from '../proc/extent-sharing.js';
import type { Snapshot } from './types.js';

// In JSON a name is a string when its bytes are valid UTF-8, else { "base64": "..." };
// an inode is a decimal string (it can pass 2^53). Everything else is already JSON.
const nameSchema = oneOf([string(), object({ base64: base64JsonSchema })], {
  description: 'Bytes from the kernel: a string when valid UTF-8, else { "base64": "..." }.',
});
const fileKeySchema = string({ description: 'MAJ:MIN:INODE', pattern: '^[0-9]+:[0-9]+:[0-9]+$' });
const countSchema = integer({ minimum: 0 });
const countOrNullSchema = nullable(integer({ minimum: 0 }));
const countsSchema = record(integer({ minimum: 0 }));
const bytesSchema = integer({ minimum: 0 });
const name = ref('name', nameSchema);
const fileKey = ref('fileKey', fileKeySchema);
const count = ref('count', countSchema);
const countOrNull = ref('countOrNull', countOrNullSchema);
const bytes = ref('bytes', bytesSchema);

const processSchema = object({
  pid: integer({ minimum: 1 }),
  ppid: count,
  comm: name,
  startTicks: optional(
    nullable(
      integer({
        minimum: 0,
        description: 'When it started, in clock ticks since boot (/proc/PID/stat field 22).',
      }),
    ),
  ),
  uid: count,
  user: string(),
  state: string(),
  threads: count,
  mountNamespace: nullable(string()),
  cgroup: nullable(string()),
  unit: nullable(string()),
  container: nullable(string()),
  root: optional(nullable(string())),
  nsPid: optional(nullable(integer({ minimum: 1 }))),
  cmdline: optional(
    array(name, {
      description:
        "An LXC monitor's arguments (its cgroup is lxc.monitor.NAME); absent for every other process.",
    }),
  ),
  exeKey: optional(nullable(string())),
  fdCount: countOrNull,
  readable: boolean(),
  unreadable: optional(
    array(enumOf(['fd-directory', 'fd-links', 'maps']), {
      description: 'What was refused when readable is false: the fd directory, fd links, or maps.',
    }),
  ),
  unreadableDescriptors: optional(
    integer({
      minimum: 0,
      description: 'Descriptors counted whose files are unknown (their links or fd directory refused).',
    }),
  ),
  fds: array(
    object({
      fd: count,
      tid: nullable(integer({ minimum: 1 })),
      fileKey,
      name: oneOf([name, nullType()]),
      flags: optional(nullable(integer({ minimum: 0 }))),
      posBytes: optional(nullable(integer({ minimum: 0 }))),
    }),
  ),
  mappings: array(
    object({
      range: string({ pattern: '^[0-9a-f]+-[0-9a-f]+$' }),
      perms: string(),
      fileKey,
      name,
      nameNowKey: nullable(string()),
    }),
  ),
  deletedExe: optional(oneOf([object({ fileKey, name, nameNowKey: nullable(string()) }), nullType()])),
  fdLimit: optional(nullable(object({ soft: countOrNull, hard: countOrNull }))),
  handles: optional(
    nullable(
      object({
        fdTypes: ref('counts', countsSchema),
        socketProtocols: ref('counts', countsSchema),
        anonInodes: ref('counts', countsSchema),
        openFiles: count,
        mappingFiles: count,
        shmAttachments: count,
      }),
    ),
  ),
});

const shmSegmentSchema = object({
  key: integer({ description: 'As the kernel prints it: %d of a 32-bit key, so it can be negative.' }),
  keyHex: string({ pattern: '^0x[0-9a-f]{8}$' }),
  shmid: count,
  mode: count,
  perms: count,
  removed: boolean(),
  locked: boolean(),
  sizeBytes: bytes,
  cpid: count,
  lpid: count,
  nattch: count,
  uid: count,
  gid: count,
  cuid: count,
  cgid: count,
  atime: count,
  dtime: count,
  ctime: count,
  rssBytes: bytes,
  swapBytes: bytes,
});

/**
 * `limbo.snapshot/1`: the raw scan as `limbo snapshot` writes it and `--from FILE` reads it back.
 * Fields added within the version are optional, so older snapshots still load.
 */
export const snapshotJsonSchema = contract(
  'limbo.snapshot-1',
  'limbo snapshot (limbo.snapshot/1)',
  object(
    {
      schema: constant('limbo.snapshot/1'),
      takenAt: string({ format: 'date-time' }),
      hostname: string(),
      procRoot: string(),
      hostMountNamespace: nullable(string()),
      scanMilliseconds: number({ minimum: 0 }),
      scanner: optional(
        object({
          name: enumOf(['proc', 'bpf'], {
            description:
              'proc: every fd link read through /proc; bpf: the kernel tables walked by BPF iterators.',
          }),
          reason: string({ description: 'Why this scanner was used.' }),
        }),
      ),
      processes: array(processSchema),
      files: array(
        object({
          key: fileKey,
          dev: devJsonSchema,
          ino: string({ description: 'A decimal string: inodes can pass 2^53.', pattern: '^[0-9]+$' }),
          nlink: count,
          sizeBytes: bytes,
          allocatedBytes: bytes,
          mode: count,
          extentSharing: optional(
            object({
              extents: count,
              sharedBytes: bytes,
              unknown: enumOf([...SHARING_UNKNOWNS, null]),
            }),
          ),
          sillyName: optional(name),
          statfsType: optional(enumOf(['mqueue'])),
        }),
      ),
      filesCollected: optional(
        boolean({
          description:
            "false when the scan did not look for deleted files (limbo handles scans so): files and every process's fds, mappings and deletedExe are empty because they were not read. Absent: collected.",
        }),
      ),
      mountNamespaces: array(
        object({
          id: string(),
          pid: optional(integer({ minimum: 1 })),
          root: optional(
            string({
              description:
                "The root of pid when every process seen in the namespace was chrooted: it is put back in front of each mount point, as the namespace's fd links read.",
            }),
          ),
          mounts: array(
            object({
              mountId: count,
              parentId: count,
              dev: devJsonSchema,
              root: string(),
              mountPoint: string(),
              mountPointBytes: optional(base64JsonSchema),
              fstype: string(),
              source: string(),
              upperDir: optional(
                string({
                  description:
                    'overlayfs: its upperdir= option, where the blocks of files written through it live.',
                }),
              ),
              upperDev: optional(devJsonSchema),
            }),
          ),
        }),
      ),
      incomplete: object({
        scannerUid: count,
        unreadableProcesses: count,
        unreadablePids: array(integer()),
        unverifiedMappings: count,
        vanishedProcesses: optional(count),
        unansweredMounts: optional(
          array(
            object({
              mountPoint: string(),
              fstype: string(),
              dev: devJsonSchema,
              mountNamespace: nullable(string()),
              path: string(),
              waitedMilliseconds: count,
              skipped: count,
            }),
          ),
        ),
      }),
      system: optional(
        nullable(
          object({
            fileNr: nullable(object({ allocated: count, max: count })),
            nrOpen: countOrNull,
            openFiles: countOrNull,
            openFilesExact: boolean(),
            fdsInFlight: countOrNull,
            shmAttachFiles: optional(countOrNull),
            mappingsExact: optional(boolean()),
          }),
        ),
      ),
      shmSegments: optional(nullable(array(shmSegmentSchema))),
      posixShm: optional(
        nullable(array(object({ name, uid: count, sizeBytes: bytes, allocatedBytes: bytes }))),
      ),
    },
    {
      definitions: {
        name: nameSchema,
        fileKey: fileKeySchema,
        count: countSchema,
        countOrNull: countOrNullSchema,
        counts: countsSchema,
        bytes: bytesSchema,
      },
    },
  ),
);

export type SnapshotJson = Static<typeof snapshotJsonSchema>;
type JsonName = Static<typeof nameSchema>;

/** Serialises a snapshot to JSON text that `parseSnapshot` reads back unchanged. */
export function stringifySnapshot(snapshot: Snapshot): string {
  const json: SnapshotJson = {
    ...snapshot,
    files: snapshot.files.map(({ sillyName, ...file }) => ({
      ...file,
      ino: file.ino.toString(),
      ...(sillyName ? { sillyName: encodeName(sillyName) } : {}),
    })),
    mountNamespaces: snapshot.mountNamespaces.map((ns) => ({
      ...ns,
      mounts: ns.mounts.map(({ mountPointBytes, ...mount }) =>
        mountPointBytes ? { ...mount, mountPointBytes: mountPointBytes.toString('base64') } : mount,
      ),
    })),
    posixShm: snapshot.posixShm?.map((object) => ({ ...object, name: encodeName(object.name) })) ?? null,
    processes: snapshot.processes.map(({ cmdline, ...p }) => ({
      ...p,
      comm: encodeName(p.comm),
      ...(cmdline ? { cmdline: cmdline.map(encodeName) } : {}),
      fds: p.fds.map((fd) => ({ ...fd, name: fd.name === null ? null : encodeName(fd.name) })),
      mappings: p.mappings.map((m) => ({ ...m, name: encodeName(m.name) })),
      deletedExe: p.deletedExe === null ? null : { ...p.deletedExe, name: encodeName(p.deletedExe.name) },
    })),
  };
  return JSON.stringify(json);
}

/**
 * Reads a snapshot written by `stringifySnapshot`. Anything else throws LimboError
 * 'snapshot-invalid' naming the first field that breaks limbo.snapshot/1 (`processes[3].fds[0].fd:
 * expected integer`), so a damaged file never reaches the analyses.
 */
export function parseSnapshot(text: string): Snapshot {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new LimboError('snapshot-invalid', 'the snapshot is not valid JSON', { cause: error });
  }
  if (
    typeof data !== 'object' ||
    data === null ||
    (data as { schema?: unknown }).schema !== 'limbo.snapshot/1'
  ) {
    throw new LimboError('snapshot-invalid', 'not a limbo snapshot (expected schema "limbo.snapshot/1")');
  }
  const error = findSchemaError(snapshotJsonSchema, data);
  if (error) throw new LimboError('snapshot-invalid', `${error.path}: ${error.message}`);
  const json = data as SnapshotJson;
  return {
    ...json,
    files: json.files.map(({ sillyName, ...file }) => ({
      ...file,
      ino: BigInt(file.ino),
      ...(sillyName === undefined ? {} : { sillyName: decodeName(sillyName) }),
    })),
    mountNamespaces: json.mountNamespaces.map((ns) => ({
      ...ns,
      mounts: ns.mounts.map(({ mountPointBytes, ...mount }) =>
        mountPointBytes === undefined
          ? mount
          : { ...mount, mountPointBytes: Buffer.from(mountPointBytes, 'base64') },
      ),
    })),
    processes: json.processes.map(({ cmdline, ...p }) => ({
      ...p,
      comm: decodeName(p.comm),
      ...(cmdline ? { cmdline: cmdline.map(decodeName) } : {}),
      fds: p.fds.map((fd) => ({ ...fd, name: fd.name === null ? null : decodeName(fd.name) })),
      mappings: p.mappings.map((m) => ({ ...m, name: decodeName(m.name) })),
      deletedExe: p.deletedExe ? { ...p.deletedExe, name: decodeName(p.deletedExe.name) } : null,
      // Fields added within limbo.snapshot/1 default to "not collected" in older snapshots.
      handles: p.handles ?? null,
      fdLimit: p.fdLimit ?? null,
    })),
    system: json.system ?? null,
    shmSegments: json.shmSegments ?? null,
    posixShm: json.posixShm?.map((object) => ({ ...object, name: decodeName(object.name) })) ?? null,
  };
}

function encodeName(name: Buffer): JsonName {
  return isUtf8(name) ? name.toString('utf8') : { base64: name.toString('base64') };
}

function decodeName(name: JsonName): Buffer {
  return typeof name === 'string' ? Buffer.from(name, 'utf8') : Buffer.from(name.base64, 'base64');
}
