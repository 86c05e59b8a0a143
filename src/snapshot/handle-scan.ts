import { readlinkSync } from 'node:fs';
import { nativeAddon } from '../native.js';
import { stripDeletedSuffix } from '../proc/deleted-name.js';
import { classifyFdLinkText, MQUEUE_MAGIC } from '../proc/fd-kind.js';
import type { FdEntries } from '../proc/fd-table.js';
import { readFdInfo } from '../proc/fdinfo.js';
import { readFileNr, readNrOpen } from '../proc/file-nr.js';
import { fsTypeThrough, statThrough } from '../proc/file-stat.js';
import type { MapEntry } from '../proc/maps.js';
import { readSocketProtocolName, readSocketProtocols, type SocketProtocol } from '../proc/net-sockets.js';
import { readStatus } from '../proc/status.js';
import type { ProcessHandles, SystemHandles } from './types.js';

const KCMP_FILE = 0;
const ESRCH = 3;
const EBADF = 9;

type Kcmp = (p1: number, p2: number, type: number, a: number, b: number) => number;

/** One descriptor, as the grouping into open file descriptions needs it. */
interface Descriptor {
  readonly pid: number;
  /** The task kcmp is asked about: the pid, or the tid of a thread with its own table. */
  readonly task: number;
  readonly fd: number;
}

interface ProcessDraft {
  readonly pid: number;
  readonly ppid: number;
  readonly fdTypes: Record<string, number>;
  readonly socketProtocols: Record<string, number>;
  readonly anonInodes: Record<string, number>;
  /** Names of the files its fds hold, to leave out mappings that share an fd's struct file. */
  readonly fdPaths: Set<string>;
  /** Its fd tables as read, to match mappings to fds by device and inode once the maps are in. */
  readonly tables: { readonly task: number; readonly entries: FdEntries }[];
  /** Sockets its own namespace's /proc/net tables do not list, named in finish(). */
  readonly unlistedSockets: {
    readonly task: number;
    readonly fd: number;
    readonly inode: number;
    readonly link: string;
  }[];
  /** "range|fileKey" of its file-backed mappings, to spot what a child inherited by fork. */
  readonly mappingIds: Set<string>;
  /** Per file key: its name, inode, how many mappings start at file offset 0, and their address ranges. */
  readonly mappingsByFile: Map<string, { name: string; inode: bigint; atStart: number; ranges: string[] }>;
  shmAttachments: number;
  /** "range|dev:shmid" of its attaches, to spot those a fork copied from its parent. */
  readonly shmAttachIds: string[];
}

/**
 * Builds the file-handle ledger during a scan: types every descriptor, groups descriptors into
 * open file descriptions (kcmp where the kernel allows it), and estimates the struct files that
 * only memory mappings hold.
 */
export class HandleScan {
  private readonly drafts = new Map<number, ProcessDraft>();
  /** Descriptors that might share a description, by what they refer to. */
  private readonly groups = new Map<string, Descriptor[]>();
  private readonly socketTables = new Map<string, Map<number, SocketProtocol>>();
  private readonly unixSockets: { task: number; fd: number }[] = [];
  private readonly seenUnixSockets = new Set<string>();
  /** Per minor of an anonymous device (major 0): whether it is a POSIX mqueue filesystem. */
  private readonly mqueueDevices = new Map<number, boolean>();

  constructor(private readonly procRoot: string) {}

  /** Records one process and its limit; call before its tables and maps. */
  addProcess(pid: number, ppid: number): void {
    this.drafts.set(pid, {
      pid,
      ppid,
      fdTypes: {},
      socketProtocols: {},
      anonInodes: {},
      fdPaths: new Set(),
      tables: [],
      unlistedSockets: [],
      mappingIds: new Set(),
      mappingsByFile: new Map(),
      shmAttachments: 0,
      shmAttachIds: [],
    });
  }

