import { describeIncomplete } from '../analyses/incomplete-words.js';
import {
  findSharedMemory,
  type PosixShmSummary,
  type SharedSegment,
  type ShmPidRef,
  type ShmReport,
} from '../analyses/shm.js';
import { shmReportToJson } from '../analyses/shm-json.js';
import { paletteFor, type Palette } from '../format/color.js';
import { escapeName } from '../format/escape.js';
import { formatBytes } from '../format/size.js';
import { readPasswd } from '../proc/passwd.js';
import type { Io } from './io.js';
import { loadSnapshot, withReplayNote, withSource } from './load-snapshot.js';
import type { ValuesOf } from './options.js';
import type { shmSpec } from './specs/shm.js';

const MAX_ATTACHERS_SHOWN = 6;
const MAX_IPCRM_IDS = 10;

/** `limbo shm`: every segment, who attaches it, what the orphans hold, and POSIX shm beside it. */
export function runShm(values: ValuesOf<typeof shmSpec>, io: Io): number {
  const { status } = values;
  const snapshot = loadSnapshot(values);
  // A saved snapshot may come from another machine, whose users this /etc/passwd does not know:
  // there, owners are named only from the snapshot's own processes, else shown as uids.
  const users = values.from !== undefined ? undefined : readPasswd();
  const report = findSharedMemory(snapshot, { ...(users ? { users } : {}), ...(status ? { status } : {}) });
  if (values.json)
    io.stdout.write(`${JSON.stringify(withSource(shmReportToJson(report), values, snapshot), null, 2)}\n`);
  else
    io.stdout.write(withReplayNote(renderShmTable(report, paletteFor(io.stdout, io.env)), values, snapshot));
  return 0;
}

/** Orphans first (RAM nobody shows), then removed-but-attached, then the rest; POSIX shm; what to do. */
export function renderShmTable(report: ShmReport, c: Palette): string {
  const lines: string[] = [];
  const { totals } = report;
  if (!report.sysvReadable) {
    lines.push(c.yellow('/proc/sysvipc/shm could not be read: SysV segments are unknown.'));
  } else if (report.segments.length === 0) {
    lines.push(c.green('No SysV shared memory segments.'));
  } else {
    lines.push(
      c.bold(
        `${totals.segments} SysV shared memory ${plural(totals.segments, 'segment')}: ` +
          `${formatBytes(totals.rssBytes)} resident, ${formatBytes(totals.swapBytes)} swapped`,
      ),
    );
    const orphans = totals.byStatus.orphaned;
    if (orphans.segments > 0) {
      lines.push(
        c.red(
          `  ${orphans.segments} orphaned: ${formatBytes(orphans.rssBytes)} resident, ${formatBytes(orphans.swapBytes)} swapped, ` +
            'held by no process until ipcrm or reboot',
        ),
      );
    }
    const removed = totals.byStatus['removed-attached'];
    if (removed.segments > 0) {
      lines.push(
        c.yellow(
          `  ${removed.segments} removed but still attached: ${formatBytes(removed.rssBytes)} resident, ` +
            'freed when the last attacher detaches or exits',
        ),
      );
    }
    lines.push(
      '',
      c.dim(
        `${'SHMID'.padStart(10)}  ${'KEY'.padEnd(10)}  ${'STATUS'.padEnd(16)}  ${'SIZE'.padStart(10)}  ` +
          `${'RSS'.padStart(10)}  ${'SWAP'.padStart(10)}  ${'NATTCH'.padStart(6)}  OWNER`,
      ),
    );
    for (const segment of report.segments) lines.push(...renderSegment(segment, c));
  }
  if (report.unmatched.length > 0) {
    lines.push(
      '',
      c.dim('Attached segments of another IPC namespace (a container’s: run limbo inside it to see them):'),
    );
    for (const u of report.unmatched.slice(0, MAX_ATTACHERS_SHOWN)) {
      lines.push(`  ${u.pid} ${escapeName(u.comm)}: shmid ${u.shmid} key ${u.keyHex} ×${u.count}`);
    }
    if (report.unmatched.length > MAX_ATTACHERS_SHOWN) {
      lines.push(c.dim(`  ... and ${report.unmatched.length - MAX_ATTACHERS_SHOWN} more (see --json)`));
    }
  }
  lines.push('', ...renderPosix(report.posix, c));
  const next = nextSteps(report, c);
  if (next.length > 0) lines.push('', ...next);
  const unseen = report.segments.reduce((sum, s) => sum + s.unseenAttaches, 0);
  const partial = describeIncomplete(report.incomplete);
  if (unseen > 0)
    partial.push(
      `${unseen} ${plural(unseen, 'attach', 'attaches')} not found in any readable maps` +
        (report.incomplete.scannerUid === 0 ? '.' : ': run as root to see all.'),
    );
  if (partial.length > 0) lines.push('', ...partial.map((line, i) => (i === 0 ? c.yellow(line) : line)));
  return `${lines.join('\n')}\n`;
}

