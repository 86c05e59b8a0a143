/**
 * Who serve's per-process state is about (history series, leak series): the pid with its start
 * time, so a process that gets a pid back from one that exited starts a series of its own. Falls
 * back to the pid alone when the start time is unknown.
 */
export function processKey(process: { readonly pid: number; readonly startTicks?: number | null }): string {
  return process.startTicks === null || process.startTicks === undefined
    ? String(process.pid)
    : `${process.pid}:${process.startTicks}`;
}
