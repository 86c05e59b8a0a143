import { devJsonSchema } from '../format/json-fields.js';
import { inodeToJson, viaJsonSchema, viaToJson } from './action-json.js';
import type { RecoverResult } from './recover.js';
import {
  array,
  constant,
  contract,
  enumOf,
  integer,
  nullType,
  nullable,
  object,
  oneOf,
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
  };
}
