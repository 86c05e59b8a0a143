import { readFileSync } from 'node:fs';
import { LimboError, whyFailed } from '../core/errors.js';
import { escapeName } from '../format/escape.js';
import { silentMountOfPath } from '../actions/mount-guard.js';
import { describeUnansweredTarget } from '../analyses/incomplete-words.js';
import { parseSnapshot } from '../snapshot/snapshot-json.js';
import { takeSnapshot } from '../snapshot/take-snapshot.js';
import type { Snapshot } from '../snapshot/types.js';
import { sourceToJson } from '../analyses/source-json.js';
import type { CommonValues } from './options.js';

/** The snapshot a command works on: a saved one (--from), or a fresh scan of --proc. */
export function loadSnapshot(
  values: Pick<CommonValues, 'from' | 'proc' | 'scanner' | 'mountTimeout'>,
  options: { handles?: boolean; files?: boolean } = {},
): Snapshot {
  const { from, proc, scanner } = values;
  const mountTimeoutMs = mountTimeoutMsOf(values);
  if (from !== undefined) {
    const named = escapeName(Buffer.from(from));
    if (from !== '-') refusePathOnSilentMount('', `--from '${named}'`, from, values);
    let text: string;
    try {
      text = readFileSync(from === '-' ? 0 : from, 'utf8');
    } catch (error) {
      throw new LimboError('io', `cannot read snapshot ${named}: ${whyFailed(error)}`, {
        cause: error,
      });
    }
    try {
      return parseSnapshot(text);
    } catch (error) {
      if (!(error instanceof LimboError)) throw error;
      throw new LimboError(error.code, `snapshot ${named}: ${error.message}`, { cause: error.cause });
    }
  }
  try {
    return takeSnapshot({
      procRoot: proc,
      handles: options.handles ?? false,
      files: options.files ?? true,
      scanner,
      mountTimeoutMs,
    });
  } catch (error) {
    // Any other LimboError keeps its code: --scanner bpf where BPF cannot run is a usage error (exit 2).
    if (error instanceof LimboError && error.code !== 'proc-unreadable') throw error;
    throw new LimboError(
      'proc-unreadable',
      `cannot scan ${escapeName(Buffer.from(proc))}: ${(error as Error).message}`,
      { cause: error },
    );
  }
}

/** --mount-timeout in milliseconds: how long a FUSE or network mount has to answer. */
/**
 * Refuses (LimboError 'io', exit 1) a path the person gave on a FUSE or network mount that does
 * not answer, before anything opens or stats it: `what` names it ("--from 'x'"), `prefix`
 * starts the message ("limbo serve: ").
 */
export function refusePathOnSilentMount(
  prefix: string,
  what: string,
  path: string,
  values: Pick<CommonValues, 'proc' | 'mountTimeout'>,
): void {
  const silent = silentMountOfPath(path, { procRoot: values.proc, timeoutMs: mountTimeoutMsOf(values) });
  if (silent) throw new LimboError('io', `${prefix}${describeUnansweredTarget(what, silent)}`);
}

export function mountTimeoutMsOf(values: Pick<CommonValues, 'mountTimeout'>): number {
  return Math.round(values.mountTimeout * 1000);
}

/**
 * The last line of a replayed text output: `From snapshot FILE taken AT on HOST.`, so an answer
 * about another time or machine never passes for this one's. Null for a live scan.
 */
function replayNote(values: Pick<CommonValues, 'from'>, snapshot: Snapshot): string | null {
  if (values.from === undefined) return null;
  const file = values.from === '-' ? 'on stdin' : escapeName(Buffer.from(values.from));
  const host = escapeName(Buffer.from(snapshot.hostname));
  return `From snapshot ${file} taken ${snapshot.takenAt} on ${host}.`;
}

/** A text output with the replay note as its last line, when replayed. */
export function withReplayNote(text: string, values: Pick<CommonValues, 'from'>, snapshot: Snapshot): string {
  const note = replayNote(values, snapshot);
  return note === null ? text : `${text}\n${note}\n`;
}

/** A JSON output with `source` last: live, or the snapshot it replays (file, time, host). */
export function withSource<T extends object>(
  json: T,
  values: Pick<CommonValues, 'from'>,
  snapshot: Snapshot,
): T & { source: ReturnType<typeof sourceToJson> } {
  return { ...json, source: sourceToJson(snapshot, values.from) };
}
