import { describeIncomplete } from '../analyses/incomplete-words.js';
import {
  findDeletedFiles,
  type DeletedFile,
  type DeletedHolder,
  type DeletedReport,
} from '../analyses/deleted.js';
import { deletedReportToJson } from '../analyses/deleted-json.js';
import { paletteFor, type Palette } from '../format/color.js';
import { escapeName } from '../format/escape.js';
import { formatBytes } from '../format/size.js';
import { LimboError } from '../core/errors.js';
import { checkFilterSubjects, toDeletedFilter } from './deleted-filter.js';
import type { Io } from './io.js';
import { loadSnapshot, withReplayNote } from './load-snapshot.js';
import type { ValuesOf } from './options.js';
import { DELETED_TABLE_LIMIT, type deletedSpec } from './specs/deleted.js';

const MAX_HOLDERS_SHOWN = 8;
const MAX_FDS_SHOWN = 6;

/** `limbo deleted`: scan (or load) a snapshot, filter, print a table or JSON. */
export function runDeleted(values: ValuesOf<typeof deletedSpec>, io: Io): number {
  if (values.all && values.limit !== undefined) {
    throw new LimboError('usage', 'limbo deleted: --all and --limit contradict each other: give one');
  }
  const filter = toDeletedFilter('deleted', values);
  // --all: no limit; --limit N: N; neither: the table's default, and all of them in JSON.
  const limit = values.all ? Infinity : values.limit;
  const snapshot = loadSnapshot(values);
  checkFilterSubjects('deleted', filter, snapshot, values.from === undefined);
  if (values.json) {
    // In JSON the limit is a filter, so totals stay the sum of the files listed.
    const report = findDeletedFiles(snapshot, limit === undefined ? filter : { ...filter, limit });
    io.stdout.write(`${JSON.stringify(deletedReportToJson(report), null, 2)}\n`);
  } else {
    const report = findDeletedFiles(snapshot, filter);
    const unmatched =
      report.files.length === 0 ? noMatch(values, findDeletedFiles(snapshot).files.length) : null;
    io.stdout.write(
      withReplayNote(
        renderDeletedTable(report, paletteFor(io.stdout, io.env), limit ?? DELETED_TABLE_LIMIT, unmatched),
        values,
        snapshot,
      ),
    );
  }
  return 0;
}

/**
 * What to say when the filters leave nothing though others are held: "No deleted file matches
 * --kind tmpfile; 26 others are held." Null when nothing is held at all, or no filter was given.
 */
function noMatch(values: ValuesOf<typeof deletedSpec>, others: number): string | null {
  const given = [
    values.pid !== undefined ? `--pid ${values.pid}` : null,
    values.user !== undefined ? `--user ${escapeName(Buffer.from(values.user))}` : null,
    values.mount !== undefined ? `--mount ${escapeName(Buffer.from(values.mount))}` : null,
    values.minSize !== undefined ? `--min-size ${formatBytes(values.minSize)}` : null,
    values.kind !== undefined ? `--kind ${values.kind}` : null,
  ].filter((flag) => flag !== null);
  if (given.length === 0 || others === 0) return null;
  return `No deleted file matches ${given.join(' ')}; ${others.toLocaleString('en-US')} ${others === 1 ? 'other is' : 'others are'} held.`;
}

/** The table a person reads: biggest first, holders under each file, totals, then what to do. */
export function renderDeletedTable(
  report: DeletedReport,
  c: Palette,
  limit = Infinity,
  unmatched: string | null = null,
): string {
  const lines: string[] = [];
  const { totals } = report;
  if (report.files.length === 0) {
    // With processes unread, one of them may hold a deleted file: never claim there is none.
    lines.push(
      unmatched !== null
        ? unmatched
        : report.incomplete.unreadableProcesses > 0
          ? c.yellow('No process limbo could read holds a deleted file open.')
          : c.green('No deleted files are held open.'),
    );
  } else {
    lines.push(
      c.bold(
        `${totals.files} deleted ${plural(totals.files, 'file')} still held: ${formatBytes(totals.allocatedBytes)} allocated` +
          ` (disk ${formatBytes(totals.diskAllocatedBytes)}, RAM ${formatBytes(totals.ramAllocatedBytes)})`,
      ),
      '',
      c.dim(
        `${'ALLOCATED'.padStart(10)}  ${'SIZE'.padStart(10)}  ${'KIND'.padEnd(7)}  ${'DEV:INODE'.padEnd(16)}  NAME`,
      ),
    );
    const shown = report.files.slice(0, limit);
    for (const file of shown) lines.push(...renderFile(file, report.hostMountNamespace, c));
    const hidden = report.files.slice(shown.length);
    if (hidden.length > 0) {
      const bytes = hidden.reduce((sum, file) => sum + file.allocatedBytes, 0);
      // "smaller" only when they are: under --sort path or holders the rest may be bigger.
      const least = Math.min(...shown.map((file) => file.allocatedBytes));
      const which = hidden.every((file) => file.allocatedBytes <= least) ? 'smaller' : 'more';
      lines.push(
        c.dim(
          `  ... ${hidden.length} ${which} ${plural(hidden.length, 'file')} (${formatBytes(bytes)}) not shown: --all shows every file`,
        ),
      );
    }
    lines.push('', c.bold('By filesystem:'));
    const wheres = totals.byMount.map((m) =>
      m.mount === null
        ? m.fstype === null
          ? '(unmounted)'
          : '(memfd)'
        : escapeName(m.mountBytes ?? Buffer.from(m.mount)),
    );
    // A long mount point widens the column for every row, so the columns stay aligned.
    const width = Math.max(24, ...wheres.map((where) => where.length));
    for (const [i, m] of totals.byMount.entries()) {
      const where = wheres[i] ?? '';
      lines.push(
        `  ${where.padEnd(width)} ${(m.fstype ?? '?').padEnd(8)} ${m.ramBacked ? 'RAM ' : 'disk'}  ` +
          `${String(m.files).padStart(5)} ${plural(m.files, 'file').padEnd(5)}  ${formatBytes(m.allocatedBytes).padStart(10)}`,
      );
    }
    lines.push('', ...nextSteps(report));
  }
  const { unverifiedMappings } = report.incomplete;
  const partial = describeIncomplete(report.incomplete);
  lines.push(...partial.map((line, i) => (i === 0 ? c.yellow(line) : line)));
  if (unverifiedMappings > 0) {
    lines.push(
      c.yellow(
        `${unverifiedMappings} memory-mapped ${plural(unverifiedMappings, 'file looks', 'files look')} deleted but could not be checked: ` +
          'map_files needs CAP_SYS_ADMIN; run as root to verify.',
      ),
    );
  }
  return `${lines.join('\n')}\n`;
}

