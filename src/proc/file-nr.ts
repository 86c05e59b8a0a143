import { readProcText, type ReadResult } from './read.js';

/** /proc/sys/fs/file-nr: the system-wide count of kernel `struct file` objects and its ceiling. */
export interface FileNr {
  /** Open file descriptions (struct file) in the whole system, in files; dups share one. */
  readonly allocated: number;
  /** fs.file-max, in files; systemd sets LONG_MAX, which a number rounds to 2^63 (still "no limit"). */
  readonly max: number;
}

/** Parses /proc/sys/fs/file-nr ("allocated\t0\tmax"); null when it is not three counts. */
export function parseFileNr(text: string): FileNr | null {
  // The middle field is nr_free_files, always 0 since Linux 2.6: checked for shape, then dropped.
  const match = /^(\d+)\t(\d+)\t(\d+)\n?$/.exec(text);
  if (!match) return null;
  return { allocated: Number(match[1]), max: Number(match[3]) };
}

/** Parses /proc/sys/fs/nr_open: the highest RLIMIT_NOFILE any process may set, in fds. */
export function parseNrOpen(text: string): number | null {
  return parseCount(text);
}

/** Reads and parses /proc/sys/fs/file-nr. */
export function readFileNr(procRoot = '/proc'): ReadResult<FileNr | null> {
  const read = readProcText(`${procRoot}/sys/fs/file-nr`);
  return read.ok ? { ok: true, value: parseFileNr(read.value) } : read;
}

/** Reads and parses /proc/sys/fs/nr_open. */
export function readNrOpen(procRoot = '/proc'): ReadResult<number | null> {
  const read = readProcText(`${procRoot}/sys/fs/nr_open`);
  return read.ok ? { ok: true, value: parseNrOpen(read.value) } : read;
}

function parseCount(text: string): number | null {
  const match = /^(\d+)\n?$/.exec(text);
  return match ? Number(match[1]) : null;
}
