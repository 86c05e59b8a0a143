// Who holds a file right now, and how, for the actions: the holder model of src/analyses/holders.ts
// with each fd's flags and offset (read now when the snapshot did not carry them), and what
// truncating the file would do to each holder. The judgement itself lives in analyses/truncation.ts.
import { describeDescriptor, findFileHolders, holderUses, type FileHolder } from '../analyses/holders.js';
import { releaseSteps } from '../analyses/programs.js';
import { describeUse } from '../analyses/truncation.js';
import { readFdInfo } from '../proc/fdinfo.js';
import type { Snapshot } from '../snapshot/types.js';

export type { FileHolder, HolderDescriptor as HeldDescriptor } from '../analyses/holders.js';

/** What truncating would do to one holder. */
export interface HolderRisk {
  /**
   * `mapped`: it maps the file (SIGBUS past the new end; `code` when executable).
   * `reader`: it reads the data back (O_RDONLY, O_RDWR, or flags unreadable): data loss.
   * `writer`: it writes without O_APPEND, so its next write leaves a hole before it.
   */
  readonly kind: 'mapped' | 'writer' | 'reader';
  readonly pid: number;
  readonly comm: Buffer;
  /** The fd; null for `mapped`. */
  readonly fd: number | null;
  /** The fd's offset; null for `mapped` or when fdinfo was unreadable. */
  readonly offsetBytes: number | null;
  /** For `mapped`: true when it maps the file executable (code: truncating it crashes the process). */
  readonly code: boolean;
  /** What would let the file go without a truncation, e.g. `systemctl restart app.service`; null when unknown. */
  readonly advice: string | null;
  /** The sentence for it (without the process in front). */
  readonly message: string;
}

const O_ACCMODE = 0o3;
const O_APPEND = 0o2000;

/** Every process of `snapshot` that holds the file `key`; fdinfo is read now for fds the scan has no flags for. */
export function findHolders(snapshot: Snapshot, key: string, procRoot: string): FileHolder[] {
  return findFileHolders(snapshot, key).map((holder) => {
    if (holder.fds.every((fd) => fd.flags !== null)) return holder;
    const fds = holder.fds.map((fd) => {
      if (fd.flags !== null) return fd;
      const owner = fd.tid === null ? holder.pid : (`${holder.pid}/task/${fd.tid}` as const);
      const info = readFdInfo(procRoot, owner, fd.fd);
      const value = info.ok ? info.value : null;
      return describeDescriptor(fd.fd, fd.tid, value?.flags ?? null, value?.pos ?? null);
    });
    return { ...holder, fds };
  });
}

/**
 * What truncating the file would do to its holders, one risk per way a holder would be hurt:
 * mapping (SIGBUS), reading the data back (data loss), writing without O_APPEND (a hole).
 * A holder that only appends is at no risk. An fd whose flags could not be read counts as a reader.
 */
export function assessRisks(holders: readonly FileHolder[], name: Buffer | null = null): HolderRisk[] {
  const steps = releaseSteps(holders, { name });
  const adviceOf = (pid: number): string | null => {
    const step = steps.find((s) => s.pids.includes(pid));
    return step ? (step.command ?? step.text) : null;
  };
  return holderUses(holders)
    .filter((use) => use.use !== 'appender')
    .map((use) => ({
      kind:
        use.use === 'code' || use.use === 'mapped' ? 'mapped' : use.use === 'reader' ? 'reader' : 'writer',
      pid: use.pid,
      comm: use.comm,
      fd: use.fd,
      offsetBytes: use.offsetBytes,
      code: use.use === 'code',
      advice: adviceOf(use.pid),
      message: describeUse(use, name, holders),
    }));
}

/** Opened for writing (O_WRONLY or O_RDWR) without O_APPEND. */
export function writesWithoutAppend(flags: number): boolean {
  const access = flags & O_ACCMODE;
  return (access === 1 || access === 2) && (flags & O_APPEND) === 0;
}

/** The descriptor or mapping through which limbo reaches a held file. */
export type Via =
  | { readonly kind: 'fd'; readonly pid: number; readonly fd: number; readonly tid: number | null }
  | { readonly kind: 'mapping'; readonly pid: number; readonly range: string };

/** One current way in: the first holder's first fd, or, when only mappings hold it, a mapping. */
export function chooseVia(holders: readonly FileHolder[]): Via | null {
  for (const holder of holders) {
    const fd = holder.fds[0];
    if (fd) return { kind: 'fd', pid: holder.pid, fd: fd.fd, tid: fd.tid };
  }
  for (const holder of holders) {
    const mapping = holder.mappings[0];
    if (mapping) return { kind: 'mapping', pid: holder.pid, range: mapping.range };
  }
  return null;
}

/** The /proc magic link of a way in: fd/N (or task/TID/fd/N), or map_files/RANGE (needs CAP_SYS_ADMIN). */
export function viaLink(procRoot: string, via: Via): string {
  if (via.kind === 'mapping') return `${procRoot}/${via.pid}/map_files/${via.range}`;
  const owner = via.tid === null ? `${via.pid}` : `${via.pid}/task/${via.tid}`;
  return `${procRoot}/${owner}/fd/${via.fd}`;
}

/** "fd 3 of pid 1234" or "mapping 7f00-7f10 of pid 1234". */
export function describeVia(via: Via): string {
  return via.kind === 'fd' ? `fd ${via.fd} of pid ${via.pid}` : `mapping ${via.range} of pid ${via.pid}`;
}

/** One risk in a sentence, without the process name (the caller puts it in front, escaped for its medium). */
export function describeRisk(risk: HolderRisk): string {
  return risk.message;
}
