// The holder model: who holds a file and how, from facts the snapshot gathered (fd flags and
// offsets from fdinfo, mapping permissions from maps, the executable, the cgroup). Every command
// that talks about holders builds them here, so the same process is described, grouped and
// judged the same way everywhere. Pure: no /proc reads.
import type { ProcessRecord, Snapshot } from '../snapshot/types.js';
import { userManagerOf } from '../proc/cgroup.js';
import { lxcMonitorIndex, type LxcMonitor } from './lxc-monitor.js';

const O_ACCMODE = 0o3;
const O_WRONLY = 0o1;
const O_RDWR = 0o2;
const O_APPEND = 0o2000;

/** How a descriptor was opened: `read` (O_RDONLY), `write` (O_WRONLY) or `read-write` (O_RDWR). */
export type AccessMode = 'read' | 'write' | 'read-write';

/** One descriptor through which a process holds the file. */
export interface HolderDescriptor {
  readonly fd: number;
  /** Set when the fd lives only in this thread's own table. */
  readonly tid: number | null;
  /** open(2) flags from fdinfo; null when fdinfo could not be read. */
  readonly flags: number | null;
  /** The file offset (fdinfo `pos`): where its next write without O_APPEND lands. */
  readonly offsetBytes: number | null;
  /** null when the flags are unknown. */
  readonly access: AccessMode | null;
  /** O_APPEND: every write goes to the end, whatever the offset. null when unknown. */
  readonly append: boolean | null;
}

/** One mapping of the file in a process's memory. */
export interface HolderMapping {
  /** "start-end" as map_files names it. */
  readonly range: string;
  /** As maps prints them: "r-xp", "rw-s", ... */
  readonly perms: string;
  /** MAP_SHARED (`s`): its stores reach the file. */
  readonly shared: boolean;
  /** Mapped executable: code (a program or a library). */
  readonly executable: boolean;
}

/**
 * The systemd service a process runs in. `user` is set for a unit inside a user manager's
 * delegated subtree (user@1000.service/app.slice/x.service): only that manager can restart it.
 */
export interface HolderService {
  readonly unit: string;
  readonly user: { readonly uid: number; readonly name: string } | null;
}

/** A master and the workers it forked: the parent chain of processes running the same executable. */
export interface ProcessFamily {
  /** The topmost process of the family: the master (or the process itself when alone). */
  readonly topPid: number;
  readonly topComm: Buffer;
  /** Every process of the family the snapshot saw, the master first. */
  readonly pids: readonly number[];
}

/** One process that holds the file, through fds, mappings or both. */
export interface FileHolder {
  readonly pid: number;
  readonly ppid: number;
  readonly comm: Buffer;
  readonly user: string;
  readonly uid: number;
  /** The systemd unit its cgroup names (a service or a scope), as the scan saw it. */
  readonly unit: string | null;
  /** The service to restart, when it runs in one. */
  readonly service: HolderService | null;
  readonly container: string | null;
  readonly cgroup: string | null;
  /** The monitor of its LXC container (LXC, LXD or Incus tell apart by it); absent outside one. */
  readonly lxcMonitor?: LxcMonitor | null;
  readonly fds: readonly HolderDescriptor[];
  readonly mappings: readonly HolderMapping[];
  readonly family: ProcessFamily;
}

/**
 * What a holder does with the file, worst first:
 * `code` maps it executable; `reader` reads it back (O_RDONLY or O_RDWR, or flags unknown);
 * `mapped` maps it as data; `writer` writes without O_APPEND (pwrite or a positioned write);
 * `appender` only appends (O_WRONLY|O_APPEND).
 */
export type HolderUse = 'code' | 'reader' | 'mapped' | 'writer' | 'appender';

/** How one holder uses the file, through which fd or mapping. */
export interface HolderUseFact {
  readonly use: HolderUse;
  readonly pid: number;
  readonly comm: Buffer;
  /** The fd; null for a mapping. */
  readonly fd: number | null;
  /** The fd's offset; null for a mapping or when unreadable. */
  readonly offsetBytes: number | null;
  /** True when the fd's flags could not be read: judged as a reader, the safe assumption. */
  readonly flagsUnknown: boolean;
}

