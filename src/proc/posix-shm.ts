import { lstatSync, readdirSync } from 'node:fs';
import { classifyError } from '../core/errors.js';
import type { ReadResult } from './read.js';

/** One POSIX shared memory object: a file in /dev/shm (shm_open names it without the directory). */
export interface PosixShmObject {
  /** Its name under /dev/shm, as bytes may be anything: raw. */
  readonly name: Buffer;
  readonly uid: number;
  readonly sizeBytes: number;
  /** st_blocks × 512: the RAM (tmpfs pages) it holds. */
  readonly allocatedBytes: number;
}

/** Lists the regular files directly in a tmpfs directory (default /dev/shm); subdirectories are not shm_open objects. */
export function readPosixShm(dir = '/dev/shm'): ReadResult<PosixShmObject[]> {
  let names: Buffer[];
  try {
    names = readdirSync(dir, { encoding: 'buffer' });
  } catch (error) {
    return { ok: false, failure: classifyError(error) };
  }
  const objects: PosixShmObject[] = [];
  for (const name of names) {
    try {
      const st = lstatSync(Buffer.concat([Buffer.from(`${dir}/`), name]));
      if (!st.isFile()) continue;
      objects.push({ name, uid: st.uid, sizeBytes: st.size, allocatedBytes: st.blocks * 512 });
    } catch {
      // removed while we looked
    }
  }
  return { ok: true, value: objects };
}
