import { parseUnsigned } from './kernel-text.js';
import { readProcText, type ReadResult } from './read.js';

/** The fields of /proc/PID/stat that limbo uses (fs/proc/array.c, do_task_stat). */
export interface ProcStat {
  /** Field 3: single-letter scheduler state (R, S, D, Z, ...). */
  readonly state: string;
  /** Field 4. */
  readonly ppid: number;
  /**
   * Field 22: when the process started, in clock ticks (USER_HZ) since boot. A pid is reused
   * once its process is gone; the pid with its start time names one process.
   */
  readonly startTicks: number;
}

/**
 * Parses /proc/PID/stat: "PID (COMM) STATE PPID ...". The comm can hold spaces and parentheses,
 * so fields are counted from the last ")". Returns null when a field limbo uses is malformed.
 */
export function parseStat(text: string): ProcStat | null {
  const close = text.lastIndexOf(')');
  if (close < 0) return null;
  const fields = text
    .slice(close + 1)
    .trim()
    .split(' '); // fields[0] is field 3
  const state = fields[0];
  const ppid = parseUnsigned(fields[1]);
  const startTicks = parseUnsigned(fields[19]);
  if (state?.length !== 1 || ppid === null || startTicks === null) return null;
  return { state, ppid, startTicks };
}

/** Reads and parses /proc/PID/stat, or a thread's /proc/PID/task/TID/stat. */
export function readStat(
  procRoot: string,
  pid: number,
  tid: number | null = null,
): ReadResult<ProcStat | null> {
  const read = readProcText(`${procRoot}/${pid}${tid === null ? '' : `/task/${tid}`}/stat`);
  return read.ok ? { ok: true, value: parseStat(read.value) } : read;
}
