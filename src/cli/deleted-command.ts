import { describeIncomplete } from '../analyses/incomplete-words.js';
import {
  findDeletedFiles,
  type DeletedFile,
  type DeletedHolder,
  type DeletedReport,
} from '../analyses/deleted.js';
import { deletedFileToJson, deletedReportToJson } from '../analyses/deleted-json.js';
import { familyIndex, findFileHolders, type ProcessFamily } from '../analyses/holders.js';
import { describeFamily, releaseSteps, type ReleaseStep } from '../analyses/programs.js';
import type { Snapshot } from '../snapshot/types.js';
import { paletteFor, type Palette } from '../format/color.js';
import { shortContainerId } from '../format/container.js';
import { escapeName } from '../format/escape.js';
import { formatBytes } from '../format/size.js';
import { LimboError } from '../core/errors.js';
import { EXTENT_WALK_MAX, EXTENT_WALK_MIN_BYTES, type SharingUnknown } from '../proc/extent-sharing.js';
import { checkFilterSubjects, toDeletedFilter } from './deleted-filter.js';
import type { Io } from './io.js';
import { writeJsonWithList } from './write-json.js';
import { loadSnapshot, withReplayNote, withSource } from './load-snapshot.js';
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
    const json = withSource(deletedReportToJson({ ...report, files: [] }), values, snapshot);
    writeJsonWithList(io.stdout, json, 'files', report.files, deletedFileToJson);
  } else {
    const report = findDeletedFiles(snapshot, filter);
    const unmatched =
      report.files.length === 0 ? noMatch(values, findDeletedFiles(snapshot).files.length) : null;
    io.stdout.write(
      withReplayNote(
        renderDeletedTable(
          report,
          paletteFor(io.stdout, io.env),
          limit ?? DELETED_TABLE_LIMIT,
          stepsForBiggest(snapshot, report),
          familyIndex(snapshot),
          unmatched,
        ),
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
    values.container !== undefined ? `--container ${escapeName(Buffer.from(values.container))}` : null,
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
  steps: readonly ReleaseStep[] = [],
  familyOf: ((pid: number) => ProcessFamily) | null = null,
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
          ` (disk ${formatBytes(totals.diskAllocatedBytes)}, RAM ${formatBytes(totals.ramAllocatedBytes)})` +
          reclaimableSuffix(totals),
      ),
      '',
    );
    const shown = report.files.slice(0, limit);
    const kindWidth = Math.max(7, ...shown.map((file) => file.kind.length));
    lines.push(
      c.dim(
        `${'ALLOCATED'.padStart(10)}  ${'SIZE'.padStart(10)}  ${'KIND'.padEnd(kindWidth)}  ${'DEV:INODE'.padEnd(16)}  NAME`,
      ),
    );
    for (const file of shown)
      lines.push(...renderFile(file, report.hostMountNamespace, c, familyOf, kindWidth));
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
          : m.fstype === 'mqueue'
            ? '(mqueue)'
            : '(memfd)'
        : escapeName(m.mountBytes ?? Buffer.from(m.mount)),
    );
    // A long mount point widens the column for every row, so the columns stay aligned.
    const width = Math.max(24, ...wheres.map((where) => where.length));
    for (const [i, m] of totals.byMount.entries()) {
      const where = wheres[i] ?? '';
      lines.push(
        `  ${where.padEnd(width)} ${(m.fstype ?? '?').padEnd(8)} ${m.ramBacked ? 'RAM ' : 'disk'}  ` +
          `${String(m.files).padStart(5)} ${plural(m.files, 'file').padEnd(5)}  ${formatBytes(m.allocatedBytes).padStart(10)}` +
          reclaimableSuffix(m),
      );
      const note = namespaceNote(m, report.hostMountNamespace);
      if (note !== '') lines.push(c.dim(`    ${note}`));
    }
    lines.push('', ...nextSteps(steps, c));
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

