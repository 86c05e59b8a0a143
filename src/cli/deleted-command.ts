import { statSync } from 'node:fs';
import {
  DELETED_KINDS,
  DELETED_SORTS,
  findDeletedFiles,
  type DeletedFile,
  type DeletedFilter,
  type DeletedHolder,
  type DeletedKind,
  type DeletedReport,
  type DeletedSort,
} from '../analyses/deleted.js';
import { deletedReportToJson } from '../analyses/deleted-json.js';
import { paletteFor, type Palette } from '../format/color.js';
import { escapeName } from '../format/escape.js';
import { formatBytes, parseSize } from '../format/size.js';
import { LimboError } from '../core/errors.js';
import { formatDev } from '../proc/file-stat.js';
import type { Io } from './io.js';
import { loadSnapshot } from './load-snapshot.js';
import type { CommandSpec, ParsedOptions } from './options.js';

const DEFAULT_TABLE_LIMIT = 20;
const MAX_HOLDERS_SHOWN = 8;
const MAX_FDS_SHOWN = 6;

export const deletedSpec: CommandSpec = {
  name: 'deleted',
  summary: 'List deleted files still held open or mapped: the space df counts and du cannot see.',
  usage:
    'limbo deleted [--pid N] [--user NAME] [--mount PATH] [--min-size SIZE] [--kind K] [--sort KEY] [--limit N | --all] [--json]',
  options: [
    {
      name: 'pid',
      type: 'string',
      value: 'N',
      help: 'only files process N holds (every holder is still shown)',
    },
    {
      name: 'user',
      type: 'string',
      value: 'NAME',
      help: 'only files held by a process of this user (name or uid)',
    },
    { name: 'mount', type: 'string', value: 'PATH', help: 'only files on the filesystem that holds PATH' },
    {
      name: 'min-size',
      type: 'string',
      value: 'SIZE',
      help: 'only files holding at least SIZE allocated (10M, 1G)',
    },
    { name: 'kind', type: 'string', value: 'K', help: `only this kind: ${DELETED_KINDS.join(', ')}` },
    {
      name: 'sort',
      type: 'string',
      value: 'KEY',
      help: `order by ${DELETED_SORTS.join(', ')} (default allocated)`,
    },
    {
      name: 'limit',
      type: 'string',
      value: 'N',
      help: `show at most N files (default ${DEFAULT_TABLE_LIMIT} in the table, all in --json); totals count all`,
    },
    { name: 'all', type: 'boolean', help: 'show every file in the table' },
  ],
};

/** `limbo deleted`: scan (or load) a snapshot, filter, print a table or JSON. */
export function runDeleted(values: ParsedOptions, io: Io): number {
  const filter = parseDeletedFilter('deleted', values);
  const limit = parseLimit(values);
  const snapshot = loadSnapshot(values);
  if (values['json']) {
    // In JSON the limit is a filter, so totals stay the sum of the files listed.
    const report = findDeletedFiles(snapshot, limit === null ? filter : { ...filter, limit });
    io.stdout.write(`${JSON.stringify(deletedReportToJson(report), null, 2)}\n`);
  } else {
    const report = findDeletedFiles(snapshot, filter);
    io.stdout.write(renderDeletedTable(report, paletteFor(io.stdout, io.env), limit ?? DEFAULT_TABLE_LIMIT));
  }
  return 0;
}

/** The filters of `limbo deleted` (shared by the commands that act on deleted files); bad values are usage errors. */
export function parseDeletedFilter(command: string, values: ParsedOptions): DeletedFilter {
  const usage = (message: string) => new LimboError('usage', `limbo ${command}: ${message}`);
  const filter: { -readonly [K in keyof DeletedFilter]: DeletedFilter[K] } = {};
  const pid = values['pid'];
  if (typeof pid === 'string') {
    if (!/^\d+$/.test(pid)) throw usage(`--pid takes a process id, not '${pid}'`);
    filter.pid = Number(pid);
  }
  if (typeof values['user'] === 'string') filter.user = values['user'];
  const mount = values['mount'];
  if (typeof mount === 'string') {
    try {
      filter.dev = formatDev(statSync(mount, { bigint: true }).dev);
    } catch (error) {
      throw usage(`--mount: cannot stat '${mount}': ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
    }
  }
  const minSize = values['min-size'];
  if (typeof minSize === 'string') {
    const bytes = parseSize(minSize);
    if (bytes === null) throw usage(`--min-size takes a size such as 10M or 1G, not '${minSize}'`);
    filter.minAllocatedBytes = bytes;
  }
  const kind = values['kind'];
  if (typeof kind === 'string') {
    if (!DELETED_KINDS.includes(kind as DeletedKind))
      throw usage(`--kind takes one of ${DELETED_KINDS.join(', ')}`);
    filter.kind = kind as DeletedKind;
  }
  const sort = values['sort'];
  if (typeof sort === 'string') {
    if (!DELETED_SORTS.includes(sort as DeletedSort))
      throw usage(`--sort takes one of ${DELETED_SORTS.join(', ')}`);
    filter.sort = sort as DeletedSort;
  }
  return filter;
}

/** --all: no limit; --limit N: N; neither: null (the caller's default). */
function parseLimit(values: ParsedOptions): number | null {
  if (values['all']) return Infinity;
  const limit = values['limit'];
  if (typeof limit !== 'string') return null;
  if (!/^\d+$/.test(limit) || Number(limit) === 0)
    throw new LimboError('usage', `limbo deleted: --limit takes a positive number, not '${limit}'`);
  return Number(limit);
}

/** The table a person reads: biggest first, holders under each file, totals, then what to do. */
export function renderDeletedTable(report: DeletedReport, c: Palette, limit = Infinity): string {
  const lines: string[] = [];
  const { totals } = report;
  if (report.files.length === 0) {
    lines.push(c.green('No deleted files are held open.'));
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
      lines.push(
        c.dim(
          `  ... ${hidden.length} smaller ${plural(hidden.length, 'file')} (${formatBytes(bytes)}) not shown: --all shows every file`,
        ),
      );
    }
    lines.push('', c.bold('By filesystem:'));
    for (const m of totals.byMount) {
      const where =
        m.mount === null ? (m.fstype === null ? '(unmounted)' : '(memfd)') : escapeName(Buffer.from(m.mount));
      lines.push(
        `  ${where.padEnd(24)} ${(m.fstype ?? '?').padEnd(8)} ${m.ramBacked ? 'RAM ' : 'disk'}  ` +
          `${String(m.files).padStart(5)} ${plural(m.files, 'file').padEnd(5)}  ${formatBytes(m.allocatedBytes).padStart(10)}`,
      );
    }
    lines.push('', ...nextSteps(report));
  }
  const { unreadableProcesses, unverifiedMappings } = report.incomplete;
  if (unreadableProcesses > 0) {
    const count = `${unreadableProcesses} ${plural(unreadableProcesses, 'process', 'processes')}`;
    const hint =
      report.incomplete.scannerUid === 0
        ? 'denied even to root (another user namespace, or a security module)'
        : 'run as root to see all';
    lines.push(c.yellow(`Partial view: ${count} could not be read: ${hint}.`));
  }
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

/** `pid comm fds 3,4,5 +2 maps (user) [unit]`, the form the issue asks for. */
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
