// The kernel sequence every action uses to touch a file another process holds: open the /proc
// link with O_PATH (no side effect: no device open, no FIFO that blocks, no lease broken),
// fstat that descriptor to learn what the file really is, and only then reopen the same inode
// through /proc/self/fd with the access the action needs. A name is never opened twice, so the
// file checked is the file acted on, whatever happens to the holder's fd number meanwhile.
import { arch } from 'node:os';
import { closeSync, constants, fstatSync, openSync, type BigIntStats } from 'node:fs';
import { classifyError, errnoOf, type ReadFailure } from '../core/errors.js';
import { fileTypeOf, type FileType } from '../proc/file-mode.js';
import { formatDev } from '../proc/file-stat.js';

/**
 * O_PATH is not in fs.constants. It is 010000000 in the kernel's generic fcntl.h, which x86,
 * arm, arm64, riscv, powerpc, s390, mips and loongarch share; sparc, alpha and parisc differ.
 */
export const O_PATH: number | null =
  (constants as Record<string, number | undefined>)['O_PATH'] ??
  (['x64', 'ia32', 'arm', 'arm64', 'riscv64', 'ppc64', 'ppc', 's390x', 'mips', 'mipsel', 'loong64'].includes(
    arch(),
  )
    ? 0o10000000
    : null);

/** An O_PATH descriptor on a file reached through a /proc link, and what fstat says of it. */
export interface PathHandle {
  readonly fd: number;
  readonly stat: BigIntStats;
  /** "MAJ:MIN:INODE" of the file opened. */
  readonly key: string;
}

export type OpenPathResult =
  | { readonly ok: true; readonly handle: PathHandle }
  | { readonly ok: false; readonly failure: ReadFailure; readonly code: string };

/** Opens `link` with O_PATH and fstat's the descriptor: the file itself, never the link's text. */
export function openPath(link: string): OpenPathResult {
  if (O_PATH === null) return { ok: false, failure: 'other', code: `O_PATH unknown on ${arch()}` };
  let fd: number;
  try {
    fd = openSync(link, O_PATH);
  } catch (error) {
    return { ok: false, failure: classifyError(error), code: errorCode(error) };
  }
  try {
    const stat = fstatSync(fd, { bigint: true });
    return { ok: true, handle: { fd, stat, key: keyOf(stat) } };
  } catch (error) {
    closeQuietly(fd);
    return { ok: false, failure: classifyError(error), code: errorCode(error) };
  }
}

/**
 * Opens the inode behind an O_PATH descriptor again, with `flags`, through /proc/self/fd: a new
 * open file description of that same inode. Throws the errno (ETXTBSY, EACCES, ...).
 */
export function reopen(handle: PathHandle, flags: number): number {
  return openSync(`/proc/self/fd/${handle.fd}`, flags);
}

/** The flags of a write-open that must not wait: a lease holder makes it fail (EWOULDBLOCK), not block. */
export const WRITE_FLAGS = constants.O_WRONLY | constants.O_NONBLOCK | constants.O_NOCTTY;
export const READ_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY;

/**
 * st_birthtime in nanoseconds, or null when the filesystem keeps none. With (dev, ino) it tells
 * a file from a later one that reused its inode number: ext4 hands a freed number to the next
 * new file at once (observed on 6.18), so (dev, ino) alone can name two files a second apart.
 */
export function bornNs(stat: BigIntStats): bigint | null {
  return stat.birthtimeNs > 0n ? stat.birthtimeNs : null;
}

/** The birth time of the file behind `link` when it is the file `key`; null when unknown or another file. */
export function readBornNs(link: string, key: string): bigint | null {
  const opened = openPath(link);
  if (!opened.ok) return null;
  closeQuietly(opened.handle.fd);
  return opened.handle.key === key ? bornNs(opened.handle.stat) : null;
}

/** What the plan saw of a file: its birth time, and what stands in for it where there is none. */
export interface SeenIdentity {
  readonly bornNs: bigint | null;
  readonly ctimeNs: bigint;
  readonly sizeBytes: bigint;
}

/** The identity of the file behind `link` when it is the file `key`; null when unreachable or another file. */
export function readIdentity(link: string, key: string): SeenIdentity | null {
  const opened = openPath(link);
  if (!opened.ok) return null;
  closeQuietly(opened.handle.fd);
  const { stat } = opened.handle;
  return opened.handle.key === key
    ? { bornNs: bornNs(stat), ctimeNs: stat.ctimeNs, sizeBytes: stat.size }
    : null;
}

/** Why `stat` is not the file planned, when only its birth time tells (the inode number was reused). */
export function rebornReason(stat: BigIntStats, plannedNs: bigint | null, where: string): string | null {
  const now = bornNs(stat);
  if (plannedNs === null || now === null || now === plannedNs) return null;
  const at = (ns: bigint) => new Date(Number(ns / 1_000_000n)).toISOString();
  return `${where} now refers to another file with the same inode number (created ${at(now)}, not ${at(plannedNs)}): the inode number was reused; nothing was touched`;
}

/** "MAJ:MIN:INODE" of a stat. */
export function keyOf(stat: BigIntStats): string {
  return `${formatDev(stat.dev)}:${stat.ino}`;
}

const FILE_TYPE_WORDS: Readonly<Record<FileType, string>> = {
  fifo: 'a pipe (FIFO)',
  socket: 'a socket',
  'char-device': 'a character device',
  'block-device': 'a block device',
  directory: 'a directory',
  symlink: 'a symbolic link',
  regular: 'a regular file',
  other: 'not a regular file (an anonymous inode: eventfd, epoll, ...)',
};

/** What a non-regular file is, in words, for a refusal. */
export function describeFileType(mode: number | bigint): string {
  return FILE_TYPE_WORDS[fileTypeOf(mode)];
}

/** The errno name of a failed fs call, or "error". */
export function errorCode(error: unknown): string {
  return errnoOf(error) ?? 'error';
}

export function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // already closed: nothing to release
  }
}
