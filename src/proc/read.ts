import { closeSync, openSync, readlinkSync, readSync } from 'node:fs';
import { classifyError, type ReadFailure } from '../core/errors.js';

/** The outcome of one small /proc read: the value, or why it could not be had. */
export type ReadResult<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly failure: ReadFailure };

/**
 * One buffer for every /proc read, grown when a file outgrows it. readFileSync fstat-s each file
 * for a size /proc reports as 0 and allocates per chunk: at 500 processes × 6 files a scan that is
 * 3,000 wasted fstat calls and as many short-lived buffers. Reads are synchronous, so one suffices.
 */
const SCRATCH_BYTES = 64 * 1024;
const scratch = Buffer.allocUnsafe(SCRATCH_BYTES);

/**
 * Reads a whole file. The bytes are a view of `scratch`, valid until the next read, unless
 * `owned`: a file that outgrew it (a big maps) keeps the grown buffer, and the next read starts
 * small again, so one huge file does not pin its size for the rest of the run.
 */
function readWhole(path: string): { bytes: Buffer; owned: boolean } {
  const fd = openSync(path, 'r');
  let buffer = scratch;
  try {
    let length = 0;
    for (;;) {
      if (length === buffer.length) {
        const grown = Buffer.allocUnsafe(buffer.length * 2);
        buffer.copy(grown, 0, 0, length);
        buffer = grown;
      }
      const n = readSync(fd, buffer, length, buffer.length - length, null);
      if (n === 0) return { bytes: buffer.subarray(0, length), owned: buffer !== scratch };
      length += n;
    }
  } finally {
    closeSync(fd);
  }
}

/** Reads a whole /proc text file; /proc files are small and read in one go. */
export function readProcText(path: string): ReadResult<string> {
  try {
    return { ok: true, value: readWhole(path).bytes.toString('latin1') };
  } catch (error) {
    return { ok: false, failure: classifyError(error) };
  }
}

/** Reads a /proc file as raw bytes (names in it are bytes, not text). */
export function readProcBytes(path: string): ReadResult<Buffer> {
  try {
    const { bytes, owned } = readWhole(path);
    return { ok: true, value: owned ? bytes : Buffer.from(bytes) };
  } catch (error) {
    return { ok: false, failure: classifyError(error) };
  }
}

/**
 * Reads a /proc file and parses its bytes, which are lent for the call only: a parser that keeps
 * nothing of them (it copies what it keeps) saves the copy readProcBytes makes.
 */
export function readProcParsed<T>(path: string, parse: (bytes: Buffer) => T): ReadResult<T> {
  let bytes: Buffer;
  try {
    bytes = readWhole(path).bytes;
  } catch (error) {
    return { ok: false, failure: classifyError(error) };
  }
  return { ok: true, value: parse(bytes) };
}

/** Reads a magic link's text as raw bytes. */
export function readLinkBytes(path: string): ReadResult<Buffer> {
  try {
    return { ok: true, value: readlinkSync(path, { encoding: 'buffer' }) };
  } catch (error) {
    return { ok: false, failure: classifyError(error) };
  }
}