function renderFile(
  file: DeletedFile,
  hostMountNamespace: string | null,
  c: Palette,
  familyOf: ((pid: number) => ProcessFamily) | null,
  kindWidth = 7,
): string[] {
  const name = file.name === null ? c.yellow('(name longer than PATH_MAX)') : escapeName(file.name);
  const head =
    `${formatBytes(file.allocatedBytes).padStart(10)}  ${formatBytes(file.sizeBytes).padStart(10)}  ` +
    `${file.kind.padEnd(kindWidth)}  ${`${file.dev}:${file.ino}`.padEnd(16)}  ${name}`;
  const lines = [head];
  const sharing = sharingNote(file);
  if (sharing !== null) lines.push(c.yellow(`${' '.repeat(12)}${sharing}`));
  for (const note of kindNotes(file)) lines.push(c.dim(`${' '.repeat(12)}${note}`));
  const shown = file.holders.slice(0, MAX_HOLDERS_SHOWN);
  for (const holder of shown) {
    lines.push(c.dim(`${' '.repeat(12)}held by `) + renderHolder(holder, hostMountNamespace));
    const view = renderHolderView(file, holder);
    if (view !== null) lines.push(c.dim(`${' '.repeat(14)}${view}`));
  }
  if (file.holders.length > shown.length) {
    lines.push(
      c.dim(`${' '.repeat(12)}... and ${file.holders.length - shown.length} more holders (see --json)`),
    );
  }
  // Holders of one family (a master and its workers) are named together: all must let go.
  const families = new Map<number, { family: ProcessFamily; pids: number[] }>();
  for (const holder of familyOf ? file.holders : []) {
    const family = (familyOf as (pid: number) => ProcessFamily)(holder.pid);
    const entry = families.get(family.topPid) ?? { family, pids: [] };
    entry.pids.push(holder.pid);
    families.set(family.topPid, entry);
  }
  for (const { family, pids } of families.values()) {
    if (pids.length > 1) lines.push(c.dim(`${' '.repeat(12)}one family: ${describeFamily(family, pids)}`));
  }
  return lines;
}

/** What a file's kind or view changes: where its blocks are, what name it has now, what frees it. */
function kindNotes(file: DeletedFile): string[] {
  const notes: string[] = [];
  if (file.overlay) {
    notes.push(
      `through overlay ${escapeName(file.overlay.mountBytes ?? Buffer.from(file.overlay.mount))}: its blocks are on ${escapeName(Buffer.from(file.mount ?? '?'))} (${file.fstype ?? '?'}, upperdir ${escapeName(Buffer.from(file.overlay.upperDir))})`,
    );
  }
  const silly = file.sillyRename;
  if (silly) {
    const by = silly.by === 'fuse' ? 'the FUSE filesystem (libfuse)' : 'the NFS client';
    if (silly.deletedName) notes.push(`deleted as ${escapeName(silly.deletedName)}`);
    notes.push(
      `renamed by ${by} instead of removed: the hidden name stays until every holder closes it, then ${silly.by === 'fuse' ? 'FUSE' : 'NFS'} removes it`,
    );
    for (const backing of silly.backingHolders) {
      notes.push(
        `backing file kept by ${backing.pid} ${escapeName(backing.comm)} ${backing.fds.length === 1 ? 'fd' : 'fds'} ${backing.fds.join(',')}: ${escapeName(backing.name)} (the FUSE daemon; it lets go at the last close)`,
      );
    }
  }
  if (file.kind === 'mqueue') {
    notes.push(
      'a POSIX message queue removed with mq_unlink: its messages are kernel memory (no blocks); closing every holder frees it, there is nothing to truncate',
    );
  }
  return notes;
}

/** Why a file's shared blocks are unknown, in words. */
const UNKNOWN_WORDS: Record<SharingUnknown, string> = {
  capped: `it has more than ${EXTENT_WALK_MAX} extents, and limbo reads no more`,
  'self-shared': 'it shares blocks with itself (cloned ranges), which st_blocks counts twice',
  encoded: 'its extents are compressed, and FIEMAP does not tell their size on disk',
  small: `it is under ${formatBytes(EXTENT_WALK_MIN_BYTES)}, and limbo does not read its extents`,
  unreadable: 'its extents could not be read (FIEMAP needs the native addon)',
};

/**
 * A line under a file whose blocks are not all its own, on a filesystem that shares extents:
 * what closing it really frees. Null where closing frees everything it has allocated.
 */
function sharingNote(file: DeletedFile): string | null {
  const allocated = formatBytes(file.allocatedBytes);
  if (file.reclaimableBytes === null) {
    const reason = UNKNOWN_WORDS[file.reclaimableUnknownReason ?? 'unreadable'];
    return `closing frees at most ${allocated}: how much of it other files (reflinks, snapshots) share is unknown; ${reason}`;
  }
  if (file.reclaimableBytes === file.allocatedBytes) return null;
  const shared = formatBytes(file.allocatedBytes - file.reclaimableBytes);
  if (file.reclaimableBytes === 0) {
    return `${allocated} allocated, all shared with other files (reflinks, snapshots): closing frees nothing`;
  }
  return `${allocated} allocated, ${shared} of it shared with other files (reflinks, snapshots): closing frees ${formatBytes(file.reclaimableBytes)}`;
}