  /** Types and groups every descriptor of one fd table (the hot loop: 100,000 fds, no Buffers). */
  addTable(pid: number, task: number, entries: FdEntries): void {
    const draft = this.drafts.get(pid);
    if (!draft) return;
    const protocols = this.socketProtocolsOf(pid);
    draft.tables.push({ task, entries });
    const { fds, links, modes, majors, minors } = entries;
    for (let i = 0; i < fds.length; i++) {
      const fd = fds[i] as number;
      const link = links[i] ?? null;
      const kind = link === null ? null : classifyFdLinkText(link, modes[i]);
      let type = kind?.kind ?? 'regular';
      if (
        kind?.basis === 'mode' &&
        type === 'regular' &&
        majors[i] === 0 &&
        this.isMqueueDevice(task, fd, minors[i] as number)
      ) {
        type = 'mqueue';
      }
      draft.fdTypes[type] = (draft.fdTypes[type] ?? 0) + 1;
      if (kind?.anonType) draft.anonInodes[kind.anonType] = (draft.anonInodes[kind.anonType] ?? 0) + 1;
      if (kind?.kind === 'socket' && kind.inode !== null) {
        const protocol = protocols.get(kind.inode);
        if (protocol === undefined)
          draft.unlistedSockets.push({ task, fd, inode: kind.inode, link: link as string });
        else this.countSocket(draft, protocol, task, fd, link as string);
      }
      if (type === 'regular' || type === 'memfd') draft.fdPaths.add(stripDeletedSuffix(link ?? ''));
      // fds that share a struct file show the same text (one f_path, or one socket or pipe inode),
      // so only fds with identical text can share a description.
      const key = link ?? `unreadable:${task}:${fd}`;
      const group = this.groups.get(key);
      if (group) group.push({ pid, task, fd });
      else this.groups.set(key, [{ pid, task, fd }]);
    }
  }

  /** Notes the process's file-backed mappings and SysV attaches from its full maps. */
  addMaps(pid: number, entries: readonly MapEntry[]): void {
    const draft = this.drafts.get(pid);
    if (!draft) return;
    for (const entry of entries) {
      if (entry.inode === 0n) continue; // anonymous memory, heap, stack, vdso
      if (entry.path.subarray(0, 5).toString('latin1') === '/SYSV') {
        // An mprotect splits one attach into several mappings; only its first starts at offset 0.
        if (entry.offset === 0) {
          draft.shmAttachments++;
          draft.shmAttachIds.push(`${entry.range}|${entry.dev}:${entry.inode}`);
        }
        continue;
      }
      const key = `${entry.dev}:${entry.inode}`;
      draft.mappingIds.add(`${entry.range}|${key}`);
      const file = draft.mappingsByFile.get(key) ?? {
        name: stripDeletedSuffix(entry.path.toString('latin1')),
        inode: entry.inode,
        atStart: 0,
        ranges: [],
      };
      if (entry.offset === 0) file.atStart++;
      file.ranges.push(entry.range);
      draft.mappingsByFile.set(key, file);
    }
  }

  /**
   * Groups descriptors into descriptions and settles every count; returns per-process and system
   * figures, and the processes that exited while the scan ran (the caller drops them). A process
   * that vanished is a normal event: its descriptors leave every group, and only a group kcmp
   * refused is an estimate, so one exit never downgrades anyone else's count.
   */
  finish(): { processes: Map<number, ProcessHandles>; system: SystemHandles; vanished: ReadonlySet<number> } {
    this.nameUnlistedSockets();
    const vanished = new Set<number>();
    const closed = new Set<Descriptor>();
    const kcmp = nativeAddon()?.kcmp;
    const settledGroups: Descriptor[][][] = [];
    let exact = true;
    for (const group of this.groups.values()) {
      let members = group;
      let descriptions: Descriptor[][] | null;
      for (;;) {
        members = members.filter((m) => !vanished.has(m.pid) && !closed.has(m));
        if (members.length <= 1) {
          descriptions = members.length === 1 ? [members] : [];
          break;
        }
        const split = splitDescriptions(members, kcmp);
        if (split === null || !('gone' in split)) {
          descriptions = split;
          break;
        }
        for (const { member, errno } of split.gone) {
          if (errno === ESRCH || this.hasExited(member.task)) vanished.add(member.pid);
          else closed.add(member); // the fd was closed mid-scan: that descriptor is gone, not its process
        }
      }
      if (descriptions === null) exact = false;
      settledGroups.push(descriptions ?? estimateDescriptions(members));
    }
    const openFilesOf = new Map<number, number>();
    let openFiles = 0;
    for (const settled of settledGroups) {
      for (const description of settled) {
        // A process found gone in a later group leaves the descriptions counted before.
        const live = description.filter((m) => !vanished.has(m.pid));
        if (live.length === 0) continue;
        openFiles++;
        countDescription(live, openFilesOf);
      }
    }

    const processes = new Map<number, ProcessHandles>();
    let shmAttachFiles = 0;
    for (const draft of this.drafts.values()) {
      if (vanished.has(draft.pid)) continue;
      // fork copies an attach without a new struct file: it is the parent's, at the same address.
      const parent = this.drafts.get(draft.ppid);
      const parentIds = new Set(parent?.shmAttachIds ?? []);
      shmAttachFiles += draft.shmAttachIds.filter((id) => !parentIds.has(id)).length;
      processes.set(draft.pid, {
        fdTypes: draft.fdTypes,
        socketProtocols: draft.socketProtocols,
        anonInodes: draft.anonInodes,
        openFiles: openFilesOf.get(draft.pid) ?? 0,
        mappingFiles: this.estimateMappingFiles(draft),
        shmAttachments: draft.shmAttachments,
      });
    }
    return {
      processes,
      system: {
        ...readSystemCounts(this.procRoot),
        openFiles,
        openFilesExact: exact,
        fdsInFlight: countFdsInFlight(this.procRoot, this.unixSockets),
        mappingsExact: false,
        shmAttachFiles,
      },
      vanished,
    };
  }

