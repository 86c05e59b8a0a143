// The files a program keeps beside the one being recovered, without which the copy reads wrong.
// SQLite keeps committed transactions in NAME-wal until a checkpoint moves them into NAME (WAL
// mode), and the undo record of an unfinished transaction in NAME-journal (rollback mode): a
// copy of NAME without them misses rows or holds half a transaction. NAME-shm is only an index
// of the -wal that SQLite rebuilds when it opens the database, so it is never needed
// (https://www.sqlite.org/walformat.html, https://www.sqlite.org/fileformat.html).
import { lstatSync, readdirSync, readSync } from 'node:fs';
import { stripDeletedSuffix } from '../proc/deleted-name.js';
import { throughProcessRoot } from '../proc/mountinfo.js';
import { readLinkBytes } from '../proc/read.js';
import type { Via } from './holders.js';

/** The names SQLite gives a database's siblings: DATABASE + suffix. */
export const SQLITE_SIBLING_SUFFIXES = ['-wal', '-journal'] as const;
export type SiblingSuffix = (typeof SQLITE_SIBLING_SUFFIXES)[number];

/** A sibling found among the holder's descriptors. */
export interface SiblingFd {
  readonly suffix: SiblingSuffix;
  /** Its name as the kernel gives it, without " (deleted)". */
  readonly name: Buffer;
  readonly via: Via & { readonly kind: 'fd' };
}

/** What the first 100 bytes (the database header) say: null when it is no SQLite database. */
export interface SqliteHeader {
  /** Header byte 18, the write version: 2 is WAL mode, 1 rollback-journal mode. */
  readonly walMode: boolean;
}

const SQLITE_MAGIC = Buffer.from('SQLite format 3\0', 'latin1');

/** Parses an SQLite database header; null when the bytes are not one. */
export function parseSqliteHeader(bytes: Buffer): SqliteHeader | null {
  if (bytes.length < 20 || !bytes.subarray(0, 16).equals(SQLITE_MAGIC)) return null;
  return { walMode: bytes[18] === 2 };
}

/** Reads the header through an fd limbo opened for reading. */
export function readSqliteHeader(fd: number): SqliteHeader | null {
  const header = Buffer.alloc(100);
  const read = readSync(fd, header, 0, header.length, 0);
  return parseSqliteHeader(header.subarray(0, read));
}

/**
 * The holder's descriptors named like siblings of the file `via` reaches: the same process's fd
 * table (the thread's own, when that is where the file is), names compared as bytes, deleted or
 * not. The first fd per suffix wins; a sibling the holder does not have open is not found.
 */
export function findSiblingFds(procRoot: string, via: Via): SiblingFd[] {
  const name = heldName(procRoot, via);
  if (name === null) return [];
  const tid = via.kind === 'fd' ? via.tid : null;
  const dir = fdDir(procRoot, via.pid, tid);
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return []; // the holder is gone: the main copy says so
  }
  const found = new Map<SiblingSuffix, SiblingFd>();
  for (const entry of entries.sort((a, b) => Number(a) - Number(b))) {
    const target = readLinkBytes(`${dir}/${entry}`);
    if (!target.ok) continue;
    const sibling = stripDeletedSuffix(target.value);
    for (const suffix of SQLITE_SIBLING_SUFFIXES) {
      if (found.has(suffix) || !sibling.equals(siblingName(name, suffix))) continue;
      found.set(suffix, { suffix, name: sibling, via: { kind: 'fd', pid: via.pid, fd: Number(entry), tid } });
    }
  }
  return SQLITE_SIBLING_SUFFIXES.flatMap((suffix) => found.get(suffix) ?? []);
}

/**
 * The name a sibling has on disk now, seen from the holder's root, when a regular file is there
 * (one no process of it holds, so limbo cannot tell whether it is this database's): null if none.
 */
export function siblingOnDisk(procRoot: string, via: Via, suffix: SiblingSuffix): Buffer | null {
  const name = heldName(procRoot, via);
  if (name === null) return null;
  const sibling = siblingName(name, suffix);
  // The kernel's name is in limbo's words (a chrooted holder's starts with its root): through the
  // holder's root it is looked up in the holder's own.
  const root = readLinkBytes(`${procRoot}/${via.pid}/root`);
  const own = throughProcessRoot(procRoot, via.pid, sibling, root.ok ? root.value.toString() : null);
  try {
    return lstatSync(own).isFile() ? sibling : null;
  } catch {
    return null;
  }
}

/** The kernel's name for the file `via` reaches, without " (deleted)"; null when unreadable. */
function heldName(procRoot: string, via: Via): Buffer | null {
  const link = readLinkBytes(
    via.kind === 'fd'
      ? `${fdDir(procRoot, via.pid, via.tid)}/${via.fd}`
      : `${procRoot}/${via.pid}/map_files/${via.range}`,
  );
  return link.ok ? stripDeletedSuffix(link.value) : null;
}

function siblingName(name: Buffer, suffix: SiblingSuffix): Buffer {
  return Buffer.concat([name, Buffer.from(suffix)]);
}

function fdDir(procRoot: string, pid: number, tid: number | null): string {
  return tid === null ? `${procRoot}/${pid}/fd` : `${procRoot}/${pid}/task/${tid}/fd`;
}
