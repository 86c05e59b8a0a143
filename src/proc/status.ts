import { parseUnsigned } from './kernel-text.js';
import { readProcText, type ReadResult } from './read.js';

/** The fields of /proc/PID/status that limbo uses. */
export interface ProcStatus {
  /** Single-letter scheduler state: R, S, D, Z, T, t, X, I, ... */
  readonly state: string;
  readonly tgid: number;
  readonly ppid: number;
  /** Real user id. */
  readonly uid: number;
  /** Effective user id. */
  readonly euid: number;
  readonly threads: number;
  /** True for kernel threads (the `Kthread:` line, or ppid 2 on kernels without it). */
  readonly kernelThread: boolean;
  /**
   * NSpid: its pid in each pid namespace it is in, outermost (the reader's) first; the last is
   * the pid it knows itself by (1 for a container's init). Empty on kernels without the line.
   */
  readonly nsPids: readonly number[];
}

/** The lines parseStatus reads: a status file has some 60, read for every process of every scan. */
const WANTED = new Set(['State', 'Tgid', 'PPid', 'Uid', 'Threads', 'Kthread', 'NSpid']);

/** Parses /proc/PID/status; returns null when a required field is missing. */
export function parseStatus(text: string): ProcStatus | null {
  const fields = new Map<string, string>();
  for (let start = 0; start < text.length;) {
    const end = text.indexOf('\n', start);
    const stop = end < 0 ? text.length : end;
    const colon = text.indexOf(':', start);
    if (colon > start && colon < stop) {
      const key = text.slice(start, colon);
      if (WANTED.has(key)) fields.set(key, text.slice(colon + 1, stop).trim());
    }
    start = stop + 1;
  }
  const state = fields.get('State')?.charAt(0);
  const tgid = parseUnsigned(fields.get('Tgid'));
  const ppid = parseUnsigned(fields.get('PPid'));
  const uids = fields.get('Uid')?.split(/\s+/).map(Number);
  const threads = parseUnsigned(fields.get('Threads'));
  if (!state || tgid === null || ppid === null || !uids || uids.length < 2 || threads === null) return null;
  const [uid, euid] = uids as [number, number];
  if (!Number.isInteger(uid) || !Number.isInteger(euid)) return null;
  const kthread = fields.get('Kthread');
  const kernelThread = kthread !== undefined ? kthread === '1' : ppid === 2 || tgid === 2;
  const nsPids = (fields.get('NSpid') ?? '')
    .split(/\s+/)
    .filter((word) => /^\d+$/.test(word))
    .map(Number);
  return { state, tgid, ppid, uid, euid, threads, kernelThread, nsPids };
}

/** Reads and parses /proc/PID/status. */
export function readStatus(procRoot: string, pid: number): ReadResult<ProcStatus | null> {
  const read = readProcText(`${procRoot}/${pid}/status`);
  return read.ok ? { ok: true, value: parseStatus(read.value) } : read;
}