  /** True when a task has exited (a zombie's fd table is gone: kcmp says EBADF, not ESRCH). */
  private hasExited(task: number): boolean {
    const status = readStatus(this.procRoot, task);
    return !status.ok || status.value === null || status.value.state === 'Z' || status.value.state === 'X';
  }

  /**
   * Struct files held by mappings alone. An ELF loader or ld.so maps a file's segments from one
   * open, and only the first segment starts at offset 0; later mprotect splits share that file
   * too. So per file, the mappings that start at offset 0 estimate how many separate opens were
   * mapped (at least one). A mapping its parent has at the same address was inherited by fork
   * and shares the parent's file; a file the process also holds by an fd likely shares the fd's.
   */
  private estimateMappingFiles(draft: ProcessDraft): number {
    const parent = this.drafts.get(draft.ppid);
    let fdFiles: Set<string> | null = null;
    let total = 0;
    for (const [key, { name, atStart, ranges }] of draft.mappingsByFile) {
      if (parent && ranges.some((range) => parent.mappingIds.has(`${range}|${key}`))) continue;
      const heldByFd = draft.fdPaths.has(name) || (fdFiles ??= this.fdFilesOf(draft)).has(key);
      total += Math.max(1, atStart) - (heldByFd ? 1 : 0);
    }
    return total;
  }

  /**
   * "dev:inode" of every fd's file that one of the process's mappings also maps. A path link's
   * comes with the scan; a socket, anon inode or pipe is stat-ed only when a mapping carries its
   * link text (an io_uring ring, a PACKET_MMAP ring, a mapped BPF map), so a process that maps
   * none costs no stat. Several bpf-map (and other shared anon inode) files share one inode:
   * their mapping matches any fd of that kind, the kernel tells no more.
   */
  private fdFilesOf(draft: ProcessDraft): Set<string> {
    const inodes = new Set<bigint>();
    const names = new Set<string>();
    for (const { name, inode } of draft.mappingsByFile.values()) {
      inodes.add(inode);
      if (!name.startsWith('/')) names.add(name);
    }
    const files = new Set<string>();
    for (const { task, entries } of draft.tables) {
      const { fds, links, majors, minors, inos } = entries;
      for (let i = 0; i < fds.length; i++) {
        const ino = inos[i] as bigint;
        if (ino !== 0n) {
          if (inodes.has(ino)) files.add(`${majors[i]}:${minors[i]}:${ino}`);
          continue;
        }
        const link = links[i];
        if (link === null || link === undefined || !names.has(link)) continue;
        const stat = statThrough(`${this.procRoot}/${task}/fd/${fds[i]}`);
        if (stat.ok) files.add(`${stat.value.dev}:${stat.value.ino}`);
      }
    }
    return files;
  }

  /** Whether an anonymous device (major 0) is a POSIX mqueue filesystem: one statfs per device. */
  private isMqueueDevice(task: number, fd: number, minor: number): boolean {
    let known = this.mqueueDevices.get(minor);
    if (known === undefined) {
      const type = fsTypeThrough(`${this.procRoot}/${task}/fd/${fd}`);
      if (!type.ok) return false; // the fd went away: ask again at the next one on this device
      known = type.value === MQUEUE_MAGIC;
      this.mqueueDevices.set(minor, known);
    }
    return known;
  }

  private countSocket(draft: ProcessDraft, protocol: string, task: number, fd: number, link: string): void {
    draft.socketProtocols[protocol] = (draft.socketProtocols[protocol] ?? 0) + 1;
    if (protocol === 'unix' && !this.seenUnixSockets.has(link)) {
      this.seenUnixSockets.add(link);
      this.unixSockets.push({ task, fd });
    }
  }

  /**
   * Names the sockets their process's own namespace does not list. Socket inodes are unique
   * across namespaces, so the tables of every namespace read (through a process inside it)
   * name a socket made in another namespace and passed out or kept across setns. What no
   * table lists (never bound, or of a namespace no process is in) the addon asks sockfs for;
   * without the addon it stays `other`.
   */
  private nameUnlistedSockets(): void {
    let everyTable: Map<number, SocketProtocol> | null = null;
    for (const draft of this.drafts.values()) {
      for (const { task, fd, inode, link } of draft.unlistedSockets) {
        everyTable ??= new Map([...this.socketTables.values()].flatMap((table) => [...table]));
        const protocol =
          everyTable.get(inode) ?? readSocketProtocolName(`${this.procRoot}/${task}/fd/${fd}`) ?? 'other';
        this.countSocket(draft, protocol, task, fd, link);
      }
    }
  }