function renderFile(file: DeletedFile, hostMountNamespace: string | null, c: Palette): string[] {
  const name = file.name === null ? c.yellow('(name longer than PATH_MAX)') : escapeName(file.name);
  const head =
    `${formatBytes(file.allocatedBytes).padStart(10)}  ${formatBytes(file.sizeBytes).padStart(10)}  ` +
    `${file.kind.padEnd(7)}  ${`${file.dev}:${file.ino}`.padEnd(16)}  ${name}`;
  const lines = [head];
  const shown = file.holders.slice(0, MAX_HOLDERS_SHOWN);
  for (const holder of shown) {
    lines.push(c.dim(`${' '.repeat(12)}held by `) + renderHolder(holder, hostMountNamespace));
  }
  if (file.holders.length > shown.length) {
    lines.push(
      c.dim(`${' '.repeat(12)}... and ${file.holders.length - shown.length} more holders (see --json)`),
    );
  }
  return lines;
}

/** One holder on one line: `pid comm fds 3,4,5 +2 maps (user) [unit]`. */
function renderHolder(holder: DeletedHolder, hostMountNamespace: string | null): string {
  const parts = [`${holder.pid} ${escapeName(holder.comm)}`];
  if (holder.fds.length > 0) {
    const listed = holder.fds.slice(0, MAX_FDS_SHOWN).join(',');
    const more = holder.fds.length > MAX_FDS_SHOWN ? `,… (${holder.fds.length} fds)` : '';
    parts.push(`${holder.fds.length === 1 ? 'fd' : 'fds'} ${listed}${more}`);
  }
  if (holder.mappings > 0)
    parts.push(`${holder.fds.length > 0 ? '+' : ''}${holder.mappings} ${plural(holder.mappings, 'map')}`);
  if (holder.tids.length > 0) parts.push(`(thread ${holder.tids.join(',')})`);
  parts.push(`(${holder.user})`);
  if (holder.unit) parts.push(`[${escapeName(Buffer.from(holder.unit))}]`);
  if (holder.container) parts.push(`[container ${holder.container.slice(0, 12)}]`);
  else if (holder.mountNamespace && hostMountNamespace && holder.mountNamespace !== hostMountNamespace) {
    parts.push(`[${holder.mountNamespace}]`);
  }
  return parts.join(' ');
}

function nextSteps(report: DeletedReport): string[] {
  const units = new Set<string>();
  const processes = new Map<number, string>();
  for (const file of report.files.slice(0, 5)) {
    for (const holder of file.holders) {
      if (holder.unit?.endsWith('.service')) units.add(holder.unit);
      else processes.set(holder.pid, `${holder.pid} ${escapeName(holder.comm)}`);
    }
  }
  const lines = ['Next: the space returns only when every holder closes the file. For the biggest:'];
  if (units.size > 0)
    lines.push(
      `  systemctl restart ${[...units]
        .slice(0, 5)
        .map((u) => escapeName(Buffer.from(u)))
        .join(' ')}`,
    );
  if (processes.size > 0) {
    const listed = [...processes.values()].slice(0, 6).join(', ');
    lines.push(`  restart these processes, or make them reopen their files (logs: often SIGHUP): ${listed}`);
  }
  lines.push('  limbo deleted --pid PID shows what one process holds; --json is for scripts.');
  return lines;
}

function plural(n: number, one: string, many = `${one}s`): string {
  return n === 1 ? one : many;
}
