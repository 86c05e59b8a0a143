import { memoizeByText } from '../core/memo.js';
import { readProcText, type ReadResult } from './read.js';

/** One row of /proc/PID/limits: a resource's soft and hard limit. */
export interface ResourceLimit {
  /** The kernel's name for the row, e.g. "Max open files". */
  readonly name: string;
  /**
   * Soft limit in `unit`; null is "unlimited" (RLIM_INFINITY). null rather than Infinity
   * because a snapshot is JSON, where Infinity would come back as null anyway.
   * Limits above 2^53 are rounded: that far up they mean "no limit" in practice.
   */
  readonly soft: number | null;
  /** Hard limit in `unit`; null is "unlimited". */
  readonly hard: number | null;
  /** The kernel's unit word: "files", "bytes", "seconds", "us", ...; null for rows printed without one (nice and realtime priority). */
  readonly unit: string | null;
}

/** /proc/PID/limits. */
export interface ProcLimits {
  /** Every row, keyed by its name, in the kernel's order. */
  readonly byName: Readonly<Record<string, ResourceLimit>>;
  /** "Max open files" (RLIMIT_NOFILE), in fds: the soft limit is where open(2) fails with EMFILE. */
  readonly openFiles: ResourceLimit;
}

const HEADER = /^Limit\s+Soft Limit\s+Hard Limit\s+Units\s*$/;
// fs/proc/base.c prints "%-25s %-20s %-20s %-10s": names have single spaces inside and are
// at most 25 characters, so at least two spaces follow one; values never contain a space.
const ROW = /^(\S+(?: \S+)*) {2,}(unlimited|\d+) +(unlimited|\d+)(?: +(\S+))? *$/;

/** Parses /proc/PID/limits, skipping rows it cannot read; null without its header or "Max open files". */
export function parseLimits(text: string): ProcLimits | null {
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const [header, ...rows] = lines;
  if (header === undefined || !HEADER.test(header)) return null;
  const byName: Record<string, ResourceLimit> = {};
  for (const row of rows) {
    const match = ROW.exec(row);
    if (!match) continue;
    const [, name = '', soft = '', hard = '', unit] = match;
    byName[name] = { name, soft: toLimit(soft), hard: toLimit(hard), unit: unit ?? null };
  }
  const openFiles = byName['Max open files'];
  return openFiles ? { byName, openFiles } : null;
}

const parseLimitsOnce = memoizeByText(parseLimits);

/** Reads and parses /proc/PID/limits (a text seen before is not parsed again: its answer is shared). */
export function readLimits(procRoot: string, pid: number | 'self'): ReadResult<ProcLimits | null> {
  const read = readProcText(`${procRoot}/${pid}/limits`);
  return read.ok ? { ok: true, value: parseLimitsOnce(read.value) } : read;
}

function toLimit(value: string): number | null {
  return value === 'unlimited' ? null : Number(value);
}
