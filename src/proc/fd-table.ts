import { readdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { nativeAddon } from '../native.js';
import { classifyError } from './errors.js';
import { statThrough, type FileStat } from './file-stat.js';
import { readLinkBytes, type ReadResult } from './read.js';

/** A descriptor whose file may be deleted: its link ends in " (deleted)" or could not be read. */
export interface FdCandidate {
  readonly fd: number;
  /** The link's bytes without the " (deleted)" suffix; null when longer than PATH_MAX. */
  readonly name: Buffer | null;
  readonly stat: FileStat;
}

/** One pass over an fd directory: how many fds it has, and the deleted candidates among them. */
export interface FdTableScan {
  readonly count: number;
  readonly candidates: readonly FdCandidate[];
}

const DELETED = Buffer.from(' (deleted)');

/**
 * Scans many fd directories (/proc/PID/fd or task/TID/fd): reads every link and stats only the
 * candidates. A link that fails with ENAMETOOLONG is stat-ed anyway, since only nlink can tell.
 * The native addon spreads the directories over the cores (readlink is the whole cost).
 */
export function scanFdTables(dirs: readonly string[]): ReadResult<FdTableScan>[] {
  const addon = nativeAddon();
  if (!addon) return dirs.map(scanFdTableJs);
  const threads = Math.min(availableParallelism(), 8);
  return addon.scanFdDirs(dirs, threads).map((scan): ReadResult<FdTableScan> => {
    if ('error' in scan) return { ok: false, failure: classifyError({ code: scan.error }) };
    return {
      ok: true,
      value: {
        count: scan.count,
        candidates: scan.candidates.map((c) => ({
          fd: c.fd,
          name: c.target ? stripDeleted(c.target) : null,
          stat: {
            dev: `${c.major}:${c.minor}`,
            ino: c.ino,
            nlink: c.nlink,
            sizeBytes: c.size,
            allocatedBytes: c.blocks * 512,
            mode: c.mode,
          },
        })),
      },
    };
  });
}

/** The pure JavaScript scanner, used when the addon is absent (and by tests, to compare). */
export function scanFdTableJs(dir: string): ReadResult<FdTableScan> {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch (error) {
    return { ok: false, failure: classifyError(error) };
  }
  const candidates: FdCandidate[] = [];
  for (const entry of entries) {
    const path = `${dir}/${entry}`;
    const link = readLinkBytes(path);
    if (!link.ok && link.failure !== 'too-long') continue;
    if (link.ok && !endsWithDeleted(link.value)) continue;
    const stat = statThrough(path);
    if (!stat.ok) continue;
    if (!link.ok && stat.value.nlink !== 0) continue;
    candidates.push({ fd: Number(entry), name: link.ok ? stripDeleted(link.value) : null, stat: stat.value });
  }
  return { ok: true, value: { count: entries.length, candidates } };
}

/** True when a link or maps name carries the kernel's " (deleted)" marker. */
export function endsWithDeleted(name: Buffer): boolean {
  return name.length >= DELETED.length && name.subarray(name.length - DELETED.length).equals(DELETED);
}

/** The name without the kernel's " (deleted)" marker. */
export function stripDeleted(name: Buffer): Buffer {
  return endsWithDeleted(name) ? Buffer.from(name.subarray(0, name.length - DELETED.length)) : name;
}
