import { readdirSync, statSync } from 'node:fs';
import {
  nativeAddon,
  nativeThreads,
  type NativeAddon,
  type NativeFullScan,
  type NativeScan,
  type NativeSkipRule,
} from '../native.js';
import { classifyError } from '../core/errors.js';
import { hasDeletedSuffix, sillyRenamerOf, stripDeletedSuffix } from './deleted-name.js';
import { statThrough, type FileStat } from './file-stat.js';
import { readLinkBytes, type ReadResult } from './read.js';

/**
 * A descriptor whose file may be deleted: its link ends in " (deleted)", names a silly-renamed
 * file (`.fuse_hidden…`, `.nfs…`: see sillyRenamerOf), or could not be read.
 */
export interface FdCandidate {
  readonly fd: number;
  /** The link's bytes without the " (deleted)" suffix; null when longer than PATH_MAX. */
  readonly name: Buffer | null;
  readonly stat: FileStat;
  /** open(2) flags and offset when the scanner already has them (BPF); else read from fdinfo. */
  readonly flags?: number;
  readonly posBytes?: number;
}

/** One pass over an fd directory: how many fds it has, and the deleted candidates among them. */
export interface FdTableScan {
  readonly count: number;
  /** fds listed whose link the kernel refused (EACCES, EPERM): counted, what they hold unknown. */
  readonly unreadable: number;
  readonly candidates: readonly FdCandidate[];
}

/**
 * Scans many fd directories (/proc/PID/fd or task/TID/fd): reads every link and stats only the
 * candidates. A link that fails with ENAMETOOLONG is stat-ed anyway, since only nlink can tell.
 * The native addon spreads the directories over the cores (readlink is the whole cost); with
 * `addon` null, the JavaScript twin does the same work.
 */
export function scanFdTables(
  dirs: readonly string[],
  addon: NativeAddon | null = nativeAddon(),
  skip: SkipLink | null = null,
): ReadResult<FdTableScan>[] {
  // A mount that does not answer: the addon applies the rule in C when it can; else the twin.
  if (skip && !(addon?.fdScanSkips && skip.rule)) {
    return dirs.map((dir, i) => scanFdTableJs(dir, (target) => skip(i, target)));
  }
  if (!addon) return dirs.map((dir) => scanFdTableJs(dir));
  return addon.scanFdDirs(dirs, nativeThreads(), skip?.rule).map((scan, i) => fromNativeScan(scan, skip, i));
}

/**
 * The deleted candidates among the fds a BPF walk named in each fd directory (`fds[i]` of
 * `dirs[i]`), each kept by readCandidate's rule; each directory's count is its st_size (the
 * open fds, Linux >= 6.2). The addon reads them on its threads; with `addon` null (or one
 * without readFdCandidates), the JavaScript twin does the same work.
 */
export function readListedCandidates(
  dirs: readonly string[],
  fds: readonly (readonly number[])[],
  addon: NativeAddon | null = nativeAddon(),
  skip: SkipLink | null = null,
  threads = nativeThreads(),
): ReadResult<FdTableScan>[] {
  if (!addon?.readFdCandidates || (skip && !skip.rule)) {
    return dirs.map((dir, i) => readListedJs(dir, fds[i] ?? [], skip && ((target) => skip(i, target))));
  }
  const starts = new Uint32Array(dirs.length + 1);
  dirs.forEach((_, i) => (starts[i + 1] = (starts[i] as number) + (fds[i]?.length ?? 0)));
  const flat = new Int32Array(starts[dirs.length] as number);
  dirs.forEach((_, i) => flat.set(fds[i] ?? [], starts[i]));
  return addon
    .readFdCandidates(dirs, flat, starts, threads, skip?.rule)
    .map((scan, i) => fromNativeScan(scan, skip, i));
}

