import { readdirSync } from 'node:fs';

/** The numeric entries of a /proc root, ascending: every process visible there. */
export function listPids(procRoot: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync(procRoot)) {
    const code = entry.charCodeAt(0);
    if (code >= 48 && code <= 57) pids.push(Number(entry));
  }
  return pids.sort((a, b) => a - b);
}