  /** Socket inode → protocol, from the /proc/net tables of the process's network namespace. */
  private socketProtocolsOf(pid: number): Map<number, SocketProtocol> {
    let netns: string;
    try {
      netns = readlinkSync(`${this.procRoot}/${pid}/ns/net`);
    } catch {
      netns = 'unknown';
    }
    let table = this.socketTables.get(netns);
    if (!table) {
      const read = readSocketProtocols(this.procRoot, pid);
      table = read.ok ? read.value : new Map();
      this.socketTables.set(netns, table);
    }
    return table;
  }
}

/**
 * fds in SCM_RIGHTS messages not yet received: `scm_fds` of one fd of each unix socket (root
 * only); null when none could be read.
 */
export function countFdsInFlight(
  procRoot: string,
  unixSockets: readonly { readonly task: number; readonly fd: number }[],
): number | null {
  let total = 0;
  let read = 0;
  for (const { task, fd } of unixSockets) {
    const info = readFdInfo(procRoot, task, fd);
    if (!info.ok || info.value === null) continue;
    read++;
    total += info.value.scmFds ?? 0;
  }
  return read === 0 && unixSockets.length > 0 ? null : total;
}

/** file-nr and nr_open, read last so that file-nr is as close as it can be to the fds counted. */
export function readSystemCounts(procRoot: string): Pick<SystemHandles, 'fileNr' | 'nrOpen'> {
  const fileNr = readFileNr(procRoot);
  const nrOpen = readNrOpen(procRoot);
  return { fileNr: fileNr.ok ? fileNr.value : null, nrOpen: nrOpen.ok ? nrOpen.value : null };
}

/**
 * Splits look-alike descriptors into open file descriptions with kcmp(KCMP_FILE), which orders
 * struct files, so a sort needs n·log n calls rather than n². Null when kcmp is unavailable or
 * refused (it needs ptrace access: root, or one's own dumpable processes). When a call fails
 * because a descriptor went away mid-scan (its process exited, or the fd was closed), returns
 * the gone descriptors with kcmp's errno instead, so the caller can drop them and split again.
 */
function splitDescriptions(
  members: Descriptor[],
  kcmp: Kcmp | undefined,
): Descriptor[][] | { gone: { member: Descriptor; errno: number }[] } | null {
  if (!kcmp) return null;
  let failedPair: [Descriptor, Descriptor] | null = null;
  const compare = (a: Descriptor, b: Descriptor): number => {
    if (failedPair) return 0;
    const result = kcmp(a.task, b.task, KCMP_FILE, a.fd, b.fd);
    if (result === 0) return 0;
    if (result === 1) return -1;
    if (result === 2) return 1;
    failedPair = [a, b]; // an error, or 3: unordered
    return 0;
  };
  const sorted = [...members].sort(compare);
  const descriptions: Descriptor[][] = [];
  for (const member of sorted) {
    const last = descriptions[descriptions.length - 1];
    const head = last?.[0];
    if (last && head && compare(head, member) === 0) last.push(member);
    else descriptions.push([member]);
  }
  if (!failedPair) return descriptions;
  // Which side failed: a descriptor compared with itself answers 0 while it exists.
  const gone = (failedPair as [Descriptor, Descriptor])
    .filter((member, i, pair) => i === 0 || member !== pair[0])
    .map((member) => ({ member, errno: -kcmp(member.task, member.task, KCMP_FILE, member.fd, member.fd) }))
    .filter(({ errno }) => errno === ESRCH || errno === EBADF);
  return gone.length > 0 ? { gone } : null;
}

/**
 * Without kcmp: the fds of one table that refer to the same thing count as one description
 * (as dups would). Independent opens are undercounted and inherited fds overcounted: an estimate.
 */
function estimateDescriptions(members: readonly Descriptor[]): Descriptor[][] {
  const byTable = new Map<number, Descriptor[]>();
  for (const member of members) {
    const list = byTable.get(member.task) ?? [];
    list.push(member);
    byTable.set(member.task, list);
  }
  return [...byTable.values()];
}

function countDescription(description: readonly Descriptor[], openFilesOf: Map<number, number>): void {
  for (const pid of new Set(description.map((d) => d.pid)))
    openFilesOf.set(pid, (openFilesOf.get(pid) ?? 0) + 1);
}
