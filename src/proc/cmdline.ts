import { readProcBytes, type ReadResult } from './read.js';

/**
 * Parses /proc/PID/cmdline: the arguments, each ended by a NUL. A process that rewrote its
 * argument area (setproctitle, as LXC's monitor does: "[lxc monitor] LXCPATH NAME") reads as
 * one argument; a missing final NUL (an overwritten area) still ends the last one.
 */
export function parseCmdline(bytes: Buffer): Buffer[] {
  const args: Buffer[] = [];
  let start = 0;
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] !== 0) continue;
    args.push(bytes.subarray(start, i));
    start = i + 1;
  }
  if (start < bytes.length) args.push(bytes.subarray(start));
  return args;
}

/** Reads and parses /proc/PID/cmdline; empty for a kernel thread or a zombie. */
export function readCmdline(procRoot: string, pid: number): ReadResult<Buffer[]> {
  const read = readProcBytes(`${procRoot}/${pid}/cmdline`);
  return read.ok ? { ok: true, value: parseCmdline(read.value) } : read;
}