/** ", 16.0 MiB reclaimable" after a total whose files share blocks or are unknown; "" otherwise. */
function reclaimableSuffix(total: {
  readonly allocatedBytes: number;
  readonly reclaimableBytes: number;
  readonly reclaimableUnknownBytes: number;
}): string {
  if (total.reclaimableUnknownBytes > 0) {
    return `, closing frees ${formatBytes(total.reclaimableBytes)} to ${formatBytes(total.reclaimableBytes + total.reclaimableUnknownBytes)} (shared blocks unknown)`;
  }
  if (total.reclaimableBytes === total.allocatedBytes) return '';
  return `, closing frees ${formatBytes(total.reclaimableBytes)} (the rest is shared with other files)`;
}

/** `in mnt:[…] only; on the host: /proc/PID/root/…` for a mount private to another mount namespace. */
function namespaceNote(
  m: {
    readonly mountNamespace: string | null;
    readonly mountPath: Buffer | null;
    readonly mount: string | null;
  },
  hostMountNamespace: string | null,
): string {
  if (m.mountNamespace === null || m.mountNamespace === hostMountNamespace) return '';
  const path = m.mountPath === null ? '' : `; from the host: ${escapeName(m.mountPath)}`;
  return `mounted in ${m.mountNamespace}${path}`;
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
  if (holder.container) {
    const runtime = holder.containerRuntime ? `${holder.containerRuntime} ` : '';
    const pod = holder.podUid ? ` pod ${holder.podUid}` : '';
    parts.push(`[container ${runtime}${escapeName(Buffer.from(shortContainerId(holder.container)))}${pod}]`);
  }
  if (holder.mountNamespace && hostMountNamespace && holder.mountNamespace !== hostMountNamespace) {
    parts.push(`[${holder.mountNamespace}]`);
  }
  return parts.join(' ');
}

/**
 * How a holder in a chroot or a container sees the file: its own path, its root and its pid
 * there, when any differs from the host's view. Null for a holder that sees what limbo sees.
 */
function renderHolderView(file: DeletedFile, holder: DeletedHolder): string | null {
  const ownPath =
    holder.pathInRoot !== null && file.name !== null && !holder.pathInRoot.equals(file.name)
      ? holder.pathInRoot
      : null;
  const rooted = holder.root !== null && holder.root !== '/';
  const ownPid = holder.nsPid !== null && holder.nsPid !== holder.pid ? holder.nsPid : null;
  if (ownPath === null && !rooted && ownPid === null) return null;
  const parts: string[] = [];
  if (rooted) parts.push(`root ${escapeName(Buffer.from(holder.root as string))}`);
  if (ownPid !== null) parts.push(`pid ${ownPid} in its pid namespace`);
  const path = holder.pathInRoot === null ? '' : `sees it as ${escapeName(holder.pathInRoot)}`;
  return [path, parts.length > 0 ? `(${parts.join(', ')})` : ''].filter((x) => x !== '').join(' ');
}

/**
 * What makes the holders of the biggest files let go: one step per process family, deduplicated.
 * A file that holds no blocks frees nothing when let go: no step is spent on it.
 */
function stepsForBiggest(snapshot: Snapshot, report: DeletedReport): ReleaseStep[] {
  const seen = new Set<string>();
  const steps: ReleaseStep[] = [];
  for (const file of report.files.filter((f) => f.allocatedBytes > 0).slice(0, 5)) {
    for (const step of releaseSteps(findFileHolders(snapshot, file.key), { name: file.name })) {
      const key = `${step.text}\0${step.command ?? ''}`;
      // A restart already named covers every later file of the same processes.
      const restarted = steps
        .filter((earlier) => earlier.kind === 'restart')
        .flatMap((earlier) => earlier.pids);
      if (seen.has(key) || (step.kind === 'restart' && step.pids.every((pid) => restarted.includes(pid))))
        continue;
      seen.add(key);
      steps.push(step);
    }
  }
  return steps;
}

function nextSteps(steps: readonly ReleaseStep[], c: Palette): string[] {
  if (steps.length === 0) return ['Nothing to free: these files hold no blocks.'];
  const lines = ['Next: the space returns only when every holder lets go of the file. For the biggest:'];
  for (const step of steps.slice(0, 8)) {
    lines.push(
      `  ${step.text}${step.command ? `: ${c.cyan(step.command)}` : ''}${step.loses ? ` (${step.loses})` : ''}`,
    );
  }
  lines.push(
    '  limbo reclaim --dry-run DEV:INODE shows whether truncating is safe instead; limbo deleted --pid PID shows what one process holds; --json is for scripts.',
  );
  return lines;
}

function plural(n: number, one: string, many = `${one}s`): string {
  return n === 1 ? one : many;
}
