import { base64JsonSchema, commBytesSchema, commToJson, devJsonSchema } from '../format/json-fields.js';
import { holderJsonSchema, holderToJson, inodeToJson, nameToJson } from './action-json.js';
import {
  array,
  boolean,
  constant,
  contract,
  enumOf,
  integer,
  nullable,
  object,
  oneOf,
  optional,
  ref,
  string,
  type Static,
} from '../format/json-schema.js';
import type { CloseResult } from './close.js';

/** The documented `limbo.close/1` JSON (docs/json.md, docs/schemas/limbo.close-1.schema.json). */
export const closeJsonSchema = contract(
  'limbo.close-1',
  'limbo close --json (limbo.close/1)',
  object(
    {
      schema: constant('limbo.close/1'),
      dryRun: boolean(),
      target: devJsonSchema,
      pid: integer({ minimum: 1 }),
      fd: integer({ minimum: 0 }),
      how: enumOf(['close', 'devnull']),
      comm: nullable(string()),
      commBytes: optional(commBytesSchema),
      path: nullable(string()),
      pathBytes: optional(base64JsonSchema),
      status: enumOf(['closed', 'refused', 'skipped', 'failed']),
      reason: nullable(string()),
      verified: boolean(),
      file: nullable(
        object({
          dev: devJsonSchema,
          inode: oneOf([integer({ minimum: 0 }), string({ pattern: '^[0-9]+$' })]),
          regular: boolean(),
          deleted: boolean(),
          size: integer({ minimum: 0 }),
          allocated: integer({ minimum: 0 }),
          mount: nullable(string()),
          fstype: nullable(string()),
        }),
      ),
      otherHolders: array(ref('holder', holderJsonSchema)),
      expectedBytes: integer({ minimum: 0 }),
      freedBytes: nullable(integer()),
      filesystem: nullable(
        object({
          dev: string(),
          mount: nullable(string()),
          freeBefore: nullable(integer({ minimum: 0 })),
          freeAfter: nullable(integer({ minimum: 0 })),
        }),
      ),
    },
    { definitions: { holder: holderJsonSchema } },
  ),
);
export type CloseJson = Static<typeof closeJsonSchema>;

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
    ...(result.comm === null ? { comm: null } : commToJson(result.comm)),
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
