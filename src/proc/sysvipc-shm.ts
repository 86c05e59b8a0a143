import { readProcText, type ReadResult } from './read.js';

/** One System V shared memory segment, a row of /proc/sysvipc/shm. */
export interface ShmSegment {
  /** The IPC key as the kernel prints it (%d of a 32-bit key, so it can be negative); 0 is IPC_PRIVATE. */
  readonly key: number;
  /** The key as ipcs shows it: "0x%08x" of its unsigned 32 bits. */
  readonly keyHex: string;
  readonly shmid: number;
  /** The whole mode word, printed in octal: permission bits plus SHM_DEST (0o1000) and SHM_LOCKED (0o2000). */
  readonly mode: number;
  /** Permission bits only (mode & 0o777), what ipcs shows as "perms". */
  readonly perms: number;
  /** SHM_DEST: IPC_RMID came while attached; it goes with the last detach, and its key already reads 0. */
  readonly removed: boolean;
  /** SHM_LOCKED: shmctl(SHM_LOCK) keeps its pages out of swap. */
  readonly locked: boolean;
  /** Requested size, in bytes. */
  readonly sizeBytes: number;
  /** Creator pid, in the reader's pid namespace (0 outside it). */
  readonly cpid: number;
  /** pid of the last shmat or shmdt (0 if never attached). */
  readonly lpid: number;
  /** Current attaches, across every process. */
  readonly nattch: number;
  readonly uid: number;
  readonly gid: number;
  /** Creator's uid. */
  readonly cuid: number;
  /** Creator's gid. */
  readonly cgid: number;
  /** Last shmat, in unix seconds; 0 = never. */
  readonly atime: number;
  /** Last shmdt, in unix seconds; 0 = never. */
  readonly dtime: number;
  /** Creation or last IPC_SET, in unix seconds. */
  readonly ctime: number;
  /** Resident pages, in bytes: the RAM it holds now. */
  readonly rssBytes: number;
  /** Swapped-out pages, in bytes. */
  readonly swapBytes: number;
}

/** What has become of a segment. */
export type ShmStatus = 'attached' | 'orphaned' | 'removed-attached';

const SHM_DEST = 0o1000;
const SHM_LOCKED = 0o2000;
const COLUMNS = [
  'key',
  'shmid',
  'perms',
  'size',
  'cpid',
  'lpid',
  'nattch',
  'uid',
  'gid',
  'cuid',
  'cgid',
  'atime',
  'dtime',
  'ctime',
  'rss',
  'swap',
] as const;
type Column = (typeof COLUMNS)[number];

/** Parses /proc/sysvipc/shm, skipping rows it cannot read; null when the header is not the expected one. */
export function parseSysvShm(text: string): ShmSegment[] | null {
  const [header = '', ...rows] = text.split('\n');
  // Columns are found by the header's names, so a kernel that reorders or adds columns still parses.
  const names = header.trim().split(/\s+/);
  const index = new Map<string, number>(names.map((name, i) => [name, i]));
  if (!COLUMNS.every((column) => index.has(column))) return null;
  const segments: ShmSegment[] = [];
  for (const row of rows) {
    if (row.trim() === '') continue;
    const fields = row.trim().split(/\s+/);
    if (fields.length !== names.length) continue;
    const field = (column: Column): string => fields[index.get(column) ?? -1] ?? '';
    const key = field('key');
    const mode = field('perms');
    const counts = COLUMNS.filter((c) => c !== 'key' && c !== 'perms').map((c) => field(c));
    if (!/^-?\d+$/.test(key) || !/^[0-7]+$/.test(mode) || !counts.every((v) => /^\d+$/.test(v))) continue;
    const keyNumber = Number(key);
    if (keyNumber < -0x80000000 || keyNumber > 0x7fffffff) continue;
    const modeNumber = parseInt(mode, 8);
    segments.push({
      key: keyNumber,
      keyHex: formatKey(keyNumber),
      shmid: Number(field('shmid')),
      mode: modeNumber,
      perms: modeNumber & 0o777,
      removed: (modeNumber & SHM_DEST) !== 0,
      locked: (modeNumber & SHM_LOCKED) !== 0,
      sizeBytes: Number(field('size')),
      cpid: Number(field('cpid')),
      lpid: Number(field('lpid')),
      nattch: Number(field('nattch')),
      uid: Number(field('uid')),
      gid: Number(field('gid')),
      cuid: Number(field('cuid')),
      cgid: Number(field('cgid')),
      atime: Number(field('atime')),
      dtime: Number(field('dtime')),
      ctime: Number(field('ctime')),
      rssBytes: Number(field('rss')),
      swapBytes: Number(field('swap')),
    });
  }
  return segments;
}

/** Reads and parses /proc/sysvipc/shm: the segments of the reader's IPC namespace. */
export function readSysvShm(procRoot = '/proc'): ReadResult<ShmSegment[] | null> {
  const read = readProcText(`${procRoot}/sysvipc/shm`);
  return read.ok ? { ok: true, value: parseSysvShm(read.value) } : read;
}

/**
 * Tells a segment's state: 'orphaned' is never removed and attached nowhere, so it holds
 * its RAM (and a struct file) with no process to show for it.
 */
export function shmStatus(segment: ShmSegment): ShmStatus {
  if (segment.removed) return 'removed-attached';
  return segment.nattch === 0 ? 'orphaned' : 'attached';
}

/** Formats a key as ipcs does: the 32 bits as unsigned, "0x%08x". */
export function formatKey(key: number): string {
  return `0x${(key >>> 0).toString(16).padStart(8, '0')}`;
}
