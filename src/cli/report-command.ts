import { buildReport, DEFAULT_THRESHOLDS, type Report, type ReportThresholds } from '../analyses/report.js';
import { describeFinding } from '../analyses/report-words.js';
import { reportToJson } from '../analyses/report-json.js';
import { paletteFor, type Palette } from '../format/color.js';
import { formatBytes, parseSize } from '../format/size.js';
import { LimboError } from '../core/errors.js';
import type { Io } from './io.js';
import { loadSnapshot } from './load-snapshot.js';
import type { CommandSpec, ParsedOptions } from './options.js';

export const reportSpec: CommandSpec = {
  name: 'report',
  summary:
    'The one screen to read first (also bare `limbo`): every finding, worst first, with the next command.',
  usage:
    'limbo [report] [--check] [--warn-held SIZE] [--crit-held SIZE] [--warn-percent P] [--crit-percent P] [--json]',
  options: [
    {
      name: 'check',
      type: 'boolean',
      help: 'monitoring mode: print one Nagios-style line; exit 0 ok, 1 warning, 2 critical',
    },
    {
      name: 'warn-held',
      type: 'string',
      value: 'SIZE',
      help: 'warn when deleted files hold SIZE on a filesystem (default 1G)',
    },
    {
      name: 'crit-held',
      type: 'string',
      value: 'SIZE',
      help: 'critical from SIZE held on a filesystem (default 10G)',
    },
    {
      name: 'warn-percent',
      type: 'string',
      value: 'P',
      help: 'warn at P% of a process fd limit or fs.file-max (default 80)',
    },
    { name: 'crit-percent', type: 'string', value: 'P', help: 'critical from P% of a limit (default 95)' },
  ],
};

const EXIT: Record<Report['status'], number> = { ok: 0, warning: 1, critical: 2 };

/** `limbo` / `limbo report`: findings and their commands; `--check` for monitoring. */
export function runReport(values: ParsedOptions, io: Io): number {
  const thresholds = parseThresholds(values);
  const report = buildReport(loadSnapshot(values), thresholds);
  if (values['check']) {
    io.stdout.write(`${checkLine(report, thresholds)}\n`);
    return EXIT[report.status];
  }
  if (values['json']) io.stdout.write(`${JSON.stringify(reportToJson(report), null, 2)}\n`);
  else io.stdout.write(renderReport(report, paletteFor(io.stdout, io.env)));
  return 0;
}

function parseThresholds(values: ParsedOptions): ReportThresholds {
  const size = (name: string, fallback: number): number => {
    const value = values[name];
    if (typeof value !== 'string') return fallback;
    const bytes = parseSize(value);
    if (bytes === null)
      throw new LimboError('usage', `limbo report: --${name} takes a size such as 1G, not '${value}'`);
    return bytes;
  };
  const percent = (name: string, fallback: number): number => {
    const value = values[name];
    if (typeof value !== 'string') return fallback;
    if (!/^\d+(\.\d+)?$/.test(value) || Number(value) > 100) {
      throw new LimboError(
        'usage',
        `limbo report: --${name} takes a percentage from 0 to 100, not '${value}'`,
      );
    }
    return Number(value);
  };
  return {
    warnHeldBytes: size('warn-held', DEFAULT_THRESHOLDS.warnHeldBytes),
    critHeldBytes: size('crit-held', DEFAULT_THRESHOLDS.critHeldBytes),
    warnPercent: percent('warn-percent', DEFAULT_THRESHOLDS.warnPercent),
    critPercent: percent('crit-percent', DEFAULT_THRESHOLDS.critPercent),
  };
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
        (allocated !== null
          ? `; file handles ${allocated.toLocaleString('en-US')} of ${max?.toLocaleString('en-US')}`
          : '') +
        `; ${report.restartProcesses} ${report.restartProcesses === 1 ? 'process needs' : 'processes need'} a restart.` +
        ' Details: limbo deleted, limbo df, limbo handles, limbo shm, limbo restart.',
    ),
  );
  return `${lines.join('\n')}\n`;
}
