// What a scan could not see, in words: one "Partial view" line and the processes it names. Every
// command says it the same way, and never claims what it could not see.
import { escapeName } from '../format/escape.js';
import type { UnreadablePart } from '../snapshot/types.js';
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
  if (incomplete.vanishedProcesses > 0) {
    const n = incomplete.vanishedProcesses;
    lines.push(
      `${n} ${n === 1 ? 'process' : 'processes'} exited during the scan and ${n === 1 ? 'is' : 'are'} left out.`,
    );
  }
  return lines;
}