function renderSegment(s: SharedSegment, c: Palette): string[] {
  const colour =
    s.status === 'orphaned' ? c.red : s.status === 'removed-attached' ? c.yellow : (t: string) => t;
  const head =
    `${String(s.shmid).padStart(10)}  ${s.keyHex.padEnd(10)}  ${colour(s.status.padEnd(16))}  ` +
    `${formatBytes(s.sizeBytes).padStart(10)}  ${formatBytes(s.rssBytes).padStart(10)}  ` +
    `${formatBytes(s.swapBytes).padStart(10)}  ${String(s.nattch).padStart(6)}  ${escapeName(Buffer.from(s.owner))}`;
  const indent = ' '.repeat(12);
  const details: string[] = [];
  if (s.status === 'removed-attached' && s.originalKeyHex && s.originalKeyHex !== s.keyHex) {
    details.push(`was key ${s.originalKeyHex}`);
  }
  details.push(`created by ${formatPid(s.creator)}, ctime ${formatTime(s.changeTime)}`);
  if (s.status === 'orphaned') {
    details.push(
      s.detachTime === null
        ? 'never attached'
        : `last detached ${formatTime(s.detachTime)} by ${formatPid(s.lastUser)}`,
    );
  }
  const lines = [head, c.dim(`${indent}${details.join('; ')}`)];
  if (s.attachments.length > 0) {
    const shown = s.attachments
      .slice(0, MAX_ATTACHERS_SHOWN)
      .map((a) => `${a.pid} ${escapeName(a.comm)}${a.count > 1 ? ` ×${a.count}` : ''}`);
    const more = s.attachments.length - MAX_ATTACHERS_SHOWN;
    lines.push(`${indent}attached by ${shown.join(', ')}${more > 0 ? `, ... and ${more} more` : ''}`);
  }
  if (s.unseenAttaches > 0) {
    lines.push(
      c.yellow(
        `${indent}${s.unseenAttaches} ${plural(s.unseenAttaches, 'attach', 'attaches')} in processes limbo could not read`,
      ),
    );
  }
  return lines;
}

function renderPosix(posix: PosixShmSummary, c: Palette): string[] {
  const where = posix.mount ? escapeName(Buffer.from(posix.mount.mountPoint)) : '/dev/shm';
  if (!posix.readable && posix.deleted.length === 0) {
    return [c.yellow(`POSIX shared memory: ${where} could not be listed.`)];
  }
  const lines = [
    c.bold(
      `POSIX shared memory in ${where}: ${posix.files} ${plural(posix.files, 'file')}, ` +
        `${formatBytes(posix.allocatedBytes)} allocated (size ${formatBytes(posix.sizeBytes)})`,
    ),
  ];
  for (const file of posix.biggest) {
    lines.push(
      `${formatBytes(file.allocatedBytes).padStart(10)}  ${escapeName(file.name)} ${c.dim(`(${escapeName(Buffer.from(file.owner))})`)}`,
    );
  }
  if (posix.files > posix.biggest.length) {
    lines.push(c.dim(`            ... and ${posix.files - posix.biggest.length} smaller (see --json)`));
  }
  if (posix.deleted.length > 0) {
    lines.push(
      c.yellow(
        `  deleted but still open: ${posix.deleted.length} ${plural(posix.deleted.length, 'file')}, ` +
          `${formatBytes(posix.deletedAllocatedBytes)} allocated`,
      ),
    );
    for (const file of posix.deleted.slice(0, MAX_ATTACHERS_SHOWN)) {
      const name = file.name === null ? '(name longer than PATH_MAX)' : escapeName(file.name);
      const holders = file.holders
        .slice(0, MAX_ATTACHERS_SHOWN)
        .map((h) => `${h.pid} ${escapeName(h.comm)}`)
        .join(', ');
      lines.push(`${formatBytes(file.allocatedBytes).padStart(10)}  ${name} ${c.dim(`held by ${holders}`)}`);
    }
  }
  return lines;
}

function nextSteps(report: ShmReport, c: Palette): string[] {
  const orphans = report.segments.filter((s) => s.status === 'orphaned');
  const removed = report.segments.filter((s) => s.status === 'removed-attached');
  const lines: string[] = [];
  if (orphans.length > 0) {
    const ids = orphans.slice(0, MAX_IPCRM_IDS).map((s) => `-m ${s.shmid}`);
    lines.push(
      'Next: an orphaned segment holds its RAM until it is removed. First check that nothing will attach',
      'it again (a service may find its segment by key after a restart: ask its owner), then:',
      `  ${c.cyan(`ipcrm ${ids.join(' ')}`)}`,
    );
    if (orphans.length > MAX_IPCRM_IDS) {
      lines.push(c.dim(`  (${orphans.length - MAX_IPCRM_IDS} more: limbo shm --status orphaned --json)`));
    }
  }
  if (removed.length > 0) {
    const holders = new Map<number, string>();
    for (const s of removed)
      for (const a of s.attachments) holders.set(a.pid, `${a.pid} ${escapeName(a.comm)}`);
    const listed = [...holders.values()].slice(0, MAX_ATTACHERS_SHOWN).join(', ');
    lines.push(
      `${lines.length === 0 ? 'Next: a' : 'A'} removed segment is freed when its last attacher detaches or exits` +
        (listed ? `: ${listed}.` : '.'),
    );
  }
  if (report.posix.deleted.length > 0) {
    lines.push(
      `${lines.length === 0 ? 'Next: d' : 'D'}eleted /dev/shm files are freed when their holders close them: limbo deleted --mount /dev/shm.`,
    );
  }
  return lines;
}

function formatPid(ref: ShmPidRef | null): string {
  if (ref === null) return 'a pid outside this pid namespace';
  return ref.comm === null ? `${ref.pid} (gone)` : `${ref.pid} ${escapeName(ref.comm)}`;
}

/** ISO 8601 UTC to the second: the table and the JSON show one clock. */
function formatTime(seconds: number | null): string {
  return seconds === null ? 'never' : new Date(seconds * 1000).toISOString().replace('.000Z', 'Z');
}

function plural(n: number, one: string, many = `${one}s`): string {
  return n === 1 ? one : many;
}