/** Every process of `snapshot` that holds the file `key`, with how it holds it and its family. */
export function findFileHolders(snapshot: Snapshot, key: string): FileHolder[] {
  const families = new FamilyIndex(snapshot.processes);
  const monitorOf = lxcMonitorIndex(snapshot.processes);
  const holders: FileHolder[] = [];
  for (const process of snapshot.processes) {
    const fds = process.fds
      .filter((held) => held.fileKey === key)
      .map((held) => describeDescriptor(held.fd, held.tid, held.flags ?? null, held.posBytes ?? null))
      .sort((a, b) => a.fd - b.fd);
    const mappings = process.mappings
      .filter((mapping) => mapping.fileKey === key)
      .map((mapping) => describeMapping(mapping.range, mapping.perms));
    if (fds.length === 0 && mappings.length === 0) continue;
    holders.push(toHolder(process, fds, mappings, families.familyOf(process.pid), monitorOf(process)));
  }
  return holders;
}

/** A process as a holder of nothing in particular: its service, container and family (for restart advice). */
export function describeProcess(snapshot: Snapshot, pid: number): FileHolder | null {
  const process = snapshot.processes.find((p) => p.pid === pid);
  if (!process) return null;
  const family = new FamilyIndex(snapshot.processes).familyOf(pid);
  return toHolder(process, [], [], family, lxcMonitorIndex(snapshot.processes)(process));
}

/** The family of any process of `snapshot`, computed once for many look-ups. */
export function familyIndex(snapshot: Snapshot): (pid: number) => ProcessFamily {
  const index = new FamilyIndex(snapshot.processes);
  return (pid) => index.familyOf(pid);
}

/** A descriptor's facts from its fdinfo flags. */
export function describeDescriptor(
  fd: number,
  tid: number | null,
  flags: number | null,
  offsetBytes: number | null,
): HolderDescriptor {
  if (flags === null) return { fd, tid, flags, offsetBytes, access: null, append: null };
  const mode = flags & O_ACCMODE;
  const access: AccessMode = mode === O_WRONLY ? 'write' : mode === O_RDWR ? 'read-write' : 'read';
  return { fd, tid, flags, offsetBytes, access, append: (flags & O_APPEND) !== 0 };
}

export function describeMapping(range: string, perms: string): HolderMapping {
  return { range, perms, shared: perms.charAt(3) === 's', executable: perms.charAt(2) === 'x' };
}

/** Each way the holders use the file, worst first (code, readers, mappings, writers, appenders). */
export function holderUses(holders: readonly FileHolder[]): HolderUseFact[] {
  const facts: HolderUseFact[] = [];
  for (const holder of holders) {
    const base = { pid: holder.pid, comm: holder.comm };
    if (holder.mappings.length > 0) {
      const code = holder.mappings.some((m) => m.executable);
      facts.push({
        ...base,
        use: code ? 'code' : 'mapped',
        fd: null,
        offsetBytes: null,
        flagsUnknown: false,
      });
    }
    for (const fd of holder.fds) {
      facts.push({
        ...base,
        use: useOf(fd),
        fd: fd.fd,
        offsetBytes: fd.offsetBytes,
        flagsUnknown: fd.access === null,
      });
    }
  }
  return facts.sort(
    (a, b) => USE_RANK[a.use] - USE_RANK[b.use] || a.pid - b.pid || (a.fd ?? -1) - (b.fd ?? -1),
  );
}

const USE_RANK: Readonly<Record<HolderUse, number>> = {
  code: 0,
  reader: 1,
  mapped: 2,
  writer: 3,
  appender: 4,
};

function useOf(fd: HolderDescriptor): HolderUse {
  if (fd.access === null || fd.access !== 'write') return 'reader';
  return fd.append ? 'appender' : 'writer';
}

