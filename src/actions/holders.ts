// Who holds a file right now, and how: which fds (with their open flags and offset) and which
// mappings. From that, what truncating the file would do to each of them.
import { formatBytes } from '../format/size.js';
import { readFdInfo } from '../proc/fdinfo.js';
import type { ProcessRecord, Snapshot } from '../snapshot/types.js';

/** One descriptor through which a process holds the file. */
export interface HeldDescriptor {
  readonly fd: number;
  /** Set when the fd lives only in this thread's own table. */
  readonly tid: number | null;
  /** open(2) flags from fdinfo; null when fdinfo could not be read. */
  readonly flags: number | null;
  /** The file offset (fdinfo `pos`): where its next write without O_APPEND lands. */
  readonly offsetBytes: number | null;
}

/** One process that holds the file, through fds, mappings or both. */
export interface FileHolder {
  readonly pid: number;
  readonly ppid: number;
  readonly comm: Buffer;
  readonly user: string;
  readonly unit: string | null;
  readonly fds: readonly HeldDescriptor[];
  /** Its mappings of the file: "start-end" ranges and maps perms ("r--s", "r-xp"). */
  readonly mappings: readonly { readonly range: string; readonly perms: string }[];
}

/** What truncating would do to one holder. */
export interface HolderRisk {
  /**
   * `mapped`: it maps the file, and any access past the new end raises SIGBUS.
   * `writer`: it writes without O_APPEND, so its next write recreates the old size as a hole.
   */
  readonly kind: 'mapped' | 'writer';
  readonly pid: number;
  readonly comm: Buffer;
  /** The writing fd; null for `mapped`. */
  readonly fd: number | null;
  /** Where that fd's next write lands; null for `mapped` or when fdinfo was unreadable. */
  readonly offsetBytes: number | null;
  /** For `mapped`: true when it maps the file executable (code: truncating it crashes the process). */
  readonly code: boolean;
  /** What would let the file go without a truncation, e.g. `systemctl restart app.service`; null when unknown. */
  readonly advice: string | null;
}

const O_ACCMODE = 0o3;
const O_APPEND = 0o2000;

/**
 * Programs known to reopen their log files on a signal, and which one. nginx and Apache
 * reopen on SIGUSR1 (sent to the master), rsyslog and syslog-ng on SIGHUP, dnsmasq on SIGUSR2.
 */
const LOG_REOPEN_SIGNALS: Readonly<Record<string, string>> = {
  nginx: 'USR1',
  apache2: 'USR1',
  httpd: 'USR1',
  rsyslogd: 'HUP',
  'syslog-ng': 'HUP',
  dnsmasq: 'USR2',
};

/** Every process of `snapshot` that holds the file `key`, with its fds' flags read from fdinfo now. */
export function findHolders(snapshot: Snapshot, key: string, procRoot: string): FileHolder[] {
  const holders: FileHolder[] = [];
  for (const process of snapshot.processes) {
    const fds = process.fds
      .filter((held) => held.fileKey === key)
      .map((held) => {
        const owner = held.tid === null ? process.pid : (`${process.pid}/task/${held.tid}` as const);
        const info = readFdInfo(procRoot, owner, held.fd);
        const value = info.ok ? info.value : null;
        return { fd: held.fd, tid: held.tid, flags: value?.flags ?? null, offsetBytes: value?.pos ?? null };
      })
      .sort((a, b) => a.fd - b.fd);
    const mappings = process.mappings
      .filter((mapping) => mapping.fileKey === key)
      .map((mapping) => ({ range: mapping.range, perms: mapping.perms }));
    if (fds.length === 0 && mappings.length === 0) continue;
    holders.push({
      pid: process.pid,
      ppid: process.ppid,
      comm: process.comm,
      user: process.user,
      unit: process.unit,
      fds,
      mappings,
    });
  }
  return holders;
}

/**
 * What truncating the file would do to its holders: a risk per mapping holder (SIGBUS past
 * the new end) and per fd that may write without O_APPEND (its next write recreates the old
 * size as a sparse file). An fd whose flags could not be read counts as a writer.
 */
export function assessRisks(holders: readonly FileHolder[], snapshot: Snapshot): HolderRisk[] {
  const risks: HolderRisk[] = [];
  for (const holder of holders) {
    const advice = adviceFor(holder, snapshot);
    if (holder.mappings.length > 0) {
      risks.push({
        kind: 'mapped',
        pid: holder.pid,
        comm: holder.comm,
        fd: null,
        offsetBytes: null,
        code: holder.mappings.some((m) => m.perms.charAt(2) === 'x'),
        advice,
      });
    }
    for (const fd of holder.fds) {
      if (fd.flags !== null && !writesWithoutAppend(fd.flags)) continue;
      risks.push({
        kind: 'writer',
        pid: holder.pid,
        comm: holder.comm,
        fd: fd.fd,
        offsetBytes: fd.offsetBytes,
        code: false,
        advice,
      });
    }
  }
  return risks;
}

/** Opened for writing (O_WRONLY or O_RDWR) without O_APPEND. */
export function writesWithoutAppend(flags: number): boolean {
  const access = flags & O_ACCMODE;
  return (access === 1 || access === 2) && (flags & O_APPEND) === 0;
}

/**
 * The better fix than a truncation, where there is one to name: a log-reopen signal for the
 * programs known to honour one (sent to the topmost process of the same name: the master),
 * and a restart of its systemd service.
 */
function adviceFor(holder: FileHolder, snapshot: Snapshot): string | null {
  const parts: string[] = [];
  const comm = holder.comm.toString('latin1');
  const signal = LOG_REOPEN_SIGNALS[comm];
  if (signal) {
    const master = topmostNamesake(holder, snapshot);
    parts.push(`make it reopen its logs: kill -${signal} ${master} (${comm} reopens them on SIG${signal})`);
  }
  if (holder.unit?.endsWith('.service')) parts.push(`restart it: systemctl restart ${holder.unit}`);
  return parts.length > 0 ? parts.join('; or ') : null;
}

function topmostNamesake(holder: FileHolder, snapshot: Snapshot): number {
  const byPid = new Map<number, ProcessRecord>(snapshot.processes.map((p) => [p.pid, p]));
  let pid = holder.pid;
  let parent = byPid.get(holder.ppid);
  for (let depth = 0; parent && depth < 16 && parent.comm.equals(holder.comm); depth++) {
    pid = parent.pid;
    parent = byPid.get(parent.ppid);
  }
  return pid;
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

/**
 * One risk in a sentence, without the process name (the caller puts it in front, escaped for
 * its medium). The offset is where the writer's next write lands: the size the file grows back to.
 */
export function describeRisk(risk: HolderRisk): string {
  if (risk.kind === 'mapped') {
    return risk.code
      ? 'maps it as code: truncating it crashes the process (SIGBUS)'
      : 'maps it in memory: any access past the new end raises SIGBUS in it';
  }
  if (risk.offsetBytes === null) {
    return `may write through fd ${risk.fd} without O_APPEND (its flags could not be read): its next write would recreate the old size as a zero-filled hole`;
  }
  if (risk.offsetBytes === 0) {
    return `writes through fd ${risk.fd} without O_APPEND, at offset 0: it starts over from the beginning`;
  }
  const at = formatBytes(risk.offsetBytes);
  return (
    `writes through fd ${risk.fd} without O_APPEND at offset ${at}: its next write makes the file ${at} ` +
    `again plus what it writes, a sparse file whose first ${at} read as zeros`
  );
}
