import type { DfReport } from './df.js';
import { summarizeFilesystem } from './df-words.js';

/** The documented `limbo.df/1` JSON (docs/json.md). */
export interface DfJson {
  readonly schema: 'limbo.df/1';
  readonly filesystems: readonly {
    readonly mount: string;
    readonly source: string;
    readonly fstype: string;
    readonly dev: string;
    readonly size: number;
    readonly used: number;
    readonly available: number;
    readonly reserved: number;
    readonly heldByDeleted: number;
    readonly heldByDeletedFiles: number;
    readonly visible: number | null;
    readonly hiddenUnderMounts: number | null;
    readonly unexplained: number | null;
    readonly walkErrors: number | null;
    readonly topHolders: readonly {
      readonly pid: number;
      readonly comm: string;
      readonly allocated: number;
      readonly files: number;
    }[];
    readonly summary: string;
  }[];
}

/** Converts a report to the `limbo.df/1` contract. */
export function dfReportToJson(report: DfReport): DfJson {
  return {
    schema: 'limbo.df/1',
    filesystems: report.filesystems.map((fs) => ({
      mount: fs.mount,
      source: fs.source,
      fstype: fs.fstype,
      dev: fs.dev,
      size: fs.sizeBytes,
      used: fs.usedBytes,
      available: fs.availableBytes,
      reserved: fs.reservedBytes,
      heldByDeleted: fs.heldByDeletedBytes,
      heldByDeletedFiles: fs.heldByDeletedFiles,
      visible: fs.visibleBytes,
      hiddenUnderMounts: fs.hiddenUnderMountsBytes,
      unexplained: fs.unexplainedBytes,
      walkErrors: fs.walkErrors,
      topHolders: fs.topHolders.map((h) => ({
        pid: h.pid,
        comm: h.comm.toString('utf8'),
        allocated: h.allocatedBytes,
        files: h.files,
      })),
      summary: summarizeFilesystem(fs),
    })),
  };
}