/** The holders grouped by family, each family once, in the order of its first holder. */
export function groupByFamily(
  holders: readonly FileHolder[],
): { family: ProcessFamily; holders: FileHolder[] }[] {
  const groups = new Map<number, { family: ProcessFamily; holders: FileHolder[] }>();
  for (const holder of holders) {
    const group = groups.get(holder.family.topPid) ?? { family: holder.family, holders: [] };
    group.holders.push(holder);
    groups.set(holder.family.topPid, group);
  }
  return [...groups.values()];
}

function toHolder(
  process: ProcessRecord,
  fds: HolderDescriptor[],
  mappings: HolderMapping[],
  family: ProcessFamily,
  lxcMonitor: LxcMonitor | null,
): FileHolder {
  return {
    pid: process.pid,
    ppid: process.ppid,
    comm: process.comm,
    user: process.user,
    uid: process.uid,
    unit: process.unit,
    service: serviceOf(process),
    container: process.container,
    cgroup: process.cgroup,
    ...(lxcMonitor === null ? {} : { lxcMonitor }),
    fds,
    mappings,
    family,
  };
}

/**
 * The service that runs a process. A unit under a user manager (user@UID.service/…/x.service) is
 * that user's unit; the manager itself (user@UID.service) and login scopes are not a service to restart.
 */
export function serviceOf(
  process: Pick<ProcessRecord, 'unit' | 'cgroup' | 'user' | 'uid'>,
): HolderService | null {
  const unit = process.unit;
  // The user manager itself: restarting it would end every service of that user.
  if (!unit?.endsWith('.service') || /^user@\d+\.service$/.test(unit)) return null;
  const uid = process.cgroup === null ? null : userManagerOf(process.cgroup);
  if (uid !== null) {
    return { unit, user: { uid, name: uid === process.uid ? process.user : String(uid) } };
  }
  return { unit, user: null };
}

/**
 * Families over one snapshot: a process's master is its furthest ancestor reached through parents
 * that run the same executable (same inode; by comm when an executable is unreadable), as nginx,
 * Apache and PostgreSQL fork their workers and backends.
 */
class FamilyIndex {
  private readonly byPid: Map<number, ProcessRecord>;
  private readonly tops = new Map<number, number>();
  private members: Map<number, number[]> | null = null;

  constructor(private readonly processes: readonly ProcessRecord[]) {
    this.byPid = new Map(processes.map((p) => [p.pid, p]));
  }

  familyOf(pid: number): ProcessFamily {
    const top = this.topOf(pid);
    const members = this.membersOf(top);
    const topProcess = this.byPid.get(top);
    return { topPid: top, topComm: topProcess?.comm ?? Buffer.alloc(0), pids: members };
  }

  private topOf(pid: number): number {
    const known = this.tops.get(pid);
    if (known !== undefined) return known;
    let current = this.byPid.get(pid);
    let top = pid;
    for (let depth = 0; current && depth < 64; depth++) {
      const parent = this.byPid.get(current.ppid);
      if (!parent || !sameProgram(parent, current)) break;
      top = parent.pid;
      current = parent;
    }
    this.tops.set(pid, top);
    return top;
  }

  private membersOf(top: number): number[] {
    if (this.members === null) {
      this.members = new Map();
      for (const process of this.processes) {
        const own = this.topOf(process.pid);
        const list = this.members.get(own) ?? [];
        list.push(process.pid);
        this.members.set(own, list);
      }
      for (const [own, list] of this.members) list.sort((a, b) => (a === own ? -1 : b === own ? 1 : a - b));
    }
    return this.members.get(top) ?? [top];
  }
}

function sameProgram(parent: ProcessRecord, child: ProcessRecord): boolean {
  const a = parent.exeKey ?? null;
  const b = child.exeKey ?? null;
  if (a !== null && b !== null) return a === b && parent.comm.equals(child.comm);
  return parent.comm.equals(child.comm);
}
