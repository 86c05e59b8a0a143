import {
  holderToJson,
  inodeToJson,
  nameToJson,
  riskToJson,
  viaToJson,
  type HolderJson,
  type ViaJson,
  type WarningJson,
} from './action-json.js';
import type { ReclaimReport } from './reclaim.js';

/** The documented `limbo.reclaim/1` JSON (docs/json.md, docs/schemas/limbo.reclaim-1.schema.json). */
export interface ReclaimJson {
  readonly schema: 'limbo.reclaim/1';
  readonly dryRun: boolean;
  readonly results: readonly {
    readonly target: string;
    readonly dev: string | null;
    readonly inode: number | string | null;
    readonly path: string | null;
    readonly pathBytes?: string;
    readonly kind: string | null;
    readonly status: 'truncated' | 'refused' | 'skipped';
    readonly reason: string | null;
    readonly expectedBytes: number;
    readonly freedBytes: number;
    readonly size: number;
    readonly sizeAfter: number | null;
    readonly via: ViaJson | null;
    readonly holders: readonly HolderJson[];
    readonly warnings: readonly WarningJson[];
  }[];
  readonly filesystems: readonly {
    readonly dev: string;
    readonly mount: string | null;
    readonly fstype: string | null;
    readonly freeBefore: number | null;
    readonly freeAfter: number | null;
    readonly freedBytes: number | null;
    readonly expectedBytes: number;
  }[];
}

/** Converts a report to the `limbo.reclaim/1` contract. */
export function reclaimReportToJson(report: ReclaimReport): ReclaimJson {
  return {
    schema: 'limbo.reclaim/1',
    dryRun: report.dryRun,
    results: report.results.map((result) => ({
      target: result.target,
      dev: result.dev,
      inode: result.ino === null ? null : inodeToJson(result.ino),
      ...nameToJson(result.name),
      kind: result.kind,
      status: result.status,
      reason: result.reason,
      expectedBytes: result.expectedBytes,
      freedBytes: result.freedBytes,
      size: result.sizeBytes,
      sizeAfter: result.sizeAfterBytes,
      via: viaToJson(result.via),
      holders: result.holders.map(holderToJson),
      warnings: result.risks.map(riskToJson),
    })),
    filesystems: report.filesystems.map((fs) => ({
      dev: fs.dev,
      mount: fs.mount,
      fstype: fs.fstype,
      freeBefore: fs.availableBeforeBytes,
      freeAfter: fs.availableAfterBytes,
      freedBytes:
        fs.availableBeforeBytes === null || fs.availableAfterBytes === null
          ? null
          : fs.availableAfterBytes - fs.availableBeforeBytes,
      expectedBytes: fs.expectedBytes,
    })),
  };
}
