import { inodeToJson, viaToJson, type ViaJson } from './action-json.js';
import type { RecoverResult } from './recover.js';

/** The documented `limbo.recover/1` JSON (docs/json.md, docs/schemas/limbo.recover-1.schema.json). */
export interface RecoverJson {
  readonly schema: 'limbo.recover/1';
  readonly target: string;
  readonly dest: string;
  readonly dev: string | null;
  readonly inode: number | string | null;
  readonly status: 'copied' | 'linked' | 'refused' | 'failed';
  readonly reason: string | null;
  readonly size: number;
  readonly allocated: number;
  readonly dataWritten: number;
  readonly destAllocated: number | null;
  readonly holes: 'seek-data' | 'zero-blocks' | null;
  readonly mode: string | null;
  readonly via: ViaJson | null;
  readonly warnings: readonly string[];
}

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
