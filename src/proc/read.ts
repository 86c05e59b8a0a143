import { closeSync, openSync, readlinkSync, readSync } from 'node:fs';
import { classifyError, type ReadFailure } from '../core/errors.js';

/** The outcome of one small /proc read: the value, or why it could not be had. */
export type ReadResult<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly failure: ReadFailure };

/**
 * One buffer for every read, grown when a file is larger: a scan reads thousands of small /proc
 * files, and readFileSync gives each (st_size 0) an fstat and a fresh 64 KiB buffer, garbage at once.
 */
let scratch = Buffer.allocUnsafe(1 << 16);

/** Reads a whole file into `scratch` until read(2) says end of file; its length. */
function readWhole(path: string): number {
  const fd = openSync(path, 'r');
  try {
    let length = 0;
    for (;;) {
      if (length === scratch.length) {
        const grown = Buffer.allocUnsafe(scratch.length * 2);
        scratch.copy(grown, 0, 0, length);
        scratch = grown;
      }
      const n = readSync(fd, scratch, length, scratch.length - length, null);
      if (n === 0) return length;
      length += n;
    }
  } finally {
    closeSync(fd);
  }
}

/** Reads a whole /proc text file; /proc files are small and read in one go. */
export function readProcText(path: string): ReadResult<string> {
  try {
    const length = readWhole(path); // first: it may grow `scratch`
    return { ok: true, value: scratch.toString('latin1', 0, length) };
  } catch (error) {
    return { ok: false, failure: classifyError(error) };
  }
}

/** Reads a /proc file as raw bytes (names in it are bytes, not text). */
export function readProcBytes(path: string): ReadResult<Buffer> {
  try {
    const length = readWhole(path); // first: it may grow `scratch`
    return { ok: true, value: Buffer.from(scratch.subarray(0, length)) };
  } catch (error) {
    return { ok: false, failure: classifyError(error) };
  }
}

/** Reads a magic link's text as raw bytes. */
export function readLinkBytes(path: string): ReadResult<Buffer> {
  try {
    return { ok: true, value: readlinkSync(path, { encoding: 'buffer' }) };
  } catch (error) {
    return { ok: false, failure: classifyError(error) };
  }
}
