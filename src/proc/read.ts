import { readFileSync, readlinkSync } from 'node:fs';
import { classifyError, type ReadFailure } from '../core/errors.js';

/** The outcome of one small /proc read: the value, or why it could not be had. */
export type ReadResult<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly failure: ReadFailure };

/** Reads a whole /proc text file; /proc files are small and read in one go. */
export function readProcText(path: string): ReadResult<string> {
  try {
    return { ok: true, value: readFileSync(path, 'latin1') };
  } catch (error) {
    return { ok: false, failure: classifyError(error) };
  }
}

/** Reads a /proc file as raw bytes (names in it are bytes, not text). */
export function readProcBytes(path: string): ReadResult<Buffer> {
  try {
    return { ok: true, value: readFileSync(path) };
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
