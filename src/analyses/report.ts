import { shmStatus } from '../proc/sysvipc-shm.js';
import type { Snapshot } from '../snapshot/types.js';
import { findDeletedFiles, type DeletedReport } from './deleted.js';
import { findFileHolders } from './holders.js';
import { releaseSteps, type ReleaseStep } from './programs.js';
import { incompleteOf, type IncompleteView } from './incomplete.js';
import { findRestartNeeded, type RestartReport } from './restart.js';

export type Severity = 'info' | 'warning' | 'critical';
export type ReportStatus = 'ok' | 'warning' | 'critical';

/** What a finding is about, as data; report-words.ts says it in words, with the next command. */
export type FindingFacts =
  | {
      readonly kind: 'deleted-held';
      /** The mount point, or "(memfd)" for memory-backed files. */
      readonly mount: string;
      /** The mount point's exact bytes, present only when they are not valid UTF-8. */
      readonly mountBytes?: Buffer;
      /** The mount namespace the mount point is in, when not limbo's own (a container's private mount). */
      readonly mountNamespace?: string;
      /** A path on the host that names the filesystem (for --mount); null when none is known. */
      readonly mountPath?: Buffer | null;
      readonly heldBytes: number;
      /** What closing them frees: heldBytes less blocks shared with other files (unknown splits in full). */
      readonly reclaimableBytes: number;
      readonly files: number;
      /** The first holder of the biggest file there. */
      readonly topHolder: {
        readonly pid: number;
        readonly comm: Buffer;
        readonly unit: string | null;
      } | null;
      /** What makes every holder of the biggest file there let go: one step per process family. */
      readonly releaseSteps?: readonly ReleaseStep[];
    }
  | {
      readonly kind: 'system-file-max';
      readonly allocated: number;
      readonly max: number;
      readonly percent: number;
    }
  | {
      readonly kind: 'process-fd-limit';
      readonly pid: number;
      readonly comm: Buffer;
      readonly fds: number;
      readonly softLimit: number;
      readonly percent: number;
    }
  | { readonly kind: 'shm-orphaned'; readonly segments: number; readonly bytes: number }
  | {
      readonly kind: 'restart-needed';
      readonly processes: number;
      /** The restart command when every process is in one group; null otherwise. */
      readonly groupCommand: string | null;
    }
  | {
      /** A FUSE or network mount that did not answer statfs in time: skipped, not waited for. */
      readonly kind: 'mount-unanswered';
      readonly mount: string;
      readonly fstype: string;
      readonly mountNamespace: string | null;
      readonly waitedMilliseconds: number;
      readonly skipped: number;
    }
  | {
      readonly kind: 'partial-view';
      readonly unreadableProcesses: number;
      /** True when even root was refused: `sudo` would not help. */
      readonly asRoot: boolean;
    };

/** One thing worth an operator's attention. */
export type Finding = FindingFacts & { readonly severity: Severity };
export type FindingKind = Finding['kind'];

/** Per filesystem: df's used, and what deleted files hold of it. */
export interface FilesystemSummary {
  readonly mount: string;
  readonly fstype: string;
  readonly heldByDeletedBytes: number;
  /** What closing them frees: held less blocks shared with other files (unknown splits in full). */
  readonly reclaimableBytes: number;
  readonly heldByDeletedFiles: number;
}

export interface Report {
  readonly status: ReportStatus;
  readonly findings: readonly Finding[];
  readonly filesystems: readonly FilesystemSummary[];
  readonly heldByDeletedBytes: number;
  /** What closing every holder frees, by the same rule as FilesystemSummary.reclaimableBytes. */
  readonly reclaimableBytes: number;
  readonly fileHandles: { readonly allocated: number | null; readonly max: number | null };
  readonly restartProcesses: number;
  readonly orphanedShmBytes: number;
  /** What the scan could not see: a process it could not read may hold what no finding shows. */
  readonly incomplete: IncompleteView;
}

/** Where warnings and critical findings begin. */
export interface ReportThresholds {
  /** Bytes held by deleted files on one filesystem (default 1 GiB). */
  readonly warnHeldBytes: number;
  /** (default 10 GiB) */
  readonly critHeldBytes: number;
  /** Share of a process's soft fd limit or of fs.file-max, in percent (default 80). */
  readonly warnPercent: number;
  /** (default 95) */
  readonly critPercent: number;
}

export const DEFAULT_THRESHOLDS: ReportThresholds = {
  warnHeldBytes: 1024 ** 3,
  critHeldBytes: 10 * 1024 ** 3,
  warnPercent: 80,
  critPercent: 95,
};

const RANK: Record<Severity, number> = { info: 0, warning: 1, critical: 2 };

/** The analyses a report is built on, when the caller has run them over the same snapshot already. */
export interface ReportInputs {
  /** findDeletedFiles(snapshot) */
  readonly deleted?: DeletedReport;
  /** findRestartNeeded(snapshot) */
  readonly restart?: RestartReport;
}

