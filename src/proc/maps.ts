import { hasDeletedSuffix } from './deleted-name.js';
import { readProcParsed, type ReadResult } from './read.js';

/** One line of /proc/PID/maps. */
export interface MapEntry {
  /** The range as map_files names it: "start-end" in lowercase hex without padding changes. */
  readonly range: string;
  readonly perms: string;
  /** Where in the file the mapping starts, in bytes. */
  readonly offset: number;
  /** st_dev of the backing file as "MAJ:MIN" in decimal (maps prints hex). */
  readonly dev: string;
  readonly inode: bigint;
  /**
   * The name as maps prints it, as bytes: only a newline is escaped (as \012) and a
   * backslash is printed raw, so this is ambiguous; map_files gives the exact name.
   */
  readonly path: Buffer;
}

/**
 * Parses /proc/PID/maps. With `onlyDeleted`, lines not ending in " (deleted)" are skipped
 * before any parsing: the cheap pre-filter for the scan's hot path.
 */
export function parseMaps(bytes: Buffer, onlyDeleted = false): MapEntry[] {
  const entries: MapEntry[] = [];
  let start = 0;
  while (start < bytes.length) {
    let end = bytes.indexOf(10, start);
    if (end < 0) end = bytes.length;
    const line = bytes.subarray(start, end);
    start = end + 1;
    if (onlyDeleted && !hasDeletedSuffix(line)) continue;
    const entry = parseMapLine(line);
    if (entry) entries.push(entry);
  }
  return entries;
}

/** Reads /proc/PID/maps (or task/TID/maps) and parses it. */
export function readMaps(path: string, onlyDeleted = false): ReadResult<MapEntry[]> {
  // parseMaps copies every name it keeps, so the bytes are only lent.
  return readProcParsed(path, (bytes) => parseMaps(bytes, onlyDeleted));
}

function parseMapLine(line: Buffer): MapEntry | null {
  // Five space-separated fields, then padding, then the name (which may contain spaces).
  const fields: string[] = [];
  let position = 0;
  for (let i = 0; i < 5; i++) {
    const space = line.indexOf(32, position);
    if (space < 0) return null;
    fields.push(line.toString('latin1', position, space));
    position = space + 1;
  }
  while (position < line.length && line[position] === 32) position++;
  const [range, perms, offset, devHex, inode] = fields as [string, string, string, string, string];
  const devMatch = /^([0-9a-f]+):([0-9a-f]+)$/.exec(devHex);
  if (
    !devMatch ||
    !/^[0-9a-f]+-[0-9a-f]+$/.test(range) ||
    !/^\d+$/.test(inode) ||
    !/^[0-9a-f]+$/.test(offset)
  ) {
    return null;
  }
  return {
    range,
    perms,
    offset: parseInt(offset, 16),
    dev: `${parseInt(devMatch[1] ?? '0', 16)}:${parseInt(devMatch[2] ?? '0', 16)}`,
    inode: BigInt(inode),
    path: unescapeNewlines(line.subarray(position)),
  };
}

function unescapeNewlines(name: Buffer): Buffer {
  const escaped = Buffer.from('\\012');
  if (name.indexOf(escaped) < 0) return Buffer.from(name);
  const parts: Buffer[] = [];
  let from = 0;
  for (let at = name.indexOf(escaped); at >= 0; at = name.indexOf(escaped, from)) {
    parts.push(name.subarray(from, at), Buffer.from('\n'));
    from = at + escaped.length;
  }
  parts.push(name.subarray(from));
  return Buffer.concat(parts);
}
