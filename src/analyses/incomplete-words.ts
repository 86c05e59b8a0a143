// What a scan could not see, in words: one "Partial view" line and the processes it names. Every
// command says it the same way, and never claims what it could not see.
import { escapeName } from '../format/escape.js';
import type { UnansweredMount, UnreadablePart } from '../snapshot/types.js';
import type { IncompleteView, UnreadableProcess } from './incomplete.js';

const REFUSED: Readonly<Record<UnreadablePart, string>> = {
  'fd-directory': 'fd directory refused',
  'fd-links': 'fd links refused',
  maps: 'maps refused',
};

/** How many processes to name on one line before "and N more". */
const NAMED = 5;

/** One unreadable process: `pid 1 (systemd, root): fd links refused, 252 fds unknown`. */
export function describeUnreadableProcess(p: UnreadableProcess): string {
  const why = p.why.map((part) => REFUSED[part]).join(', ') || 'could not be read';
  const fds = p.descriptors === null ? '' : `, ${p.descriptors.toLocaleString('en-US')} fds unknown`;
  return `pid ${p.pid} (${escapeName(p.comm)}, ${escapeName(Buffer.from(p.user))}): ${why}${fds}`;
}

/**
 * "could not read /mnt/x (fuse): no answer in 5 s; 2 descriptors on it not checked": a mount
 * limbo skipped rather than wait for.
 */
export function describeUnansweredMount(m: UnansweredMount): string {
  const { where, kind, seconds } = unansweredMountWords(m);
  const skipped =
    m.skipped > 0
      ? `; ${m.skipped.toLocaleString('en-US')} ${m.skipped === 1 ? 'descriptor or mapping' : 'descriptors and mappings'} on it not checked (deleted files there are not counted)`
      : '';
  return `could not read ${where} (${kind}): no answer in ${seconds} s, skipped${skipped}.`;
}

/**
 * The partial-view lines, empty when the scan saw everything: how many processes could not be
 * read, the first few by name and why, what would help; and how many exited mid-scan.
 */
export function describeIncomplete(incomplete: IncompleteView): string[] {
  const lines: string[] = [];
  const { unreadableProcesses: count, processes, scannerUid } = incomplete;
  if (count > 0) {
    const hint = scannerUid === 0 ? 'denied even to root' : 'run as root to see them';
    const named = processes.slice(0, NAMED).map(describeUnreadableProcess);
    const more = processes.length > NAMED ? [`and ${processes.length - NAMED} more`] : [];
    lines.push(
      `Partial view: ${count} ${count === 1 ? 'process' : 'processes'} could not be read (${hint}): ${count === 1 ? 'its' : 'their'} fds are counted, what they hold is not.`,
      ...[...named, ...more].map((line) => `  ${line}`),
    );
  }
  for (const m of incomplete.unansweredMounts) lines.push(describeUnansweredMount(m));
  if (incomplete.vanishedProcesses > 0) {
    const n = incomplete.vanishedProcesses;
    lines.push(
      `${n} ${n === 1 ? 'process' : 'processes'} exited during the scan and ${n === 1 ? 'is' : 'are'} left out.`,
    );
  }
  return lines;
}

/**
 * "could not read /mnt/x (fuse), where fd 3 of pid 1234 is: no answer in 5 s; not touched": an
 * action refused because its target is on a mount that does not answer.
 */
export function describeUnansweredTarget(what: string, m: UnansweredMount): string {
  const { where, kind, seconds } = unansweredMountWords(m);
  return `could not read ${where} (${kind}), where ${what} is: no answer in ${seconds} s (its daemon or server is stopped or unreachable); not touched`;
}

/** A silent mount's escaped mount point, its type (and namespace), and the wait in seconds. */
function unansweredMountWords(m: UnansweredMount): { where: string; kind: string; seconds: number } {
  const kind =
    m.mountNamespace === null
      ? m.fstype
      : `${m.fstype}, in ${m.mountNamespace}, asked at ${escapeName(Buffer.from(m.path))}`;
  return {
    where: escapeName(Buffer.from(m.mountPoint)),
    kind,
    seconds: Math.round(m.waitedMilliseconds / 100) / 10,
  };
}
