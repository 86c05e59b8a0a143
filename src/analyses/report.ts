import { escapeName } from '../format/escape.js';
import { formatBytes } from '../format/size.js';
import { shmStatus } from '../proc/sysvipc-shm.js';
import type { Snapshot } from '../snapshot/types.js';
import { findDeletedFiles } from './deleted.js';
import { findRestartNeeded } from './restart.js';

export type Severity = 'info' | 'warning' | 'critical';
export type ReportStatus = 'ok' | 'warning' | 'critical';
export type FindingKind =
  | 'deleted-held'
  | 'process-fd-limit'
  | 'system-file-max'
  | 'shm-orphaned'
  | 'restart-needed'
  | 'partial-view';

/** One thing worth an operator's attention, with the exact next command. */
export interface Finding {
  readonly severity: Severity;
  readonly kind: FindingKind;
  readonly message: string;
  /** The command to run next; null when there is none to give. */
  readonly command: string | null;
}

/** Per filesystem: df's used, and what deleted files hold of it. */
export interface FilesystemSummary {
  readonly mount: string;
  readonly fstype: string;
  readonly heldByDeletedBytes: number;
  readonly heldByDeletedFiles: number;
}

export interface Report {
  readonly status: ReportStatus;
  readonly findings: readonly Finding[];
  readonly filesystems: readonly FilesystemSummary[];
  readonly heldByDeletedBytes: number;
  readonly fileHandles: { readonly allocated: number | null; readonly max: number | null };
  readonly restartProcesses: number;
  readonly orphanedShmBytes: number;
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

/** The one screen an operator reads first: every finding, worst first, each with its next command. */
export function buildReport(snapshot: Snapshot, thresholds: ReportThresholds = DEFAULT_THRESHOLDS): Report {
  const findings: Finding[] = [];
  const deleted = findDeletedFiles(snapshot);
  const filesystems: FilesystemSummary[] = deleted.totals.byMount.map((m) => ({
    mount: m.mount ?? '(memfd)',
    fstype: m.fstype ?? '?',
    heldByDeletedBytes: m.allocatedBytes,
    heldByDeletedFiles: m.files,
  }));
  for (const fs of filesystems) {
    if (fs.heldByDeletedBytes === 0) continue;
    const severity = bySize(fs.heldByDeletedBytes, thresholds);
    const files = deleted.files.filter((f) => (f.mount ?? '(memfd)') === fs.mount);
    const top = files[0]?.holders[0];
    const where = escapeName(Buffer.from(fs.mount));
    findings.push({
      severity,
      kind: 'deleted-held',
      message:
        `${where}: ${formatBytes(fs.heldByDeletedBytes)} held by ${fs.heldByDeletedFiles} deleted ` +
        `${fs.heldByDeletedFiles === 1 ? 'file' : 'files'}` +
        (top ? `, the biggest by ${escapeName(top.comm)} (pid ${top.pid})` : ''),
      command: top?.unit?.endsWith('.service')
        ? `systemctl restart ${escapeName(Buffer.from(top.unit))}`
        : fs.mount === '(memfd)'
          ? 'limbo deleted --kind memfd'
          : `limbo deleted --mount ${where}`,
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
        message: `file handles: ${fileNr.allocated} of ${fileNr.max} (${percent.toFixed(0)}% of fs.file-max)`,
        command: 'limbo handles',
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
      message: `pid ${process.pid} (${escapeName(process.comm)}) has ${process.fdCount} of ${soft} fds open (${percent.toFixed(0)}% of its limit)`,
      command: `limbo handles`,
    });
  }

  const orphans = (snapshot.shmSegments ?? []).filter((segment) => shmStatus(segment) === 'orphaned');
  const orphanedShmBytes = orphans.reduce((sum, segment) => sum + segment.rssBytes + segment.swapBytes, 0);
  if (orphans.length > 0) {
    findings.push({
      severity: orphanedShmBytes > 0 ? 'warning' : 'info',
      kind: 'shm-orphaned',
      message: `${orphans.length} SysV shared memory ${orphans.length === 1 ? 'segment is' : 'segments are'} attached to no process and hold ${formatBytes(orphanedShmBytes)} of RAM until removed`,
      command: 'limbo shm',
    });
  }

  const restart = findRestartNeeded(snapshot);
  if (restart.processes.length > 0) {
    const first = restart.groups[0];
    findings.push({
      severity: 'warning',
      kind: 'restart-needed',
      message: `${restart.processes.length} ${restart.processes.length === 1 ? 'process runs' : 'processes run'} deleted or replaced code (upgraded but not restarted)`,
      command: restart.groups.length === 1 && first?.command ? first.command : 'limbo restart',
    });
  }

  const { unreadableProcesses, scannerUid } = snapshot.incomplete;
  if (unreadableProcesses > 0 && scannerUid !== 0) {
    findings.push({
      severity: 'info',
      kind: 'partial-view',
      message: `${unreadableProcesses} processes could not be read: this is a partial view`,
      command: 'sudo limbo',
    });
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
    fileHandles: { allocated: fileNr?.allocated ?? null, max: fileNr?.max ?? null },
    restartProcesses: restart.processes.length,
    orphanedShmBytes,
  };
}

function bySize(bytes: number, t: ReportThresholds): Severity {
  return bytes >= t.critHeldBytes ? 'critical' : bytes >= t.warnHeldBytes ? 'warning' : 'info';
}

function byPercent(percent: number, t: ReportThresholds): Severity {
  return percent >= t.critPercent ? 'critical' : percent >= t.warnPercent ? 'warning' : 'info';
}
