import { explainHandles, type HandleReport, type ProcessHandleUse } from '../analyses/handles.js';
import { handleReportToJson } from '../analyses/handles-json.js';
import { describeHandleWarning } from '../analyses/handles-words.js';
import { describeIncomplete } from '../analyses/incomplete-words.js';
import { paletteFor, type Palette } from '../format/color.js';
import { escapeName } from '../format/escape.js';
import { LimboError } from '../core/errors.js';
import { nativeAddon } from '../native.js';
import { shortContainerId } from '../format/container.js';
import { checkContainer } from './deleted-filter.js';
import type { Io } from './io.js';
import { loadSnapshot, withReplayNote, withSource } from './load-snapshot.js';
import type { ValuesOf } from './options.js';
import { HANDLES_TOP, type handlesSpec } from './specs/handles.js';

/** `limbo handles`: the ledger, the types, the top processes, the warnings. */
export function runHandles(values: ValuesOf<typeof handlesSpec>, io: Io): number {
  const { top, warnPercent } = values;
  // The ledger and fd counts are all it reads: no deleted-file walk, no candidate reads.
  const snapshot = loadSnapshot(values, { handles: true, files: false });
  if (snapshot.system?.openFiles == null) {
    throw new LimboError(
      'snapshot-invalid',
      'this snapshot has no handle counts: take it with `limbo snapshot --handles`',
    );
  }
  if (values.container !== undefined) checkContainer('handles', values.container, snapshot);
  const report = explainHandles(snapshot, {
    ...(warnPercent === undefined ? {} : { warnPercent }),
    ...(values.container === undefined ? {} : { container: values.container }),
  });
  if (values.json)
    io.stdout.write(
      `${JSON.stringify(withSource(handleReportToJson(report, top ?? Infinity), values, snapshot), null, 2)}\n`,
    );
  else {
    const c = paletteFor(io.stdout, io.env);
    io.stdout.write(withReplayNote(renderHandles(report, c, top ?? HANDLES_TOP), values, snapshot));
    const unnamed = report.sockets['other'] ?? 0;
    // Only the addon can ask sockfs (getxattr) about a socket that no /proc/net table lists.
    if (values.from === undefined && unnamed > 0 && !nativeAddon()?.socketProtocol) {
      io.stdout.write(
        `${c.dim(`${number(unnamed)} sockets stay "other": no /proc/net table lists them, and naming them needs the native addon (see README).`)}\n`,
      );
    }
  }
  return 0;
}

/** " in container docker c0ffeec0ffee" when the list was narrowed to one container; names escaped. */
function inContainer(report: HandleReport): string {
  if (!report.container) return '';
  const runtime = report.container.runtime ? `${report.container.runtime} ` : '';
  return ` in container ${runtime}${escapeName(Buffer.from(shortContainerId(report.container.id)))}`;
}

const number = (n: number | null): string => (n === null ? '?' : n.toLocaleString('en-US'));

