// Copies a file's bytes without filling its holes, so a 1 GiB sparse file stays sparse.
// With the native addon: lseek(SEEK_DATA/SEEK_HOLE) finds the data ranges and only those are
// read and written; holes are never read. Without it: every block is read, and blocks that are
// all zeros are not written (positional writes leave them as holes on tmpfs, ext4, xfs, btrfs),
// as `cp --sparse=always` does: zeros the source had allocated become holes in the copy.
import { readSync, writeSync } from 'node:fs';
import { nativeAddon } from '../native.js';

/** How holes were kept: from the filesystem's own map, or by finding zero blocks. */
export type HoleMethod = 'seek-data' | 'zero-blocks';

export interface CopyOutcome {
  /** Bytes read and written (the data ranges). */
  readonly dataBytes: number;
  /** Bytes the copy actually read from the source: holes skipped by SEEK_HOLE are never read. */
  readonly readBytes: number;
  readonly method: HoleMethod;
}

const SEEK_DATA = 3;
const SEEK_HOLE = 4;
const ENXIO = 6;
const CHUNK = 1024 * 1024;
const BLOCK = 4096;

/**
 * Copies bytes [0, size) of `source` into `dest` at the same offsets; what is not written
 * stays a hole (the caller sets the final size with ftruncate). `onProgress` gets the offset
 * reached; `method` forces one way (the default: seek-data when the addon has it). Throws on a
 * read or write error (ENOSPC, EIO).
 */
export function copySparse(
  source: number,
  dest: number,
  size: number,
  options: { readonly onProgress?: (doneBytes: number) => void; readonly method?: HoleMethod } = {},
): CopyOutcome {
  const { onProgress } = options;
  const seek = nativeAddon()?.seekData;
  if (typeof seek === 'function' && options.method !== 'zero-blocks') {
    const first = seek(source, 0, SEEK_DATA);
    // EINVAL or another failure: the filesystem cannot say; fall back to looking at the bytes.
    if (first >= 0 || first === -ENXIO) return copyDataRanges(source, dest, size, seek, onProgress);
  }
  return copySkippingZeros(source, dest, size, onProgress);
}

function copyDataRanges(
  source: number,
  dest: number,
  size: number,
  seek: (fd: number, offset: number, whence: number) => number,
  onProgress?: (doneBytes: number) => void,
): CopyOutcome {
  const buffer = Buffer.allocUnsafe(CHUNK);
  let dataBytes = 0;
  let offset = 0;
  while (offset < size) {
    const data = seek(source, offset, SEEK_DATA);
    if (data === -ENXIO || data >= size) break;
    if (data < 0) throw errnoError(-data, 'lseek SEEK_DATA');
    const holeAt = seek(source, data, SEEK_HOLE);
    const end = holeAt < 0 ? size : Math.min(holeAt, size);
    for (let position = data; position < end;) {
      const read = readSync(source, buffer, 0, Math.min(CHUNK, end - position), position);
      if (read === 0) return { dataBytes, readBytes: dataBytes, method: 'seek-data' }; // it shrank
      writeAll(dest, buffer, 0, read, position);
      position += read;
      dataBytes += read;
      onProgress?.(position);
    }
    offset = end;
  }
  onProgress?.(size);
  return { dataBytes, readBytes: dataBytes, method: 'seek-data' };
}

function copySkippingZeros(
  source: number,
  dest: number,
  size: number,
  onProgress?: (doneBytes: number) => void,
): CopyOutcome {
  const buffer = Buffer.allocUnsafe(CHUNK);
  const zeros = Buffer.alloc(BLOCK);
  let dataBytes = 0;
  let readBytes = 0;
  for (let position = 0; position < size;) {
    const read = readSync(source, buffer, 0, Math.min(CHUNK, size - position), position);
    if (read === 0) break; // it shrank while we copied
    readBytes += read;
    // Write each run of blocks that are not all zeros, at its own offset.
    let runStart = -1;
    const flush = (end: number): void => {
      writeAll(dest, buffer, runStart, end - runStart, position + runStart);
      dataBytes += end - runStart;
      runStart = -1;
    };
    for (let at = 0; at < read; at += BLOCK) {
      const end = Math.min(at + BLOCK, read);
      const zero = buffer.subarray(at, end).equals(zeros.subarray(0, end - at));
      if (!zero && runStart < 0) runStart = at;
      else if (zero && runStart >= 0) flush(at);
    }
    if (runStart >= 0) flush(read);
    position += read;
    onProgress?.(position);
  }
  return { dataBytes, readBytes, method: 'zero-blocks' };
}

function writeAll(fd: number, buffer: Buffer, offset: number, length: number, position: number): void {
  for (let done = 0; done < length;) {
    done += writeSync(fd, buffer, offset + done, length - done, position + done);
  }
}

function errnoError(errno: number, what: string): NodeJS.ErrnoException {
  const error: NodeJS.ErrnoException = new Error(`${what} failed: errno ${errno}`);
  error.errno = errno;
  return error;
}
