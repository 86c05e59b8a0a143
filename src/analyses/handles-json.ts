import type { HandleReport } from './handles.js';
import { describeHandleWarning } from './handles-words.js';

/** The documented `limbo.handles/1` JSON (docs/json.md). */
export interface HandlesJson {
  readonly schema: 'limbo.handles/1';
  readonly fileNr: { readonly allocated: number | null; readonly max: number | null };
  readonly nrOpen: number | null;
  readonly ledger: {
    readonly descriptors: number;
    readonly openFiles: number;
    readonly openFilesExact: boolean;
    readonly mappings: number;
    readonly mappingsExact: false;
    readonly shmSegments: number;
    readonly shmAttachments: number;
    readonly unexplained: number | null;
    readonly fdsInFlight: number | null;
  };
  readonly byType: Readonly<Record<string, number>>;
  readonly sockets: Readonly<Record<string, number>>;
  readonly anonInodes: Readonly<Record<string, number>>;
  readonly processes: readonly {
    readonly pid: number;
    readonly comm: string;
    readonly user: string;
    readonly unit: string | null;
    readonly fds: number | null;
    readonly openFiles: number | null;
    readonly mappings: number | null;
    readonly shmAttachments: number | null;
    readonly limit: { readonly soft: number | null; readonly hard: number | null } | null;
    readonly limitUsedPercent: number | null;
  }[];
  readonly warnings: readonly {
    readonly kind: string;
    readonly pid: number | null;
    readonly message: string;
    readonly fix: string;
  }[];
  readonly incomplete: { readonly unreadableProcesses: number; readonly unreadablePids: readonly number[] };
}

/** Converts a report to the `limbo.handles/1` contract; `limit` caps the processes listed (all by default). */
export function handleReportToJson(report: HandleReport, limit = Infinity): HandlesJson {
  const { ledger } = report;
  return {
    schema: 'limbo.handles/1',
    fileNr: { allocated: ledger.allocated, max: ledger.max },
    nrOpen: ledger.nrOpen,
    ledger: {
      descriptors: ledger.descriptors,
      openFiles: ledger.openFiles,
      openFilesExact: ledger.openFilesExact,
      mappings: ledger.mappings,
      mappingsExact: false,
      shmSegments: ledger.shmSegments,
      shmAttachments: ledger.shmAttachments,
      unexplained: ledger.unexplained,
      fdsInFlight: ledger.fdsInFlight,
    },
    byType: report.byType,
    sockets: report.sockets,
    anonInodes: report.anonInodes,
    processes: report.processes.slice(0, limit).map((p) => ({
      pid: p.pid,
      comm: p.comm.toString('utf8'),
      user: p.user,
      unit: p.unit,
      fds: p.fds,
      openFiles: p.openFiles,
      mappings: p.mappings,
      shmAttachments: p.shmAttachments,
      limit: p.limit,
      limitUsedPercent: p.limitUsedPercent,
    })),
    warnings: report.warnings.map((w) => ({ kind: w.kind, pid: w.pid, ...describeHandleWarning(w) })),
    incomplete: {
      unreadableProcesses: report.incomplete.unreadableProcesses,
      unreadablePids: report.incomplete.unreadablePids,
    },
  };
}