/** The one screen an operator reads first: every finding, worst first, each with its next command. */
export function buildReport(
  snapshot: Snapshot,
  thresholds: ReportThresholds = DEFAULT_THRESHOLDS,
  inputs: ReportInputs = {},
): Report {
  const findings: Finding[] = [];
  const deleted = inputs.deleted ?? findDeletedFiles(snapshot);
  const filesystems: FilesystemSummary[] = deleted.totals.byMount.map((m) => ({
    mount: m.mount ?? '(memfd)',
    fstype: m.fstype ?? '?',
    heldByDeletedBytes: m.allocatedBytes,
    reclaimableBytes: m.reclaimableBytes + m.reclaimableUnknownBytes,
    heldByDeletedFiles: m.files,
  }));
  for (const m of deleted.totals.byMount) {
    if (m.allocatedBytes === 0) continue;
    // Judged by what a restart would free: blocks shared with other files stay in use regardless.
    const severity = bySize(m.reclaimableBytes + m.reclaimableUnknownBytes, thresholds);
    // Files are biggest first, so the first one on this mount is its biggest.
    const biggest = deleted.files.find(
      (f) =>
        f.mount === m.mount &&
        f.fstype === m.fstype &&
        f.mountNamespace === m.mountNamespace &&
        sameBytes(f.mountBytes, m.mountBytes),
    );
    const top = biggest?.holders[0];
    findings.push({
      severity,
      kind: 'deleted-held',
      mount: m.mount ?? '(memfd)',
      ...(m.mountBytes ? { mountBytes: m.mountBytes } : {}),
      ...(m.mountNamespace !== null && m.mountNamespace !== snapshot.hostMountNamespace
        ? { mountNamespace: m.mountNamespace }
        : {}),
      mountPath: m.mountPath,
      heldBytes: m.allocatedBytes,
      reclaimableBytes: m.reclaimableBytes + m.reclaimableUnknownBytes,
      files: m.files,
      topHolder: top ? { pid: top.pid, comm: top.comm, unit: top.unit } : null,
      releaseSteps: biggest
        ? releaseSteps(findFileHolders(snapshot, biggest.key), { name: biggest.name })
        : [],
    });
  }

  const fileNr = snapshot.system?.fileNr ?? null;
  if (fileNr && fileNr.max > 0) {
    const percent = (fileNr.allocated / fileNr.max) * 100;
    const severity = byPercent(percent, thresholds);
    if (severity !== 'info') {
      findings.push({
        severity,
        kind: 'system-file-max',
        allocated: fileNr.allocated,
        max: fileNr.max,
        percent,
      });
    }
  }
  for (const process of snapshot.processes) {
    const soft = process.fdLimit?.soft;
    if (!soft || process.fdCount === null) continue;
    const percent = (process.fdCount / soft) * 100;
    const severity = byPercent(percent, thresholds);
    if (severity === 'info') continue;
    findings.push({
      severity,
      kind: 'process-fd-limit',
      pid: process.pid,
      comm: process.comm,
      fds: process.fdCount,
      softLimit: soft,
      percent,
    });
  }

  const orphans = (snapshot.shmSegments ?? []).filter((segment) => shmStatus(segment) === 'orphaned');
  const orphanedShmBytes = orphans.reduce((sum, segment) => sum + segment.rssBytes + segment.swapBytes, 0);
  if (orphans.length > 0) {
    findings.push({
      severity: orphanedShmBytes > 0 ? 'warning' : 'info',
      kind: 'shm-orphaned',
      segments: orphans.length,
      bytes: orphanedShmBytes,
    });
  }

  const restart = inputs.restart ?? findRestartNeeded(snapshot);
  if (restart.processes.length > 0) {
    const first = restart.groups[0];
    findings.push({
      severity: 'warning',
      kind: 'restart-needed',
      processes: restart.processes.length,
      groupCommand: restart.groups.length === 1 && first?.command ? first.command : null,
    });
  }

  for (const m of snapshot.incomplete.unansweredMounts ?? []) {
    findings.push({
      severity: 'warning',
      kind: 'mount-unanswered',
      mount: m.mountPoint,
      fstype: m.fstype,
      mountNamespace: m.mountNamespace,
      waitedMilliseconds: m.waitedMilliseconds,
      skipped: m.skipped,
    });
  }
  const { unreadableProcesses, scannerUid } = snapshot.incomplete;
  if (unreadableProcesses > 0) {
    findings.push({ severity: 'info', kind: 'partial-view', unreadableProcesses, asRoot: scannerUid === 0 });
  }

  findings.sort((a, b) => RANK[b.severity] - RANK[a.severity]);
  const worst = findings.reduce<Severity>(
    (max, f) => (RANK[f.severity] > RANK[max] ? f.severity : max),
    'info',
  );
  return {
    status: worst === 'info' ? 'ok' : worst,
    findings,
    filesystems,
    heldByDeletedBytes: deleted.totals.allocatedBytes,
    reclaimableBytes: deleted.totals.reclaimableBytes + deleted.totals.reclaimableUnknownBytes,
    fileHandles: { allocated: fileNr?.allocated ?? null, max: fileNr?.max ?? null },
    restartProcesses: restart.processes.length,
    orphanedShmBytes,
    incomplete: incompleteOf(snapshot),
  };
}

function sameBytes(a: Buffer | undefined, b: Buffer | undefined): boolean {
  return a === undefined || b === undefined ? a === b : a.equals(b);
}

function bySize(bytes: number, t: ReportThresholds): Severity {
  return bytes >= t.critHeldBytes ? 'critical' : bytes >= t.warnHeldBytes ? 'warning' : 'info';
}

function byPercent(percent: number, t: ReportThresholds): Severity {
  return percent >= t.critPercent ? 'critical' : percent >= t.warnPercent ? 'warning' : 'info';
}
