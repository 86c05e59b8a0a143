import { existsSync, readdirSync, statfsSync } from 'node:fs';
import { errnoOf } from '../core/errors.js';

/** statfs f_type of procfs (include/uapi/linux/magic.h PROC_SUPER_MAGIC). */
const PROC_SUPER_MAGIC = 0x9fa0;

/**
 * Why `dir` cannot serve as a /proc root, or null when it can: a mounted proc filesystem, or a
 * tree (a copy, a fixture) with the files a scan reads: sys/fs/file-nr and a PID/status. An empty
 * or wrong directory would otherwise scan as a machine with no processes, and report "OK".
 */
export function procRootProblem(dir: string): string | null {
  let type: number;
  try {
    type = Number(statfsSync(dir).type);
  } catch (error) {
    return errnoOf(error) ?? 'cannot statfs it';
  }
  if (type === PROC_SUPER_MAGIC) return null;
  let hasProcess: boolean;
  try {
    hasProcess = readdirSync(dir).some((name) => /^\d+$/.test(name) && existsSync(`${dir}/${name}/status`));
  } catch (error) {
    return errnoOf(error) ?? 'cannot list it';
  }
  if (hasProcess && existsSync(`${dir}/sys/fs/file-nr`)) return null;
  return `not a proc filesystem (statfs type 0x${type.toString(16)}), and no PID/status and sys/fs/file-nr in it`;
}
