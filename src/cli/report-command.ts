import { buildReport, type Report, type ReportThresholds } from '../analyses/report.js';
import { describeFinding, sharedWords, summarizeReport } from '../analyses/report-words.js';
import { LimboError } from '../core/errors.js';
import { reportToJson } from '../analyses/report-json.js';
import { paletteFor, type Palette } from '../format/color.js';
import { formatBytes } from '../format/size.js';
import type { Io } from './io.js';
import { loadSnapshot, withReplayNote, withSource } from './load-snapshot.js';
import type { ValuesOf } from './options.js';
import type { reportSpec } from './specs/report.js';

const EXIT: Record<Report['status'], number> = { ok: 0, warning: 1, critical: 2 };
/** The monitoring-plugin convention: the check could not read what its verdict needs. */
const UNKNOWN = 3;

/** `limbo` / `limbo report`: findings and their commands; `--check` for monitoring. */
export function runReport(values: ValuesOf<typeof reportSpec>, io: Io): number {
  const thresholds: ReportThresholds = {
    warnHeldBytes: values.warnHeld,
    critHeldBytes: values.critHeld,
    warnPercent: values.warnPercent,
    critPercent: values.critPercent,
  };
  for (const [warn, crit, flags] of [
    [thresholds.warnHeldBytes, thresholds.critHeldBytes, ['--warn-held', '--crit-held']],
    [thresholds.warnPercent, thresholds.critPercent, ['--warn-percent', '--crit-percent']],
  ] as const) {
    if (warn > crit) {
      throw new LimboError(
        'usage',
        `limbo report: ${flags[0]} is above ${flags[1]}: a warning must come first`,
      );
    }
  }
  if (values.check) return runCheck(values, thresholds, io);
  const snapshot = loadSnapshot(values);
  const report = buildReport(snapshot, thresholds);
  if (values.json)
    io.stdout.write(`${JSON.stringify(withSource(reportToJson(report), values, snapshot), null, 2)}\n`);
  else io.stdout.write(withReplayNote(renderReport(report, paletteFor(io.stdout, io.env)), values, snapshot));
  return 0;
}

/**
 * `--check`: one line and the status as exit code; UNKNOWN (3) when it could not look: no /proc
 * or snapshot to read, file-nr unreadable, or, as a normal user, processes it could not read
 * behind an OK (one of them may hold what a warning needs). A warning or critical found stands.
 */
function runCheck(values: ValuesOf<typeof reportSpec>, thresholds: ReportThresholds, io: Io): number {
  let report: Report;
  try {
    report = buildReport(loadSnapshot(values), thresholds);
  } catch (error) {
    if (!(error instanceof LimboError) || error.code === 'usage') throw error;
    io.stdout.write(`LIMBO UNKNOWN - ${error.message.split('\n')[0]}\n`);
    return UNKNOWN;
  }
  const line = checkLine(report, thresholds);
  const unknown = report.status === 'ok' ? unknownReason(report) : null;
  if (unknown) {
    io.stdout.write(`LIMBO UNKNOWN - ${unknown} | ${line.split(' | ')[1] ?? ''}\n`);
    return UNKNOWN;
  }
  io.stdout.write(`${line}\n`);
  return EXIT[report.status];
}

/** Why an OK would claim more than limbo saw; null when it saw what the verdict needs. */
function unknownReason(report: Report): string | null {
  if (report.fileHandles.allocated === null) return 'file-nr could not be read';
  const { unreadableProcesses, scannerUid } = report.incomplete;
  if (unreadableProcesses > 0 && scannerUid !== 0) {
    return `${unreadableProcesses} ${unreadableProcesses === 1 ? 'process' : 'processes'} could not be read: run as root to check them`;
  }
  return null;
}

/** "LIMBO WARNING - 2 findings: ... | held=...;warn;crit handles=...;;;0;max", as Nagios plugins print. */
export function checkLine(report: Report, t: ReportThresholds): string {
  const worst = report.findings.filter((f) => f.severity !== 'info');
  const summary =
    worst.length === 0
      ? report.findings.length === 0
        ? 'nothing held, nothing leaking'
        : `nothing above its warning threshold (${report.findings.length} info)`
      : `${worst.length} ${worst.length === 1 ? 'finding' : 'findings'}: ${worst.map((f) => describeFinding(f).message).join('; ')}`;
  const { allocated, max } = report.fileHandles;
  const perf = [
    `held=${report.heldByDeletedBytes}B;${t.warnHeldBytes};${t.critHeldBytes};0`,
    `reclaimable=${report.reclaimableBytes}B;${t.warnHeldBytes};${t.critHeldBytes};0`,
    allocated !== null ? `handles=${allocated};;;0;${max ?? ''}` : null,
    `restart=${report.restartProcesses};;;0`,
    `shm_orphaned=${report.orphanedShmBytes}B;;;0`,
  ].filter((p) => p !== null);
  return `LIMBO ${report.status.toUpperCase()} - ${summary} | ${perf.join(' ')}`;
}

/** Findings first, worst first; quiet when all is well. */
export function renderReport(report: Report, c: Palette): string {
  const lines: string[] = [];
  const title = summarizeReport(report);
  lines.push(
    report.status === 'critical'
      ? c.red(c.bold(title))
      : report.status === 'warning'
        ? c.yellow(c.bold(title))
        : c.green(title),
  );
  if (report.findings.length > 0) lines.push('');
  for (const finding of report.findings) {
    const mark =
      finding.severity === 'critical'
        ? c.red('!!')
        : finding.severity === 'warning'
          ? c.yellow(' !')
          : c.dim(' ·');
    const { message, command } = describeFinding(finding);
    lines.push(`${mark} ${message}`);
    if (command) lines.push(`     ${c.dim('next:')} ${c.cyan(command)}`);
  }
  const { allocated, max } = report.fileHandles;
  lines.push(
    '',
    c.dim(
      `Deleted files hold ${formatBytes(report.heldByDeletedBytes)}` +
        sharedWords(report.heldByDeletedBytes, report.reclaimableBytes) +
        (allocated !== null
          ? `; file handles ${allocated.toLocaleString('en-US')} of ${max?.toLocaleString('en-US')}`
          : '') +
        `; ${report.restartProcesses} ${report.restartProcesses === 1 ? 'process needs' : 'processes need'} a restart.` +
        ' Details: limbo deleted, limbo df, limbo handles, limbo shm, limbo restart.',
    ),
  );
  return `${lines.join('\n')}\n`;
}
