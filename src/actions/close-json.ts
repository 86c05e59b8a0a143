import { holderToJson, inodeToJson, nameToJson, type HolderJson } from './action-json.js';
import type { CloseResult } from './close.js';

/** The documented `limbo.close/1` JSON (docs/json.md, docs/schemas/limbo.close-1.schema.json). */
export interface CloseJson {
  readonly schema: 'limbo.close/1';
  readonly dryRun: boolean;
  readonly target: string;
  readonly pid: number;
  readonly fd: number;
  readonly how: 'close' | 'devnull';
  readonly comm: string | null;
  readonly path: string | null;
  readonly pathBytes?: string;
  readonly status: 'closed' | 'refused' | 'skipped' | 'failed';
  readonly reason: string | null;
  readonly verified: boolean;
  readonly file: {
    readonly dev: string;
    readonly inode: number | string;
    readonly regular: boolean;
    readonly deleted: boolean;
    readonly size: number;
    readonly allocated: number;
    readonly mount: string | null;
    readonly fstype: string | null;
  } | null;
  readonly otherHolders: readonly HolderJson[];
  readonly expectedBytes: number;
  readonly freedBytes: number | null;
  readonly filesystem: {
    readonly dev: string;
    readonly mount: string | null;
    readonly freeBefore: number | null;
    readonly freeAfter: number | null;
  } | null;
}

/** Converts a result to the `limbo.close/1` contract; `dryRun` marks a plan shown, not carried out. */
export function closeResultToJson(result: CloseResult, dryRun: boolean): CloseJson {
  const fs = result.filesystem;
  return {
    schema: 'limbo.close/1',
    dryRun,
    target: result.target,
    pid: result.pid,
    fd: result.fd,
    how: result.how,
    comm: result.comm === null ? null : result.comm.toString('utf8'),
    ...nameToJson(result.name),
    status: result.status,
    reason: result.reason,
    verified: result.verified,
    file:
      result.file === null
        ? null
        : {
            dev: result.file.dev,
            inode: inodeToJson(result.file.ino),
            regular: result.file.regular,
            deleted: result.file.deleted,
            size: result.file.sizeBytes,
            allocated: result.file.allocatedBytes,
            mount: result.file.mount,
            fstype: result.file.fstype,
          },
    otherHolders: result.otherHolders.map(holderToJson),
    expectedBytes: result.expectedBytes,
    freedBytes:
      fs === null || fs.availableBeforeBytes === null || fs.availableAfterBytes === null
        ? null
        : fs.availableAfterBytes - fs.availableBeforeBytes,
    filesystem:
      fs === null
        ? null
        : {
            dev: fs.dev,
            mount: fs.mount,
            freeBefore: fs.availableBeforeBytes,
            freeAfter: fs.availableAfterBytes,
          },
  };
}
