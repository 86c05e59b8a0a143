import { devJsonSchema } from '../format/json-fields.js';
import { inodeToJson, nameToJson, viaJsonSchema, viaToJson } from './action-json.js';
import { SQLITE_SIBLING_SUFFIXES } from './recover-siblings.js';
import type { RecoverResult } from './recover.js';
import {
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
  string,
  type Static,
} from '../format/json-schema.js';

/** The documented `limbo.recover/1` JSON (docs/json.md). */
export const recoverJsonSchema = contract(
  'limbo.recover-1',
  'limbo recover --json (limbo.recover/1)',
  object({
    schema: constant('limbo.recover/1'),
    target: string(),
    dest: string(),
    dev: nullable(devJsonSchema),
    inode: oneOf([integer({ minimum: 0 }), string({ pattern: '^[0-9]+$' }), nullType()]),
    status: enumOf(['copied', 'linked', 'refused', 'failed']),
    reason: nullable(string()),
    size: integer({ minimum: 0 }),
    allocated: integer({ minimum: 0 }),
    dataWritten: integer({ minimum: 0 }),
    destAllocated: nullable(integer({ minimum: 0 })),
    holes: enumOf(['seek-data', 'zero-blocks', null]),
    mode: nullable(string({ pattern: '^0[0-7]+$' })),
    via: nullable(viaJsonSchema),
    warnings: array(string()),
    owner: nullable(
      object(
        { uid: integer({ minimum: 0 }), gid: integer({ minimum: 0 }) },
        {
          description:
            "The owner DEST got: the source's when run as root; null when DEST is the runner's own.",
        },
      ),
    ),
    siblings: array(
      object({
        suffix: enumOf([...SQLITE_SIBLING_SUFFIXES]),
        path: nullable(string()),
        pathBytes: optional(string({ contentEncoding: 'base64' })),
        via: viaJsonSchema,
        dest: string(),
        deleted: boolean(),
        status: enumOf(['copied', 'failed']),
        reason: nullable(string()),
        size: integer({ minimum: 0 }),
        allocated: integer({ minimum: 0 }),
        dataWritten: integer({ minimum: 0 }),
        destAllocated: nullable(integer({ minimum: 0 })),
      }),
      {
        description: 'Files the program keeps beside it (SQLite -wal, -journal), copied to DEST + suffix.',
      },
    ),
    missingSiblings: array(enumOf([...SQLITE_SIBLING_SUFFIXES]), {
      description: 'Siblings the file needs that no descriptor of its holder reaches: gone for good.',
    }),
  }),
);

export type RecoverJson = Static<typeof recoverJsonSchema>;

/** Converts a result to the `limbo.recover/1` contract. */
export function recoverResultToJson(result: RecoverResult): RecoverJson {
  return {
    schema: 'limbo.recover/1',
    target: result.target,
    dest: result.dest,
    dev: result.dev,
    inode: result.ino === null ? null : inodeToJson(result.ino),
    status: result.status,
    reason: result.reason,
    size: result.sizeBytes,
    allocated: result.sourceAllocatedBytes,
    dataWritten: result.dataBytes,
    destAllocated: result.destAllocatedBytes,
    holes: result.holes,
    mode: result.mode === null ? null : `0${result.mode.toString(8).padStart(3, '0')}`,
    via: viaToJson(result.via),
    warnings: result.warnings,
    owner: result.owner,
    siblings: result.siblings.map((sibling) => ({
      suffix: sibling.suffix,
      ...nameToJson(sibling.name),
      via: viaToJson(sibling.via) as NonNullable<ReturnType<typeof viaToJson>>,
      dest: sibling.dest,
      deleted: sibling.deleted,
      status: sibling.status,
      reason: sibling.reason,
      size: sibling.sizeBytes,
      allocated: sibling.sourceAllocatedBytes,
      dataWritten: sibling.dataBytes,
      destAllocated: sibling.destAllocatedBytes,
    })),
    missingSiblings: [...result.missingSiblings],
  };
}
