// The report's findings in words: one sentence each, and the exact command to run next. Kept
// apart from report.ts, which decides what is worth attention, so the judgement stays data.
import { escapeName, shellWord } from '../format/escape.js';
import { formatBytes } from '../format/size.js';
import type { Finding, Report, Severity } from './report.js';

/** A finding as a person reads it. */
export interface FindingWords {
  readonly message: string;
  /** The command to run next; null when there is none to give. */
  readonly command: string | null;
}

/** "" when closing frees all that is held; else what it frees, the rest being shared with other files. */
export function sharedWords(heldBytes: number, reclaimableBytes: number): string {
  if (reclaimableBytes >= heldBytes) return '';
  if (reclaimableBytes === 0)
    return ', all shared with other files (reflinks, snapshots): closing frees nothing';
  return `, closing frees ${formatBytes(reclaimableBytes)} (the rest is shared with other files)`;
}

/** The sentence and the next command for one finding; names are escaped, never raw bytes. */
export function describeFinding(finding: Finding): FindingWords {
  switch (finding.kind) {
    case 'deleted-held': {
      const where =
        escapeName(finding.mountBytes ?? Buffer.from(finding.mount)) +
        (finding.mountNamespace ? ` (in ${finding.mountNamespace})` : '');
      const top = finding.topHolder;
      const steps = finding.releaseSteps ?? [];
      const holders = steps.reduce((sum, step) => sum + step.pids.length, 0);
      const others = holders > 1 ? ` and ${holders - 1} more ${holders === 2 ? 'process' : 'processes'}` : '';
      // One step that frees it and loses nothing is the next command; otherwise the list that explains.
      const only =
        steps.length === 1 && steps[0]?.command && steps[0].loses === null ? steps[0].command : null;
      return {
        message:
          `${where}: ${formatBytes(finding.heldBytes)} held by ${finding.files} deleted ` +
          `${finding.files === 1 ? 'file' : 'files'}` +
          sharedWords(finding.heldBytes, finding.reclaimableBytes) +
          (top ? `, the biggest by ${escapeName(top.comm)} (pid ${top.pid})${others}` : ''),
        command:
          only ??
          (finding.mount === '(memfd)'
            ? 'limbo deleted --kind memfd'
            : // The host's name for the filesystem: a container's own mount point means another one here.
              finding.mountPath
              ? `limbo deleted --mount ${shellWord(finding.mountPath)}`
              : finding.mountNamespace === undefined
                ? `limbo deleted --mount ${shellWord(finding.mountBytes ?? Buffer.from(finding.mount))}`
                : top
                  ? `limbo deleted --pid ${top.pid}`
                  : 'limbo deleted'),
      };
    }
    case 'system-file-max':
      return {
        message: `file handles: ${finding.allocated} of ${finding.max} (${finding.percent.toFixed(0)}% of fs.file-max)`,
        command: 'limbo handles',
      };
    case 'process-fd-limit':
      return {
        message: `pid ${finding.pid} (${escapeName(finding.comm)}) has ${finding.fds} of ${finding.softLimit} fds open (${finding.percent.toFixed(0)}% of its limit)`,
        command: 'limbo handles',
      };
    case 'shm-orphaned':
      return {
        message: `${finding.segments} SysV shared memory ${finding.segments === 1 ? 'segment is' : 'segments are'} attached to no process and ${finding.segments === 1 ? 'holds' : 'hold'} ${formatBytes(finding.bytes)} of RAM until removed`,
        command: 'limbo shm',
      };
    case 'restart-needed':
      return {
        message: `${finding.processes} ${finding.processes === 1 ? 'process runs' : 'processes run'} deleted or replaced code (upgraded but not restarted)`,
        command: finding.groupCommand ?? 'limbo restart',
      };
    case 'mount-unanswered': {
      const where =
        escapeName(Buffer.from(finding.mount)) +
        (finding.mountNamespace ? ` (in ${finding.mountNamespace})` : '');
      const seconds = Math.round(finding.waitedMilliseconds / 100) / 10;
      const skipped =
        finding.skipped > 0
          ? `; ${finding.skipped} ${finding.skipped === 1 ? 'descriptor' : 'descriptors'} on it not checked`
          : '';
      return {
        message: `could not read ${where} (${finding.fstype}): no answer in ${seconds} s, skipped${skipped}: its daemon or server is stopped or unreachable`,
        // No command: findmnt -T, df or ls on it would wait just the same.
        command: null,
      };
    }
    case 'partial-view': {
      const n = finding.unreadableProcesses;
      const count = `${n} ${n === 1 ? 'process' : 'processes'}`;
      return {
        message: `${count} could not be read${finding.asRoot ? ' (denied even to root)' : ''}: what ${n === 1 ? 'it holds' : 'they hold'} is not in this report`,
        command: finding.asRoot ? null : 'sudo limbo',
      };
    }
  }
}

const SEVERITY_ORDER: readonly Severity[] = ['critical', 'warning', 'info'];

/**
 * The report's first line, a true summary of what follows: the worst severity and the findings
 * counted by severity ("limbo: WARNING: 3 findings (1 warning, 2 info)"); OK only when there are none.
 */
export function summarizeReport(report: Report): string {
  const { findings } = report;
  if (findings.length === 0) return 'limbo: OK: nothing held, nothing leaking.';
  const worst = SEVERITY_ORDER.find((severity) => findings.some((f) => f.severity === severity)) ?? 'info';
  const counts = SEVERITY_ORDER.map(
    (severity) => [severity, findings.filter((f) => f.severity === severity).length] as const,
  )
    .filter(([, n]) => n > 0)
    .map(([severity, n]) => `${n} ${severity === 'warning' && n > 1 ? 'warnings' : severity}`);
  const total = `${findings.length} ${findings.length === 1 ? 'finding' : 'findings'}`;
  return worst === 'info'
    ? `limbo: INFO: ${total}, none above its warning threshold.`
    : `limbo: ${worst.toUpperCase()}: ${total} (${counts.join(', ')}).`;
}