/** The ledger first (it answers the question), then types, the top processes and warnings. */
export function renderHandles(report: HandleReport, c: Palette, top: number): string {
  const { ledger } = report;
  const lines: string[] = [];
  const share =
    ledger.allocated !== null && ledger.max ? `, ${((ledger.allocated / ledger.max) * 100).toFixed(1)}%` : '';
  lines.push(
    c.bold(
      `File handles: ${number(ledger.allocated)} allocated of ${number(ledger.max)} (fs.file-max${share})`,
    ) + `; fs.nr_open ${number(ledger.nrOpen)}`,
    '',
  );
  const explained =
    ledger.openFiles +
    ledger.unreadableDescriptors +
    ledger.mappings +
    ledger.shmSegments +
    ledger.shmAttachments;
  // The BPF scanner reads each fd's struct file in the kernel; the /proc scanner asks kcmp.
  const exactBy = report.incomplete.scanner?.name === 'bpf' ? 'by struct file' : 'by kcmp';
  const row = (label: string, value: number | null, note: string) =>
    `  ${label.padEnd(20)} ${number(value).padStart(11)}   ${c.dim(note)}`;
  lines.push(
    row(
      'descriptors',
      ledger.descriptors,
      'fd entries in every fd table: what lsof counts, not what file-nr counts',
    ),
    row(
      'open files',
      ledger.openFiles,
      `distinct open file descriptions (${ledger.openFilesExact ? `exact, ${exactBy}` : 'estimate'})`,
    ),
    ...(ledger.unreadableDescriptors > 0
      ? [
          row(
            '+ unreadable fds',
            ledger.unreadableDescriptors,
            'fds of processes whose links were refused: at most one file each, unknown which',
          ),
        ]
      : []),
    row(
      '+ mappings',
      ledger.mappings,
      `held only by memory mappings whose fd was closed (${ledger.mappingsExact ? 'exact' : 'estimate'})`,
    ),
    row('+ SysV shm segments', ledger.shmSegments, 'one per segment'),
    row('+ SysV shm attaches', ledger.shmAttachments, 'one per shmat'),
    row('= explained', explained, ''),
    row(
      'unexplained',
      ledger.unexplained,
      `kernel-internal files, fds in flight over unix sockets (${number(ledger.fdsInFlight)})` +
        (report.incomplete.unreadableProcesses > 0 ? ', mappings of processes limbo could not read' : ''),
    ),
    '',
    `By type: ${renderTypes(report)}`,
    '',
    c.bold(`Top ${Math.min(top, report.processes.length)} processes by descriptors${inContainer(report)}:`),
    c.dim(
      `${'PID'.padStart(8)}  ${'COMMAND'.padEnd(16)} ${'USER'.padEnd(10)} ${'FDS'.padStart(8)} ${'OPEN'.padStart(8)} ` +
        `${'MAPS'.padStart(6)} ${'SHM'.padStart(5)} ${'LIMIT'.padStart(8)} ${'USED'.padStart(6)}`,
    ),
    ...report.processes.slice(0, top).map((p) => renderProcess(p, c)),
  );
  if (report.warnings.length > 0) {
    lines.push('', c.bold('Warnings:'));
    for (const warning of report.warnings) {
      const { message, fix } = describeHandleWarning(warning);
      lines.push(c.yellow(`  ! ${message}`), `    fix: ${fix}`);
    }
  } else {
    lines.push('', c.green('No process is near its fd limit, and the system is far from fs.file-max.'));
  }
  const partial = describeIncomplete(report.incomplete);
  if (partial.length > 0) lines.push('', ...partial.map((line, i) => (i === 0 ? c.yellow(line) : line)));
  return `${lines.join('\n')}\n`;
}

function renderTypes(report: HandleReport): string {
  const detail: Record<string, Readonly<Record<string, number>>> = {
    socket: report.sockets,
    anon_inode: report.anonInodes,
  };
  return Object.entries(report.byType)
    .sort((a, b) => b[1] - a[1])
    .map(([type, count]) => {
      const parts = Object.entries(detail[type] ?? {})
        .sort((a, b) => b[1] - a[1])
        .map(([kind, n]) => `${escapeName(Buffer.from(kind))} ${number(n)}`);
      return `${type} ${number(count)}${parts.length > 0 ? ` (${parts.join(', ')})` : ''}`;
    })
    .join(' · ');
}

function renderProcess(p: ProcessHandleUse, c: Palette): string {
  const used = p.limitUsedPercent === null ? '' : `${p.limitUsedPercent.toFixed(0)}%`;
  const line =
    `${String(p.pid).padStart(8)}  ${escapeName(p.comm).slice(0, 16).padEnd(16)} ${p.user.slice(0, 10).padEnd(10)} ` +
    `${number(p.fds).padStart(8)} ${number(p.openFiles).padStart(8)} ${number(p.mappings).padStart(6)} ` +
    `${number(p.shmAttachments).padStart(5)} ${(p.limit?.soft === null ? 'unlim' : number(p.limit?.soft ?? null)).padStart(8)} ${used.padStart(6)}` +
    (p.container === null ? '' : `  [container ${escapeName(Buffer.from(shortContainerId(p.container)))}]`);
  return p.limitUsedPercent !== null && p.limitUsedPercent >= 80 ? c.red(line) : line;
}
