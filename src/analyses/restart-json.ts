import { isUtf8 } from 'node:buffer';
import { inodeToJson } from './deleted-json.js';
import type { RestartReport } from './restart.js';

/** The documented `limbo.restart/1` JSON (docs/json.md). */
export interface RestartJson {
  readonly schema: 'limbo.restart/1';
  readonly processes: readonly {
    readonly pid: number;
    readonly comm: string;
    readonly user: string;
    readonly uid: number;
    readonly unit: string | null;
    readonly container: string | null;
    readonly reasons: readonly {
      readonly kind: 'exe' | 'library' | 'mapped';
      readonly path: string;
      readonly pathBytes?: string;
      readonly dev: string;
      readonly inode: number | string;
      readonly how: 'deleted' | 'replaced';
    }[];
  }[];
  readonly units: readonly {
    readonly unit: string | null;
    readonly container: string | null;
    readonly pids: readonly number[];
    readonly command: string | null;
  }[];
  readonly incomplete: { readonly unreadableProcesses: number; readonly unreadablePids: readonly number[] };
}

/** Converts a report to the `limbo.restart/1` contract. */
export function restartReportToJson(report: RestartReport): RestartJson {
  return {
    schema: 'limbo.restart/1',
    processes: report.processes.map((p) => ({
      pid: p.pid,
      comm: p.comm.toString('utf8'),
      user: p.user,
      uid: p.uid,
      unit: p.unit,
      container: p.container,
      reasons: p.reasons.map((r) => ({
        kind: r.kind,
        path: r.name.toString('utf8'),
        ...(isUtf8(r.name) ? {} : { pathBytes: r.name.toString('base64') }),
        dev: r.dev,
        inode: inodeToJson(r.ino),
        how: r.how,
      })),
    })),
    units: report.groups.map((g) => ({
      unit: g.unit,
      container: g.container,
      pids: g.pids,
      command: g.command,
    })),
    incomplete: {
      unreadableProcesses: report.incomplete.unreadableProcesses,
      unreadablePids: report.incomplete.unreadablePids,
    },
  };
}