/** The JavaScript twin of the addon's readFdCandidates, for one directory. */
function readListedJs(
  dir: string,
  fds: readonly number[],
  skip: ((target: Buffer) => boolean) | null,
): ReadResult<FdTableScan> {
  let count: number;
  try {
    count = statSync(dir).size;
  } catch (error) {
    return { ok: false, failure: classifyError(error) };
  }
  const candidates: FdCandidate[] = [];
  let unreadable = 0;
  for (const fd of fds) {
    const read = readCandidate(dir, fd, skip);
    if (read === 'denied') unreadable++;
    else if (read !== null) candidates.push(read);
  }
  return { ok: true, value: { count, unreadable, candidates } };
}

/** One directory's scan from the addon (scanFdDirs, readFdCandidates), as the twins give it. */
function fromNativeScan(scan: NativeScan, skip: SkipLink | null, dirIndex: number): ReadResult<FdTableScan> {
  if ('error' in scan) return { ok: false, failure: classifyError({ code: scan.error }) };
  countSkipped(skip, dirIndex, scan.skipped);
  return {
    ok: true,
    value: {
      count: scan.count,
      unreadable: scan.unreadable,
      candidates: scan.candidates.map((c) => ({
        fd: c.fd,
        name: c.target ? stripDeletedSuffix(c.target) : null,
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
}

/**
 * Says whether the fd whose link reads `target`, in the `dirIndex`th directory, must not be
 * stat-ed: it is on a mount that did not answer, and a stat would wait for ever (and counts it
 * there). `rule` is the same rule as data, for the addon.
 */
export interface SkipLink {
  (dirIndex: number, target: Buffer): boolean;
  readonly rule?: NativeSkipRule;
  /** The same question, not counted: for a link a pass before this one counted already. */
  readonly holds?: (dirIndex: number, target: Buffer) => boolean;
}

/** Counts the links the addon skipped where the rule says they belong, as the twin counts them. */
function countSkipped(skip: SkipLink | null, dirIndex: number, skipped: readonly Buffer[] | undefined): void {
  if (skip) for (const target of skipped ?? []) skip(dirIndex, target);
}

/** The JavaScript twin of the addon's scanFdDirs, for one directory. */
export function scanFdTableJs(
  dir: string,
  skip: ((target: Buffer) => boolean) | null = null,
): ReadResult<FdTableScan> {
  let entries: string[];
  try {
    entries = listFds(dir);
  } catch (error) {
    return { ok: false, failure: classifyError(error) };
  }
  const candidates: FdCandidate[] = [];
  let unreadable = 0;
  for (const entry of entries) {
    const read = readCandidate(dir, Number(entry), skip);
    if (read === 'denied') unreadable++;
    else if (read !== null) candidates.push(read);
  }
  return { ok: true, value: { count: entries.length, unreadable, candidates } };
}

/** A link worth a stat: " (deleted)", or a silly rename's name (the addon's keep_candidate). */
function isCandidateName(link: Buffer | string): boolean {
  return hasDeletedSuffix(link) || sillyRenamerOf(link) !== null;
}

/**
 * One fd of an fd directory, kept when it is a deleted candidate: its link ends in " (deleted)"
 * or carries a silly rename's name, or is too long to read and its file has nlink 0. 'denied'
 * when the kernel refused the link. A link `skip` names (on a mount that did not answer) is
 * not stat-ed: the stat would wait for ever.
 */
export function readCandidate(
  dir: string,
  fd: number,
  skip: ((target: Buffer) => boolean) | null = null,
): FdCandidate | 'denied' | null {
  const path = `${dir}/${fd}`;
  const link = readLinkBytes(path);
  if (!link.ok && link.failure === 'denied') return 'denied';
  if (!link.ok && link.failure !== 'too-long') return null;
  if (link.ok && !isCandidateName(link.value)) return null;
  if (link.ok && skip?.(link.value)) return null;
  const stat = statThrough(path);
  if (!stat.ok) return null;
  if (!link.ok && stat.value.nlink !== 0) return null;
  return { fd, name: link.ok ? stripDeletedSuffix(link.value) : null, stat: stat.value };
}

/**
 * The fd numbers in an fd directory as the addon reads them: names that start with a digit, in
 * ascending order, which is the kernel's own order (fs/proc/fd.c proc_readfd_common walks the
 * table upward). node sorts readdir results as text ("10" before "2"), so they are sorted again.
 */
function listFds(dir: string): string[] {
  return readdirSync(dir)
    .filter((name) => name >= '0' && name < ':')
    .sort((a, b) => Number(a) - Number(b));
}

/** Every fd of one table, as parallel arrays (the shape the addon returns, cheap at 100,000 fds). */
export type FdEntries = Omit<Exclude<NativeFullScan, { error: string }>, 'skipped'>;

/**
 * Reads every fd of many fd directories: the link of each, and st_mode, dev and inode of
 * path links (a socket, pipe or anon inode is typed by its text, at no stat). With `addon`
 * null, the JavaScript twin does the same work.
 */
export function scanFdTablesFull(
  dirs: readonly string[],
  addon: NativeAddon | null = nativeAddon(),
  skip: SkipLink | null = null,
): ReadResult<FdEntries>[] {
  if (skip && !(addon?.fdScanSkips && skip.rule)) {
    return dirs.map((dir, i) => scanFdTableFullJs(dir, (target) => skip(i, target)));
  }
  if (!addon) return dirs.map((dir) => scanFdTableFullJs(dir));
  return addon.scanFdDirsFull(dirs, nativeThreads(), skip?.rule).map((scan, i): ReadResult<FdEntries> => {
    if ('error' in scan) return { ok: false, failure: classifyError({ code: scan.error }) };
    const { skipped, ...entries } = scan;
    countSkipped(skip, i, skipped);
    return { ok: true, value: entries };
  });
}

/** The JavaScript twin of the addon's scanFdDirsFull, for one directory. */
export function scanFdTableFullJs(
  dir: string,
  skip: ((target: Buffer) => boolean) | null = null,
): ReadResult<FdEntries> {
  let entries: string[];
  try {
    entries = listFds(dir);
  } catch (error) {
    return { ok: false, failure: classifyError(error) };
  }
  const fds: number[] = [];
  const links: (string | null)[] = [];
  const modes: number[] = [];
  const majors: number[] = [];
  const minors: number[] = [];
  const inos: bigint[] = [];
  let unreadable = 0;
  for (const entry of entries) {
    const path = `${dir}/${entry}`;
    const link = readLinkBytes(path);
    if (!link.ok && link.failure === 'denied') unreadable++;
    if (!link.ok && link.failure !== 'too-long') continue;
    const text = link.ok ? link.value.toString('latin1') : null;
    let mode = 0;
    let major = 0;
    let minor = 0;
    let ino = 0n;
    if (text === null || (text.startsWith('/') && !(link.ok && skip?.(link.value)))) {
      const stat = statThrough(path);
      if (stat.ok) {
        [major, minor] = stat.value.dev.split(':').map(Number) as [number, number];
        mode = stat.value.mode;
        ino = stat.value.ino;
      }
    }
    fds.push(Number(entry));
    links.push(text);
    modes.push(mode);
    majors.push(major);
    minors.push(minor);
    inos.push(ino);
  }
  return {
    ok: true,
    value: {
      fds: Int32Array.from(fds),
      links,
      modes: Uint32Array.from(modes),
      majors: Uint32Array.from(majors),
      minors: Uint32Array.from(minors),
      inos: BigUint64Array.from(inos),
      count: entries.length,
      unreadable,
    },
  };
}

/** The deleted candidates among a full scan's fds, stat-ed through their links (as scanFdTables finds them). */
export function candidatesOf(
  dir: string,
  entries: FdEntries,
  skip: ((target: Buffer) => boolean) | null = null,
): FdTableScan {
  const candidates: FdCandidate[] = [];
  entries.links.forEach((link, i) => {
    if (link !== null && !isCandidateName(link)) return;
    const bytes = link === null ? null : Buffer.from(link, 'latin1');
    if (bytes !== null && skip?.(bytes)) return;
    const stat = statThrough(`${dir}/${entries.fds[i]}`);
    if (!stat.ok || (bytes === null && stat.value.nlink !== 0)) return;
    candidates.push({
      fd: entries.fds[i] as number,
      name: bytes === null ? null : stripDeletedSuffix(bytes),
      stat: stat.value,
    });
  });
  return { count: entries.count, unreadable: entries.unreadable, candidates };
}
