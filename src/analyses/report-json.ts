import type { Report } from './report.js';
import { describeFinding } from './report-words.js';

/** The documented `limbo.report/1` JSON (docs/json.md). */
export interface ReportJson {
  readonly schema: 'limbo.report/1';
  readonly status: 'ok' | 'warning' | 'critical';
  readonly findings: readonly {
    readonly severity: 'info' | 'warning' | 'critical';
    readonly kind: string;
    readonly message: string;
    readonly command: string | null;
  }[];
  readonly filesystems: readonly {
    readonly mount: string;
    readonly fstype: string;
    readonly heldByDeleted: number;
    readonly heldByDeletedFiles: number;
  }[];
  readonly heldByDeleted: number;
  readonly fileHandles: { readonly allocated: number | null; readonly max: number | null };
  readonly restartProcesses: number;
  readonly orphanedShmBytes: number;
}

/** Converts a report to the `limbo.report/1` contract. */
export function reportToJson(report: Report): ReportJson {
  return {
    schema: 'limbo.report/1',
    status: report.status,
    findings: report.findings.map((f) => ({ severity: f.severity, kind: f.kind, ...describeFinding(f) })),
    filesystems: report.filesystems.map((fs) => ({
      mount: fs.mount,
      fstype: fs.fstype,
      heldByDeleted: fs.heldByDeletedBytes,
      heldByDeletedFiles: fs.heldByDeletedFiles,
    })),
    heldByDeleted: report.heldByDeletedBytes,
    fileHandles: report.fileHandles,
    restartProcesses: report.restartProcesses,
    orphanedShmBytes: report.orphanedShmBytes,
  };
}
