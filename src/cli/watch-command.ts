import { formatBytes } from '../format/size.js';
import { escapeName } from '../format/escape.js';
import { paletteFor, type Palette } from '../format/color.js';
import type { ScanResult } from '../serve/scan.js';
import { LeakWatch, type LeakView } from '../serve/leak-watch.js';
import { SharedScanner } from '../serve/shared-scanner.js';
import { mountTimeoutMsOf } from './load-snapshot.js';
import type { Io } from './io.js';
import type { ValuesOf } from './options.js';
import type { watchSpec } from './specs/watch.js';

const SPARKS = '▁▂▃▄▅▆▇█';
const HISTORY = 60;

/** A sparkline of the last values: the shape of a trend in one line. */
export function sparkline(values: readonly number[]): string {
  if (values.length === 0) return '';
  const min = Math.min(...values);
  const max = Math.max(...values);
  return values
    .map((v) => SPARKS[max === min ? 0 : Math.round(((v - min) / (max - min)) * (SPARKS.length - 1))])
    .join('');
}

interface Trends {
  held: number[];
  handles: number[];
  fds: Map<string, number[]>;
}

/** One screen: status, findings, trends, leak suspects. */
export function renderWatch(
  scan: ScanResult,
  trends: Trends,
  leaks: readonly LeakView[],
  c: Palette,
): string {
  const { report, handles } = scan;
  const lines: string[] = [];
  const status = report.status.toUpperCase();
  const colour = report.status === 'ok' ? c.green : report.status === 'warning' ? c.yellow : c.red;
  lines.push(
    `${c.bold('limbo watch')}  ${colour(status)}  ${c.dim(new Date(scan.takenAt).toLocaleTimeString())}  ${c.dim(`scan ${scan.durationSeconds.toFixed(2)} s`)}`,
    '',
  );
  lines.push(
    `held by deleted files  ${formatBytes(report.heldByDeleted).padStart(10)}  ${sparkline(trends.held)}`,
  );
  lines.push(
    `file handles           ${String(handles.fileNr.allocated ?? '?').padStart(10)}  ${sparkline(trends.handles)}  ${c.dim(`of ${handles.fileNr.max ?? '?'}`)}`,
  );
  lines.push('', c.bold('top processes by fds'));
  // limbo's own process (the view and its scan thread) is not what the reader is watching.
  for (const p of handles.processes.filter((p) => p.pid !== process.pid).slice(0, 8)) {
    const key = `${p.pid} ${p.comm}`;
    const limit = p.limit?.soft ? `${p.limitUsedPercent ?? 0}% of ${p.limit.soft}` : 'no limit';
    lines.push(
      `  ${String(p.pid).padStart(7)} ${escapeName(Buffer.from(p.comm)).slice(0, 16).padEnd(16)} ${String(p.fds ?? '?').padStart(7)}  ${sparkline(trends.fds.get(key) ?? [])}  ${c.dim(limit)}`,
    );
  }
  lines.push('', c.bold('findings'));
  if (report.findings.length === 0) lines.push(c.green('  nothing held, nothing leaking'));
  for (const f of report.findings.slice(0, 8))
    lines.push(
      `  ${f.severity === 'info' ? '·' : '!'} ${f.message}${f.command ? c.dim(`  → ${f.command}`) : ''}`,
    );
  const suspects = leaks.filter((l) => l.suspected);
  lines.push('', c.bold('leak suspects'));
  if (suspects.length === 0)
    lines.push(c.dim('  none: no steady rise in fds, deleted bytes, mappings or shm attaches'));
  for (const l of suspects) {
    const rate =
      l.resource === 'heldBytes' ? `${formatBytes(l.slopePerHour)}/h` : `+${Math.round(l.slopePerHour)}/h`;
    const eta = l.etaSeconds === null ? '' : `, limit in ${(l.etaSeconds / 3600).toFixed(1)} h`;
    lines.push(
      c.red(`  ${escapeName(Buffer.from(l.label))} ${l.resource} ${rate}${eta}`) + c.dim(`  → ${l.command}`),
    );
  }
  return `${lines.join('\n')}\n`;
}

/** `limbo watch`: refreshes in place like top; q or Ctrl-C quits. */
export async function runWatch(values: ValuesOf<typeof watchSpec>, io: Io): Promise<number> {
  const seconds = values.interval;
  const live = io.stdout.isTTY === true && !values.once && process.stdin.isTTY === true;
  const leakWatch = new LeakWatch();
  const trends: Trends = { held: [], handles: [], fds: new Map() };
  const scanner = new SharedScanner(
    seconds * 1000,
    values.proc,
    (scan) => {
      leakWatch.observe(scan);
      const push = (list: number[], v: number) => {
        list.push(v);
        if (list.length > HISTORY) list.shift();
      };
      push(trends.held, scan.report.heldByDeleted);
      push(trends.handles, scan.handles.fileNr.allocated ?? 0);
      for (const p of scan.handles.processes.slice(0, 20)) {
        const key = `${p.pid} ${p.comm}`;
        const list = trends.fds.get(key) ?? [];
        push(list, p.fds ?? 0);
        trends.fds.set(key, list);
      }
    },
    Infinity,
    0,
    values.scanner,
    mountTimeoutMsOf(values),
  );
  const leaks = (): LeakView[] => leakWatch.leaks(Date.now());
  const c = paletteFor(io.stdout, io.env);
  try {
    if (!live) {
      io.stdout.write(renderWatch(await scanner.get(), trends, leaks(), c));
      return 0;
    }
    const stdin = process.stdin;
    stdin.setRawMode(true);
    stdin.resume();
    let stop: () => void = () => undefined;
    const quit = new Promise<void>((resolve) => (stop = resolve));
    const onKey = (key: Buffer) => {
      if (key[0] === 0x71 || key[0] === 0x03) stop(); // q or Ctrl-C
    };
    stdin.on('data', onKey);
    io.stdout.write('\x1b[?25l');
    let running = true;
    void quit.then(() => (running = false));
    while (running) {
      const scan = await scanner.get();
      if (!running) break;
      io.stdout.write(`\x1b[H\x1b[2J${renderWatch(scan, trends, leaks(), c)}${c.dim('q quits')}`);
      await Promise.race([quit, new Promise((r) => setTimeout(r, seconds * 1000))]);
    }
    stdin.off('data', onKey);
    stdin.setRawMode(false);
    stdin.pause();
    io.stdout.write('\x1b[?25h\n');
    return 0;
  } finally {
    await scanner.close();
  }
}
