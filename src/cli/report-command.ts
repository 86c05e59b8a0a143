import { buildReport, type Report, type ReportThresholds } from '../analyses/report.js';
import { describeFinding, sharedWords } from '../analyses/report-words.js';
import { reportToJson } from '../analyses/report-json.js';
import { paletteFor, type Palette } from '../format/color.js';
import { formatBytes } from '../format/size.js';
import type { Io } from './io.js';
import { loadSnapshot } from './load-snapshot.js';
import type { ValuesOf } from './options.js';
import type { reportSpec } from './specs/report.js';

const EXIT: Record<Report['status'], number> = { ok: 0, warning: 1, critical: 2 };

/** `limbo` / `limbo report`: findings and their commands; `--check` for monitoring. */
export function runReport(values: ValuesOf<typeof reportSpec>, io: Io): number {
  const thresholds: ReportThresholds = {
    warnHeldBytes: values.warnHeld,
    critHeldBytes: values.critHeld,
    warnPercent: values.warnPercent,
    critPercent: values.critPercent,
  };
  const report = buildReport(loadSnapshot(values), thresholds);
  if (values.check) {
    io.stdout.write(`${checkLine(report, thresholds)}\n`);
    return EXIT[report.status];
  }
  if (values.json) io.stdout.write(`${JSON.stringify(reportToJson(report), null, 2)}\n`);
  else io.stdout.write(renderReport(report, paletteFor(io.stdout, io.env)));
  return 0;
}

/** "LIMBO WARNING - 2 findings: ... | held=...;warn;crit handles=...;;;0;max", as Nagios plugins print. */
export function checkLine(report: Report, t: ReportThresholds): string {
  const worst = report.findings.filter((f) => f.severity !== 'info');
  const summary =
    worst.length === 0
      ? 'nothing held, nothing leaking'
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
  const actionable = report.findings.filter((f) => f.severity !== 'info');
  if (actionable.length === 0) lines.push(c.green('limbo: OK: nothing held, nothing leaking.'));
  else {
    const title = `limbo: ${report.status.toUpperCase()}: ${actionable.length} ${actionable.length === 1 ? 'finding' : 'findings'}`;
    lines.push(report.status === 'critical' ? c.red(c.bold(title)) : c.yellow(c.bold(title)));
  }
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
