import { describeIncomplete } from '../analyses/incomplete-words.js';
import { findRestartNeeded, type RestartProcess, type RestartReport } from '../analyses/restart.js';
import { restartReportToJson } from '../analyses/restart-json.js';
import { paletteFor, type Palette } from '../format/color.js';
import { shortContainerId } from '../format/container.js';
import { escapeName } from '../format/escape.js';
import { describeFamily } from '../analyses/programs.js';
import { checkContainer } from './deleted-filter.js';
import type { Io } from './io.js';
import { loadSnapshot, withReplayNote, withSource } from './load-snapshot.js';
import type { ValuesOf } from './options.js';
import type { restartSpec } from './specs/restart.js';

/** `limbo restart`: the processes to restart and the command for each group. */
export function runRestart(values: ValuesOf<typeof restartSpec>, io: Io): number {
  const snapshot = loadSnapshot(values);
  if (values.container !== undefined) checkContainer('restart', values.container, snapshot);
  const report = findRestartNeeded(snapshot, {
    includeData: values.all,
    ...(values.container !== undefined ? { container: values.container } : {}),
  });
  if (values.json)
    io.stdout.write(
      `${JSON.stringify(withSource(restartReportToJson(report), values, snapshot), null, 2)}\n`,
    );
  else
    io.stdout.write(
      withReplayNote(renderRestartTable(report, paletteFor(io.stdout, io.env)), values, snapshot),
    );
  return values.check && report.processes.length > 0 ? 1 : 0;
}

/** Groups first (what to run), then each process and the files that make it stale. */
export function renderRestartTable(report: RestartReport, c: Palette): string {
  const lines: string[] = [];
  const count = report.processes.length;
  if (count === 0) {
    lines.push(c.green('Nothing needs a restart: every process runs the code that is on disk.'));
  } else {
    lines.push(
      c.bold(`${count} ${count === 1 ? 'process runs' : 'processes run'} deleted or replaced code.`),
      '',
    );
    const byPid = new Map(report.processes.map((p) => [p.pid, p]));
    let outsideShown = false;
    for (const group of report.groups) {
      if (group.family) {
        // Processes outside any service: one heading, then each family under its master.
        if (!outsideShown) {
          lines.push(`${c.bold('processes outside any service or container')}: restart each process`);
          outsideShown = true;
        }
        const family = group.family;
        const indent = family.pids.length > 1 ? '  ' : '';
        if (family.pids.length > 1) {
          lines.push(
            `  ${describeFamily(family, group.pids)}: restart it from its master, pid ${family.topPid}`,
          );
        }
        for (const pid of group.pids) {
          const process = byPid.get(pid);
          if (process) lines.push(...renderProcess(process, c).map((line) => `${indent}${line}`));
        }
        continue;
      }
      const title = group.unit
        ? escapeName(Buffer.from(group.unit))
        : `container ${escapeName(Buffer.from(shortContainerId(group.container ?? '')))}`;
      const action = group.command
        ? c.cyan(group.command)
        : group.why
          ? `no command: ${group.why}`
          : 'restart each process';
      lines.push(`${c.bold(title)}: ${action}`);
      for (const pid of group.pids) {
        const process = byPid.get(pid);
        if (process) lines.push(...renderProcess(process, c));
      }
      lines.push('');
    }
    if (outsideShown) lines.push('');
  }
  const partial = describeIncomplete(report.incomplete);
  lines.push(...partial.map((line, i) => (i === 0 ? c.yellow(line) : line)));
  return `${lines.join('\n')}\n`;
}

function renderProcess(process: RestartProcess, c: Palette): string[] {
  const head = `  ${process.pid} ${escapeName(process.comm)} (${process.user})`;
  return [
    head,
    ...process.reasons.map(
      (r) =>
        `      ${r.kind.padEnd(7)} ${escapeName(r.name)} ${c.dim(`(${r.how}, old inode ${r.dev}:${r.ino})`)}`,
    ),
  ];
}
