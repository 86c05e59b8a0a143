// What truncating a held deleted file would do, decided from the holder model: who appends,
// who reads the data back, who writes at its own offsets, who maps it, and whether the file is
// a program's durable state. Each decision carries its reasons, as codes and in words.
import { escapeName } from '../format/escape.js';
import { formatBytes } from '../format/size.js';
import { holderUses, type FileHolder, type HolderUseFact } from './holders.js';
import {
  durableStateOf,
  isPostgresTempFile,
  looksLikeLog,
  programOf,
  type DurableState,
} from './programs.js';

/** `truncate`: safe without --force; `needs-force`: someone loses data or crashes; `never`: not even with --force. */
export type TruncationDecision = 'truncate' | 'needs-force' | 'never';

/** Why, as a stable code (the reclaim JSON carries it). */
export type TruncationReasonCode =
  | 'appenders-only'
  | 'mapped-code'
  | 'durable-state'
  | 'reads-data'
  | 'flags-unknown'
  | 'mapped'
  | 'writes-at-offset';

export interface TruncationReason {
  readonly code: TruncationReasonCode;
  /** The process it is about; null for reasons about the file itself. */
  readonly pid: number | null;
  readonly fd: number | null;
  /** The reason in words, names escaped. */
  readonly text: string;
}

export interface TruncationVerdict {
  readonly decision: TruncationDecision;
  /** Worst first. */
  readonly reasons: readonly TruncationReason[];
  readonly durableState: DurableState | null;
  /** True when the content may be worth keeping (not a log): offer `limbo recover` before truncating. */
  readonly offerRecover: boolean;
}

/** What truncating the file named `name` would do to `holders`. */
export function judgeTruncation(name: Buffer | null, holders: readonly FileHolder[]): TruncationVerdict {
  const reasons: TruncationReason[] = [];
  const durableState = durableStateOf(name, holders);
  const uses = holderUses(holders);
  for (const use of uses.filter((u) => u.use === 'code')) {
    reasons.push({
      code: 'mapped-code',
      pid: use.pid,
      fd: null,
      text: `${who(use)} ${describeUse(use, name, holders)}`,
    });
  }
  if (durableState) {
    reasons.push({
      code: 'durable-state',
      pid: null,
      fd: null,
      text: `it is ${durableState.what}: truncating it destroys ${durableState.program}'s data; ${durableState.safeStep}`,
    });
  }
  for (const use of uses) {
    if (use.use === 'code' || use.use === 'appender') continue;
    const code: TruncationReasonCode =
      use.use === 'reader'
        ? use.flagsUnknown
          ? 'flags-unknown'
          : 'reads-data'
        : use.use === 'mapped'
          ? 'mapped'
          : 'writes-at-offset';
    reasons.push({ code, pid: use.pid, fd: use.fd, text: `${who(use)} ${describeUse(use, name, holders)}` });
  }
  const decision: TruncationDecision = reasons.some((r) => r.code === 'mapped-code')
    ? 'never'
    : reasons.length > 0
      ? 'needs-force'
      : 'truncate';
  if (decision === 'truncate' && holders.length > 0) {
    reasons.push({
      code: 'appenders-only',
      pid: null,
      fd: null,
      text: 'every holder only appends (write-only, O_APPEND) and nothing maps it: each keeps writing at the new end',
    });
  }
  return { decision, reasons, durableState, offerRecover: durableState !== null || !looksLikeLog(name) };
}

function who(use: HolderUseFact): string {
  return `${use.pid} ${escapeName(use.comm)}`;
}

/**
 * One holder's use of the file in a sentence, without the process in front. The fd offset is a
 * fact for write(2) only: a program that uses pwrite(2) or pread(2) chooses its own offsets.
 */
export function describeUse(
  use: HolderUseFact,
  name: Buffer | null = null,
  holders: readonly FileHolder[] = [],
): string {
  switch (use.use) {
    case 'code':
      return 'maps it as code: truncating it would crash the process (SIGBUS); never truncated, even with --force: restart it';
    case 'mapped':
      return 'maps it in memory: any access past the new end raises SIGBUS in it, and what it maps is lost';
    case 'reader': {
      const flags = use.flagsUnknown ? ' (its flags could not be read: judged as a reader)' : '';
      const holder = holders.find((h) => h.pid === use.pid);
      if (holder && programOf(holder.family.topComm)?.program === 'PostgreSQL' && isPostgresTempFile(name)) {
        return `reads it back through fd ${use.fd}${flags}: this is a PostgreSQL temporary file (a sort, hash or WITH HOLD cursor): its next read fails ("could not read from ... temporary file") and the query or cursor errors, or it takes the cut for the end of the data and returns fewer rows without an error`;
      }
      return `reads it back through fd ${use.fd}${flags}: truncating destroys data it still reads, and its next reads come back short (end of file) or fail: a database, temporary file, cache or backup in progress then errors or silently misses data`;
    }
    case 'writer': {
      if (use.offsetBytes === null) {
        return `writes through fd ${use.fd} without O_APPEND: its next write lands where the program chooses, leaving a zero-filled hole before it`;
      }
      const at = formatBytes(use.offsetBytes);
      return (
        `writes through fd ${use.fd} without O_APPEND (offset now ${at}): a write(2) lands at ${at} again, ` +
        `so the file regrows to ${at} plus what it writes, the start a zero-filled hole; a pwrite(2) lands wherever the program chooses`
      );
    }
    case 'appender':
      return `only appends through fd ${use.fd} (O_APPEND): it keeps writing at the new end`;
  }
}
