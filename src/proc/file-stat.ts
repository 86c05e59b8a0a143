import { statfsSync, statSync } from 'node:fs';
import { classifyError } from '../core/errors.js';
import type { ReadResult } from './read.js';

/** What stat says about an open file: identity, links and space. */
export interface FileStat {
  /** st_dev as "MAJ:MIN". */
  readonly dev: string;
  readonly ino: bigint;
  readonly nlink: number;
  /** st_size in bytes. */
  readonly sizeBytes: number;
  /** st_blocks × 512: what the filesystem really holds for it. */
  readonly allocatedBytes: number;
  readonly mode: number;
}

/** stat() through a /proc magic link: follows the open file itself, never its displayed name. */
export function statThrough(path: string): ReadResult<FileStat> {
  try {
    const st = statSync(path, { bigint: true });
    return {
      ok: true,
      value: {
        dev: formatDev(st.dev),
        ino: st.ino,
        nlink: Number(st.nlink),
        sizeBytes: Number(st.size),
        allocatedBytes: Number(st.blocks) * 512,
        mode: Number(st.mode),
      },
    };
  } catch (error) {
    return { ok: false, failure: classifyError(error) };
  }
}

/** statfs() through a /proc magic link: the f_type (filesystem magic) of the open file's filesystem. */
export function fsTypeThrough(path: string): ReadResult<number> {
  try {
    return { ok: true, value: statfsSync(path).type };
  } catch (error) {
    return { ok: false, failure: classifyError(error) };
  }
}

/** Splits glibc's dev_t encoding into "MAJ:MIN". */
export function formatDev(dev: bigint): string {
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn);
  const minor = (dev & 0xffn) | ((dev >> 12n) & 0xffffff00n);
  return `${major}:${minor}`;
}
