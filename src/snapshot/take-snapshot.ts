import { readdirSync, readlinkSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { nativeAddon } from '../native.js';
import { isLxcMonitorCgroup, readCgroup, type CgroupPlacement } from '../proc/cgroup.js';
import { readCmdline } from '../proc/cmdline.js';
import { classifyError, LimboError } from '../core/errors.js';
import {
  candidatesOf,
  scanFdTables,
  scanFdTablesFull,
  type FdCandidate,
  type FdEntries,
  type FdTableScan,
  type SkipLink,
} from '../proc/fd-table.js';
import { MOUNT_ANSWER_TIMEOUT_MS } from '../proc/mount-probe.js';
import {
  findSilentMounts,
  skipLinkOf,
  skipOnSilentMount,
  unansweredRecordsOf,
  type SilentMount,
} from '../proc/silent-mounts.js';
import { readPosixShm } from '../proc/posix-shm.js';
import { readSysvShm } from '../proc/sysvipc-shm.js';
import { readLimits } from '../proc/limits.js';
import { readFdInfo, type FdOwner } from '../proc/fdinfo.js';
import { HandleScan, readSystemCounts } from './handle-scan.js';
import {
  bpfChosen,
  bpfTableScans,
  chooseScanner,
  readCandidatesDuringWalk,
  type BpfTables,
  type EarlyReads,
} from './bpf-fd-scan.js';
import { bpfProblem, startBpfScan, type ScannerRequest } from './bpf-start.js';
import { bpfHandleLedger, NO_HANDLES } from './bpf-handle-scan.js';
import { readExtentSharing } from '../proc/extent-sharing.js';
import { formatDev, fsTypeThrough, statThrough, type FileStat } from '../proc/file-stat.js';
import { MQUEUE_MAGIC } from '../proc/fd-kind.js';
import { isRegularMode } from '../proc/file-mode.js';
import { readMaps, type MapEntry } from '../proc/maps.js';
import { findMount, throughProcessRoot, type Mount } from '../proc/mountinfo.js';
import { MountTables } from '../proc/mount-tables.js';
import {
  hasDeletedSuffix,
  sillyRenamerOf,
  sillyRenamerOfFilesystem,
  stripDeletedSuffix,
} from '../proc/deleted-name.js';
import { listPids } from '../proc/pids.js';
import { procRootProblem } from '../proc/proc-root.js';
import { readPasswd } from '../proc/passwd.js';
import { readLinkBytes, readProcBytes, type ReadResult } from '../proc/read.js';
import { readStat } from '../proc/stat.js';
import { readStatus, type ProcStatus } from '../proc/status.js';
import type {
  DeletedExe,
  FileRecord,
  HeldFd,
  HeldMapping,
  MountNamespace,
  ProcessRecord,
  ScannerUsed,
  Snapshot,
  UnreadablePart,
} from './types.js';

/** Where to scan and how. */
export interface SnapshotOptions {
  /** The /proc to read; a container's view of the host /proc works too. Default "/proc". */
  readonly procRoot?: string;
  /** The user table for uid → name. Default "/etc/passwd". */
  readonly passwdPath?: string;
  /**
   * Also read every descriptor and mapping for the file-handle ledger (limbo handles): every
   * fd is typed and grouped into open file descriptions. Costlier than the deleted-files scan.
   */
  readonly handles?: boolean;
  /**
   * Also look for deleted files (default true): the candidates' links, stat and fdinfo, the
   * deleted mappings and executables. false keeps only what counts fds (with `handles`, the
   * ledger): `files` and every process's fds, mappings and deletedExe stay empty, and the
   * snapshot says so (filesCollected: false). For `limbo handles`, which reads none of them.
   */
  readonly files?: boolean;
  /** Where POSIX shared memory lives. Default "/dev/shm". */
  readonly devShm?: string;
  /**
   * Called once every fd table has been listed, before mappings are read and descriptors grouped:
   * the window in which a process that exits must be dropped and counted, not misread. For tests.
   */
  readonly afterFdListing?: () => void;
  /**
   * Who reads the fd tables: `proc` (every link through /proc), `bpf` (BPF iterators in the
   * kernel: root, BTF and the addon built with it; throws where it cannot run), or `auto`
   * (default): BPF where it works, else /proc. Both serve the deleted-files scan and the ledger.
   */
  readonly scanner?: ScannerRequest;
  /** How long a FUSE or network mount has to answer statfs before it is skipped. Default 5 s. */
  readonly mountTimeoutMs?: number;
}

const KCMP_FILES = 2;

/**
 * Scans every process once and returns what it found, as plain data. Throws LimboError
 * 'proc-unreadable' when `procRoot` is neither a proc filesystem nor a tree with its files.
 */
export function takeSnapshot(options: SnapshotOptions = {}): Snapshot {
  const started = performance.now();
  const procRoot = options.procRoot ?? '/proc';
  const problem = procRootProblem(procRoot);
  if (problem) throw new LimboError('proc-unreadable', problem);
  const request = options.scanner ?? 'auto';
  const wantFiles = options.files ?? true;
  // The ledger's kernel walk runs on its own thread while the processes are read through /proc;
  // it also gives the deleted candidates, so the fd tables are walked once.
  const ledgerStarted = options.handles === true && request !== 'proc' && bpfProblem(procRoot) === null;
  if (ledgerStarted) nativeAddon()?.bpfStartHandleScan?.(wantFiles);
  // Without the ledger, the deleted-files walk starts now on its own thread, collected by chooseScanner.
  const fdScanStarted = ledgerStarted ? null : startBpfScan(request, procRoot);
  const scan = new Scan(procRoot, readPasswd(options.passwdPath), wantFiles);
  const hostMountNamespace = scan.mountNamespaceOf('self');
  const pending = listPids(procRoot)
    .map((pid) => scan.identifyProcess(pid))
    .filter((p): p is PendingProcess => p !== null);
  // Every fd table of every process in one batch (the native scanner spreads it over the cores),
  // with the task whose table it shows (the BPF walk names tables by task).
  const tables = pending.flatMap((p) =>
    p.tables.map((table) => ({ dir: table.dir, tid: table.tid ?? p.pid })),
  );
  const dirs = tables.map((table) => `${table.dir}/fd`);
  // Before any stat: which FUSE and network mounts answer. A stat on one that does not would never return.
  scan.findUnansweredMounts(hostMountNamespace, options.mountTimeoutMs ?? MOUNT_ANSWER_TIMEOUT_MS);
  const namespaceOfDir = pending.flatMap((p) => p.tables.map(() => p.mountNamespace));
  const skip = skipLinkOf(scan.unanswered, namespaceOfDir);
  // While the kernel walks the fd tables on the addon's thread, what does not need the walk is read.
  // Then the candidates of the tables the walk has gone past, batch by batch, until it ends.
  let early: EarlyReads | undefined;
  if (fdScanStarted !== null && options.handles !== true && wantFiles) {
    scan.readAheadOfWalk(pending);
    early = readCandidatesDuringWalk(fdScanStarted, tables, skip);
  }
  const ledger = ledgerStarted ? bpfLedger(request, procRoot, wantFiles) : null;
  const scanner = ledger?.scanner ?? chooseScanner(request, procRoot, fdScanStarted);
  const handleScan = options.handles && !ledger?.handles ? new HandleScan(procRoot) : null;
  const scans = handleScan
    ? scanForHandles(handleScan, pending, dirs, skip, wantFiles)
    : scanner.tables
      ? bpfTableScans(
          wantFiles ? scanner.tables : { ...scanner.tables, candidates: [] },
          tables,
          skip,
          nativeAddon(),
          early,
        )
      : scanFdTables(dirs, nativeAddon(), skip);
  options.afterFdListing?.();
  let next = 0;
  for (const process of pending) {
    scan.recordProcess(process, scans.slice(next, next + process.tables.length), handleScan);
    next += process.tables.length;
  }
  const handles = ledger?.handles ?? handleScan?.finish() ?? null;
  const vanished = handles?.vanished ?? new Set<number>();
  const processes = scan.processes.filter((p) => !vanished.has(p.pid));
  const shmSegments = readSysvShm(procRoot);
  const posixShm = readPosixShm(options.devShm);
  return {
    schema: 'limbo.snapshot/1',
    takenAt: new Date().toISOString(),
    hostname: hostname(),
    procRoot,
    hostMountNamespace,
    scanMilliseconds: Math.round((performance.now() - started) * 10) / 10,
    scanner: scanner.used,
    processes: handles
      ? processes.map((p) => ({
          ...p,
          // The kernel walk sees a process whose /proc files are refused even to root, and visits
          // only tasks holding an fd or a mapped file: one it missed with fds (born after the walk) is unknown.
          handles: ledger?.handles
            ? (handles.processes.get(p.pid) ?? (p.fdCount ? null : NO_HANDLES))
            : p.readable
              ? (handles.processes.get(p.pid) ?? null)
              : null,
        }))
      : processes,
    files: vanished.size > 0 ? filesHeldBy(processes, scan.files) : [...scan.files.values()],
    ...(wantFiles ? {} : { filesCollected: false }),
    mountNamespaces: [...scan.mountNamespaces.values()],
    incomplete: {
      scannerUid: process.geteuid?.() ?? -1,
      unreadableProcesses: scan.unreadablePids.filter((pid) => !vanished.has(pid)).length,
      unreadablePids: scan.unreadablePids.filter((pid) => !vanished.has(pid)),
      unverifiedMappings: scan.unverifiedMappings,
      vanishedProcesses: scan.vanishedProcesses + vanished.size,
      ...(scan.unanswered.length > 0 ? { unansweredMounts: unansweredRecordsOf(scan.unanswered) } : {}),
    },
    system: handles?.system ?? {
      ...readSystemCounts(procRoot),
      openFiles: null,
      openFilesExact: false,
      fdsInFlight: null,
      shmAttachFiles: null,
    },
    shmSegments: shmSegments.ok ? shmSegments.value : null,
    posixShm: posixShm.ok ? posixShm.value : null,
  };
}

/**
 * The handle ledger from the kernel, and the fd tables for the deleted-files scan from the same
 * walk (native/handles.bpf.c): the run bpfStartHandleScan started. Where that run fails, `bpf`
 * throws with the reason and `auto` reads every fd through /proc instead, saying why.
 */
function bpfLedger(
  request: ScannerRequest,
  procRoot: string,
  wantFiles: boolean,
): {
  scanner: { used: ScannerUsed; tables: BpfTables | null };
  handles: (ReturnType<typeof bpfHandleLedger> & { vanished: ReadonlySet<number> }) | null;
} {
  const run = nativeAddon()?.bpfScanHandles?.(wantFiles);
  if (run && !('error' in run))
    return {
      scanner: { used: bpfChosen(request), tables: run.tables },
      handles: { ...bpfHandleLedger(run, procRoot), vanished: new Set() },
    };
  const reason = `the handle ledger's BPF program did not load or run: ${run?.error ?? 'absent from the addon'}`;
  if (request === 'bpf') throw new LimboError('usage', `--scanner bpf cannot run here: ${reason}`);
  return {
    scanner: { used: { name: 'proc', reason: `BPF scanner unavailable: ${reason}` }, tables: null },
    handles: null,
  };
}

/** The files still held by the processes kept, once those that exited mid-scan are dropped. */
function filesHeldBy(
  processes: readonly ProcessRecord[],
  files: ReadonlyMap<string, FileRecord>,
): FileRecord[] {
  const keys = new Set<string>();
  for (const p of processes) {
    for (const fd of p.fds) keys.add(fd.fileKey);
    for (const mapping of p.mappings) keys.add(mapping.fileKey);
    if (p.deletedExe) keys.add(p.deletedExe.fileKey);
  }
  return [...files.values()].filter((file) => keys.has(file.key));
}

/** The full scan of every table, fed to the handle ledger, with the deleted candidates drawn from it (when wanted). */
function scanForHandles(
  handleScan: HandleScan,
  pending: readonly PendingProcess[],
  dirs: readonly string[],
  skip: SkipLink | null,
  wantFiles: boolean,
): ReadResult<FdTableScan>[] {
  const full = scanFdTablesFull(dirs, nativeAddon(), skip);
  const scans: ReadResult<FdTableScan>[] = [];
  let next = 0;
  for (const process of pending) {
    handleScan.addProcess(process.pid, process.status.ppid);
    for (const table of process.tables) {
      const result = full[next] as ReadResult<FdEntries>;
      const dir = dirs[next] as string;
      next++;
      if (!result.ok) {
        scans.push(result);
        continue;
      }
      handleScan.addTable(process.pid, table.tid ?? process.pid, result.value);
      const index = next - 1;
      // The full scan counted its links on a silent mount already: the candidates are only kept off it.
      const onSilentMount = skip && (skip.holds ?? skip);
      scans.push({
        ok: true,
        value: wantFiles
          ? candidatesOf(dir, result.value, onSilentMount ? (target) => onSilentMount(index, target) : null)
          : { count: result.value.count, unreadable: result.value.unreadable, candidates: [] },
      });
    }
  }
  return scans;
}

/** RLIMIT_NOFILE of a process: one small read, so every snapshot can warn before EMFILE. */
function readFdLimit(procRoot: string, pid: number): ProcessRecord['fdLimit'] {
  const limits = readLimits(procRoot, pid);
  const openFiles = limits.ok ? limits.value?.openFiles : undefined;
  return openFiles ? { soft: openFiles.soft, hard: openFiles.hard } : null;
}

/** A process between the two passes of a scan. */
interface PendingProcess {
  readonly pid: number;
  readonly status: ProcStatus;
  readonly comm: Buffer;
  readonly startTicks: number | null;
  readonly cgroup: CgroupPlacement | null;
  readonly root: string | null;
  readonly mountNamespace: string | null;
  readonly cmdline: readonly Buffer[] | null;
  readonly tables: readonly { dir: string; tid: number | null }[];
  readonly fdLimit: ProcessRecord['fdLimit'];
}

/** The state of one scan in progress: what has been seen so far. */
class Scan {
  readonly processes: ProcessRecord[] = [];
  readonly files = new Map<string, FileRecord>();
  readonly mountNamespaces: ReadonlyMap<string, MountNamespace>;
  private readonly mountTables: MountTables;
  readonly unreadablePids: number[] = [];
  unverifiedMappings = 0;
  /** Processes listed in /proc that exited before the scan could read them. */
  vanishedProcesses = 0;
  /** FUSE and network mounts that did not answer statfs in time: nothing on them is stat-ed. */
  readonly unanswered: SilentMount[] = [];
  private readonly kcmp = nativeAddon()?.kcmp;
  /** Per device ("MAJ:MIN"): its filesystem's statfs f_type. */
  private readonly fsTypes = new Map<string, number>();
  /** Per pid: what readAheadOfWalk read of it. */
  private readonly readAhead = new Map<
    number,
    { maps: ReadResult<MapEntry[]>; exeKey: string | null; exeLink: ReadResult<Buffer> }
  >();
  /** Files whose FUSE hidden name was looked for already. */
  private readonly sillyLooked = new Set<string>();
  /** Per mount table (a namespace's may be replaced by a truer one): whether it has a FUSE mount. */
  private readonly hasFuseMount = new WeakMap<readonly Mount[], boolean>();

  constructor(
    private readonly procRoot: string,
    private readonly users: Map<number, string>,
    /** Whether deleted files are looked for (SnapshotOptions.files): else maps and exe are not read for them. */
    private readonly wantFiles: boolean,
  ) {
    this.mountTables = new MountTables(procRoot, (pid, mount) => this.withUpperDev(pid, mount));
    this.mountNamespaces = this.mountTables.byId;
  }

  /**
   * First pass over one process: who it is and which fd tables it has. A process that
   * vanishes mid-way is dropped and counted; kernel threads hold no files.
   */
  identifyProcess(pid: number): PendingProcess | null {
    const base = `${this.procRoot}/${pid}`;
    const statusRead = readStatus(this.procRoot, pid);
    if (!statusRead.ok || statusRead.value === null) {
      if (!statusRead.ok && statusRead.failure === 'gone') this.vanishedProcesses++;
      return null;
    }
    const status = statusRead.value;
    if (status.kernelThread) return null;
    const commRead = readProcBytes(`${base}/comm`);
    if (!commRead.ok) {
      if (commRead.failure === 'gone') this.vanishedProcesses++;
      return null;
    }
    const cgroupRead = readCgroup(this.procRoot, pid);
    const stat = readStat(this.procRoot, pid);
    let root: string | null;
    try {
      root = readlinkSync(`${base}/root`);
    } catch {
      root = null;
    }
    const mountNamespace = this.mountNamespaceOf(pid, root);
    // Only an LXC monitor's: its title tells LXC, LXD and Incus apart (restart advice), and no
    // other process's arguments (secrets, often) belong in a snapshot.
    const placement = cgroupRead.ok ? cgroupRead.value : null;
    const cmdline =
      placement !== null && isLxcMonitorCgroup(placement.path) ? readCmdline(this.procRoot, pid) : null;
    return {
      root,
      pid,
      status,
      comm: commRead.value.subarray(0, Math.max(0, commRead.value.length - 1)),
      startTicks: stat.ok ? (stat.value?.startTicks ?? null) : null,
      cgroup: cgroupRead.ok ? cgroupRead.value : null,
      mountNamespace,
      cmdline: cmdline?.ok ? cmdline.value : null,
      tables: this.fdTables(pid, status),
      fdLimit: readFdLimit(this.procRoot, pid),
    };
  }

  /** Second pass: the process's fd scans (done in one batch for all processes) and its mappings. */
  recordProcess(
    pending: PendingProcess,
    scans: readonly ReadResult<FdTableScan>[],
    handleScan: HandleScan | null,
  ): void {
    const { pid, status, cgroup, tables } = pending;
    const fds: HeldFd[] = [];
    let fdCount: number | null = 0;
    let linksRead = 0;
    let linksDenied = 0;
    let dirDenied = false;
    let gone = 0;
    tables.forEach((table, i) => {
      const scan = scans[i];
      if (!scan?.ok) {
        if (scan?.failure === 'denied') dirDenied = true;
        if (scan?.failure === 'gone') gone++;
        return;
      }
      fdCount = (fdCount ?? 0) + scan.value.count;
      linksRead += scan.value.count - scan.value.unreadable;
      linksDenied += scan.value.unreadable;
      for (const candidate of scan.value.candidates) {
        const fileKey = this.recordFile(candidate.stat, `${table.dir}/fd/${candidate.fd}`);
        this.findSillyName(pid, pending.root, pending.mountNamespace, fileKey, candidate.name);
        const held = this.howHeld(candidate, table.tid === null ? pid : `${pid}/task/${table.tid}`);
        fds.push({
          fd: candidate.fd,
          tid: table.tid,
          fileKey,
          name: candidate.name,
          flags: held.flags,
          posBytes: held.posBytes,
        });
      }
    });
    if (gone === tables.length) {
      this.vanishedProcesses++; // exited between its first pass and its fd scan
      return;
    }
    // A refused fd directory still tells its fd count: st_size, readable by anyone.
    if (dirDenied) fdCount = countFds(`${this.procRoot}/${pid}/fd`);
    const unreadableDescriptors = dirDenied ? Math.max(0, (fdCount ?? 0) - linksRead) : linksDenied;
    const unreadable: UnreadablePart[] = [];
    if (dirDenied) unreadable.push('fd-directory');
    if (linksDenied > 0) unreadable.push('fd-links');

    const taskDir = taskDirOf(this.procRoot, pending);
    const ahead = this.readAhead.get(pid);
    // The ledger needs every mapping; the deleted-files scan only the " (deleted)" ones.
    const maps =
      ahead?.maps ??
      (handleScan !== null || this.wantFiles
        ? readMaps(`${taskDir}/maps`, handleScan === null)
        : { ok: true as const, value: [] });
    if (maps.ok) handleScan?.addMaps(pid, maps.value);
    const mappings =
      maps.ok && this.wantFiles
        ? this.recordMappings(pid, pending.root, maps.value, pending.mountNamespace)
        : [];
    const deletedExe = this.wantFiles
      ? this.readDeletedExe(pid, pending.root, taskDir, pending.mountNamespace, ahead?.exeLink)
      : null;
    if (!maps.ok && maps.failure === 'denied') unreadable.push('maps');
    if (unreadable.length > 0) this.unreadablePids.push(pid);

    this.processes.push({
      pid,
      ppid: status.ppid,
      comm: pending.comm,
      startTicks: pending.startTicks,
      uid: status.euid,
      user: this.users.get(status.euid) ?? String(status.euid),
      state: status.state,
      threads: status.threads,
      mountNamespace: pending.mountNamespace,
      cgroup: cgroup?.path ?? null,
      unit: cgroup?.unit ?? null,
      container: cgroup?.container ?? null,
      root: pending.root,
      nsPid: status.nsPids.at(-1) ?? null,
      ...(pending.cmdline === null ? {} : { cmdline: pending.cmdline }),
      exeKey: ahead ? ahead.exeKey : this.readExeKey(`${taskDir}/exe`, pending.mountNamespace),
      fdCount,
      readable: unreadable.length === 0,
      ...(unreadable.length > 0 ? { unreadable } : {}),
      unreadableDescriptors,
      fds,
      mappings,
      deletedExe,
      fdLimit: pending.fdLimit,
      handles: null,
    });
  }

  /**
   * How a deleted candidate holds its file (access, O_APPEND, offset): it decides what a
   * truncation would do to it. The BPF scanner read them in the kernel; else one small fdinfo
   * read per held deleted file.
   */
  private howHeld(candidate: FdCandidate, task: FdOwner): Pick<HeldFd, 'flags' | 'posBytes'> {
    if (candidate.flags !== undefined)
      return { flags: candidate.flags, posBytes: candidate.posBytes ?? null };
    const info = readFdInfo(this.procRoot, task, candidate.fd);
    return info.ok && info.value
      ? { flags: info.value.flags, posBytes: info.value.pos }
      : { flags: null, posBytes: null };
  }

  /**
   * The fd tables of a process. Usually one (/proc/PID). When the main thread has exited
   * (state Z with live threads) /proc/PID/fd is empty and each live thread's task dir is read;
   * a thread that unshared its table (kcmp KCMP_FILES differs) is read on its own too.
   */
  private fdTables(pid: number, status: ProcStatus): { dir: string; tid: number | null }[] {
    const base = `${this.procRoot}/${pid}`;
    if (status.threads <= 1) return [{ dir: base, tid: null }];
    const mainExited = status.state === 'Z';
    const tables: { dir: string; tid: number | null }[] = mainExited ? [] : [{ dir: base, tid: null }];
    const representatives: number[] = mainExited ? [] : [pid];
    let tids: number[];
    try {
      tids = readdirSync(`${base}/task`).map(Number);
    } catch {
      return tables.length > 0 ? tables : [{ dir: base, tid: null }];
    }
    for (const tid of tids) {
      if (tid === pid) continue;
      const sharesTable = representatives.some((other) => this.sameFdTable(pid, other, tid));
      if (sharesTable) continue;
      if (mainExited && isZombieTask(this.procRoot, pid, tid)) continue;
      representatives.push(tid);
      tables.push({ dir: `${base}/task/${tid}`, tid });
    }
    return tables.length > 0 ? tables : [{ dir: base, tid: null }];
  }

  /** kcmp(KCMP_FILES) when the addon has it; else the fd counts, which differ for any real unshare. */
  private sameFdTable(pid: number, a: number, b: number): boolean {
    if (this.kcmp) {
      const result = this.kcmp(a, b, KCMP_FILES, 0, 0);
      if (result >= 0) return result === 0;
    }
    const countA = countFds(
      a === pid ? `${this.procRoot}/${pid}/fd` : `${this.procRoot}/${pid}/task/${a}/fd`,
    );
    const countB = countFds(`${this.procRoot}/${pid}/task/${b}/fd`);
    return countA === countB;
  }

  /**
   * Mappings of files whose maps name carries " (deleted)", each verified through map_files.
   * SysV shm attaches ("/SYSV%08x", inode = shmid) are kept by their maps identity, unstat-ed:
   * they are not files, and a thousand attaches should not cost a thousand stats.
   */
  private recordMappings(
    pid: number,
    root: string | null,
    entries: readonly MapEntry[],
    namespace: string | null,
  ): HeldMapping[] {
    const mappings: HeldMapping[] = [];
    for (const entry of entries) {
      if (!hasDeletedSuffix(entry.path)) continue;
      if (this.unanswered.length > 0 && this.onUnansweredMount(namespace, entry.path)) continue;
      if (entry.path.subarray(0, 5).toString('latin1') === '/SYSV') {
        const fileKey = `${entry.dev}:${entry.inode}`;
        mappings.push({
          range: entry.range,
          perms: entry.perms,
          fileKey,
          name: stripDeletedSuffix(entry.path),
          nameNowKey: null,
        });
        continue;
      }
      const link = `${this.procRoot}/${pid}/map_files/${entry.range}`;
      const stat = statThrough(link);
      let fileKey: string;
      if (stat.ok) fileKey = this.recordFile(stat.value, link);
      else if (stat.failure === 'gone') continue;
      else {
        this.unverifiedMappings++;
        fileKey = `${entry.dev}:${entry.inode}`;
        if (!this.files.has(fileKey)) continue;
      }
      const rawName = exactMapName(link, entry);
      mappings.push({
        range: entry.range,
        perms: entry.perms,
        fileKey,
        name: stripDeletedSuffix(rawName),
        nameNowKey: this.keyAtName(pid, root, rawName, fileKey),
      });
    }
    return mappings;
  }

  /**
   * Reads each process's " (deleted)" maps lines and its executable's identity and name ahead,
   * while the BPF walk of the fd tables runs on the addon's thread: none depends on the walk, and
   * the scan would otherwise wait for it idle. After findUnansweredMounts: the exe is stat-ed.
   */
  readAheadOfWalk(pending: readonly PendingProcess[]): void {
    for (const process of pending) {
      const taskDir = taskDirOf(this.procRoot, process);
      this.readAhead.set(process.pid, {
        maps: readMaps(`${taskDir}/maps`, true),
        exeKey: this.readExeKey(`${taskDir}/exe`, process.mountNamespace),
        exeLink: readLinkBytes(`${taskDir}/exe`),
      });
    }
  }

  /**
   * The running executable, when its name carries " (deleted)": deleted, or replaced by rename-over.
   * `ahead` is the name readAheadOfWalk read with the exe's identity: without the suffix (nearly
   * every process) it is the answer as of then, and the readlink after the walk is spared; with it,
   * the name is read again beside the stat.
   */
  private readDeletedExe(
    pid: number,
    root: string | null,
    dir: string,
    namespace: string | null,
    ahead?: ReadResult<Buffer>,
  ): DeletedExe | null {
    if (ahead !== undefined && (!ahead.ok || !hasDeletedSuffix(ahead.value))) return null;
    const link = readLinkBytes(`${dir}/exe`);
    if (!link.ok || !hasDeletedSuffix(link.value)) return null;
    if (this.unanswered.length > 0 && this.onUnansweredMount(namespace, link.value)) return null;
    const stat = statThrough(`${dir}/exe`);
    if (!stat.ok) return null;
    const fileKey = this.recordFile(stat.value, `${dir}/exe`);
    return {
      fileKey,
      name: stripDeletedSuffix(link.value),
      nameNowKey: this.keyAtName(pid, root, link.value, fileKey),
    };
  }

  /**
   * What the file's name resolves to now, seen from inside the process's own root (a
   * container's files are judged in the container, not on the host). `linkText` still has
   * its " (deleted)": a live file really named "x (deleted)" resolves to itself under it. Under a
   * chroot the link reads from outside it (limbo's root, or the namespace's): cut to the process's words.
   */
  private keyAtName(pid: number, root: string | null, linkText: Buffer, fileKey: string): string | null {
    const keyAt = (name: Buffer): string | null => {
      if (name[0] !== 0x2f) return null;
      // Inside another root the host's mount points do not apply; a name on a silent mount is not looked up.
      if (this.unanswered.some((silent) => silent.holds(name))) return null;
      try {
        const st = statSync(throughProcessRoot(this.procRoot, pid, name, root), { bigint: true });
        return `${formatDev(st.dev)}:${st.ino}`;
      } catch {
        return null;
      }
    };
    return keyAt(linkText) === fileKey ? fileKey : keyAt(stripDeletedSuffix(linkText));
  }

  /** The identity of a process's executable; null for zombies, denied reads, and one on a silent mount. */
  private readExeKey(link: string, namespace: string | null): string | null {
    if (this.unanswered.length > 0) {
      const text = readLinkBytes(link);
      if (!text.ok || this.onUnansweredMount(namespace, stripDeletedSuffix(text.value))) return null;
    }
    const stat = statThrough(link);
    return stat.ok ? `${stat.value.dev}:${stat.value.ino}` : null;
  }

  /**
   * Probes every FUSE and network mount of every mount namespace seen (once per device, all at
   * once, in a child process) and keeps those that did not answer in `timeoutMs`.
   */
  findUnansweredMounts(hostNamespace: string | null, timeoutMs: number): void {
    this.unanswered.push(
      ...findSilentMounts(this.procRoot, this.mountNamespaces.values(), hostNamespace, timeoutMs),
    );
  }

  /** True when `target`, as a process of `namespace` shows it, is on a mount that did not answer (counted there). */
  onUnansweredMount(namespace: string | null, target: Buffer): boolean {
    return skipOnSilentMount(this.unanswered, namespace, target);
  }

  /** Records a file the first time it is seen; `link` is the /proc link it was stat-ed through. */
  private recordFile(stat: FileStat, link: string): string {
    const key = `${stat.dev}:${stat.ino}`;
    if (this.files.has(key)) return key;
    const deleted = stat.nlink === 0 && isRegularMode(stat.mode);
    // Only a deleted regular file is worth a FIEMAP: its blocks are what limbo reports.
    const type = deleted ? this.fsTypeOf(stat.dev, link) : null;
    const sharing = type !== null ? readExtentSharing(link, stat, type) : null;
    // Field by field, the optional ones set only when present: with an object spread per field,
    // building 10,000 records took twice as long (7 against 4 ms; this code runs cold, once a file).
    const file: { -readonly [K in keyof FileRecord]: FileRecord[K] } = {
      key,
      dev: stat.dev,
      ino: stat.ino,
      nlink: stat.nlink,
      sizeBytes: stat.sizeBytes,
      allocatedBytes: stat.allocatedBytes,
      mode: stat.mode,
    };
    if (sharing) file.extentSharing = sharing;
    if (type === MQUEUE_MAGIC) file.statfsType = 'mqueue';
    this.files.set(key, file);
    return key;
  }

  /**
   * The statfs f_type of a device's filesystem, once per device (one st_dev is one superblock):
   * whether its files can share extents, and whether it is a POSIX message queue filesystem
   * (mq_open's files are regular, and read " (deleted)" with nlink 0 once mq_unlink ran).
   */
  private fsTypeOf(dev: string, link: string): number | null {
    let known = this.fsTypes.get(dev);
    if (known === undefined) {
      const type = fsTypeThrough(link);
      if (!type.ok) return null; // the fd went away: ask again at the next file on this device
      known = type.value;
      this.fsTypes.set(dev, known);
    }
    return known;
  }

  /**
   * FUSE's silly rename: libfuse renames a file unlinked while open to `.fuse_hidden…` in the
   * same directory, while the holder's fd keeps the old name with " (deleted)". Finds that name
   * (as the holder sees it, through its root) by (dev, ino) among the directory's hidden files.
   */
  private findSillyName(
    pid: number,
    root: string | null,
    namespace: string | null,
    key: string,
    name: Buffer | null,
  ): void {
    const file = this.files.get(key);
    if (name === null || file === undefined || this.sillyLooked.has(key) || !isRegularMode(file.mode)) return;
    this.sillyLooked.add(key);
    const mounts = this.mountNamespaces.get(namespace ?? '')?.mounts ?? [];
    // Without a FUSE mount in the holder's namespace, none of its files needs its mount found.
    let fuse = this.hasFuseMount.get(mounts);
    if (fuse === undefined) {
      fuse = mounts.some((m) => sillyRenamerOfFilesystem(m.fstype) === 'fuse');
      this.hasFuseMount.set(mounts, fuse);
    }
    if (!fuse) return;
    const mount = findMount(mounts, file.dev, name.toString('utf8'));
    if (sillyRenamerOfFilesystem(mount?.fstype ?? null) !== 'fuse' || sillyRenamerOf(name) !== null) return;
    // The hidden name is kept in the words of the fd link; it is looked up in the holder's own.
    const dir = name.subarray(0, name.lastIndexOf(0x2f) + 1);
    const own = throughProcessRoot(this.procRoot, pid, name, root);
    const ownDir = own.subarray(0, own.lastIndexOf(0x2f) + 1);
    let entries: Buffer[];
    try {
      entries = readdirSync(ownDir, { encoding: 'buffer' });
    } catch {
      return;
    }
    for (const entry of entries) {
      if (sillyRenamerOf(entry) !== 'fuse') continue;
      const path = Buffer.concat([dir, entry]);
      try {
        const st = statSync(Buffer.concat([ownDir, entry]), { bigint: true });
        if (`${formatDev(st.dev)}:${st.ino}` !== key) continue;
      } catch {
        continue;
      }
      this.files.set(key, { ...file, sillyName: path });
      return;
    }
  }

  /**
   * An overlay mount with the device of its upper directory, stat-ed inside the namespace that
   * named it (through the process's root): where the blocks of files written through it live.
   */
  private withUpperDev(pid: number | 'self', mount: Mount): Mount {
    if (mount.upperDir === undefined) return mount;
    try {
      const st = statSync(`${this.procRoot}/${pid}/root${mount.upperDir}`, { bigint: true });
      return { ...mount, upperDev: formatDev(st.dev) };
    } catch {
      return mount;
    }
  }

  /** The mount namespace id of a process, its table read when first met (proc/mount-tables.ts). */
  mountNamespaceOf(pid: number | 'self', root: string | null = '/'): string | null {
    return this.mountTables.namespaceOf(pid, root);
  }
}

/** Where a process's maps and exe are read: when its main thread has exited, /proc/PID shows them empty, so a live thread's. */
function taskDirOf(procRoot: string, process: PendingProcess): string {
  return process.tables[0]?.dir ?? `${procRoot}/${process.pid}`;
}

/** The fd count of any process, readable without privileges: st_size of its fd directory. */
function countFds(dir: string): number | null {
  try {
    return statSync(dir).size;
  } catch (error) {
    if (classifyError(error) === 'other') throw error;
    return null;
  }
}

function isZombieTask(procRoot: string, pid: number, tid: number): boolean {
  const stat = readStat(procRoot, pid, tid);
  return !stat.ok || stat.value?.state === 'Z';
}

/** map_files gives the exact name (maps escapes only newlines); it needs CAP_SYS_ADMIN to read. */
function exactMapName(link: string, entry: MapEntry): Buffer {
  const read = readLinkBytes(link);
  return read.ok ? read.value : entry.path;
}
