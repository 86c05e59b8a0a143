import { isRegularMode } from '../proc/file-mode.js';
import type { FileRecord, ProcessRecord, Snapshot } from '../snapshot/types.js';
import { familyIndex, serviceOf, type ProcessFamily } from './holders.js';
import { containerMatches, requireFilesCollected } from './deleted.js';
import { incompleteOf, type IncompleteView } from './incomplete.js';
import { restartAdvice } from './programs.js';
import { lxcMonitorIndex } from './lxc-monitor.js';

/** What a process runs that is no longer on disk: its executable, a library, or (with data) another mapped file. */
export type RestartReasonKind = 'exe' | 'library' | 'mapped';

export interface RestartReason {
  readonly kind: RestartReasonKind;
  /** The name it was loaded from, without " (deleted)". */
  readonly name: Buffer;
  readonly dev: string;
  /** The inode the process still runs: the old one. */
  readonly ino: bigint;
  /** `replaced`: another file now sits at the name (an upgrade); `deleted`: nothing does (removed). */
  readonly how: 'deleted' | 'replaced';
}

export interface RestartProcess {
  readonly pid: number;
  readonly comm: Buffer;
  readonly user: string;
  readonly uid: number;
  readonly unit: string | null;
  readonly container: string | null;
  readonly reasons: readonly RestartReason[];
}

/**
 * Processes to restart together: one systemd unit, one container, one process family outside
 * both (a master and the workers it forked, restarted from the master), or a bare process.
 */
export interface RestartGroup {
  readonly unit: string | null;
  readonly container: string | null;
  /** The process family, for processes outside any service or container. */
  readonly family: ProcessFamily | null;
  readonly pids: readonly number[];
  /** The command that restarts them, when there is one to give (`systemctl restart UNIT`). */
  readonly command: string | null;
  /** Why a container has no command (LXC, LXD and Incus restart differently); absent otherwise. */
  readonly why?: string;
}

export interface RestartReport {
  readonly processes: readonly RestartProcess[];
  readonly groups: readonly RestartGroup[];
  readonly incomplete: IncompleteView;
}

export interface RestartOptions {
  /** Also report data files mapped without execute permission (`--all`). */
  readonly includeData?: boolean;
  /** Only processes of this container: its id, a unique hex prefix of it, or its name (`--container`). */
  readonly container?: string;
}

/** The kernel's own shared memory (SysV, shared anonymous) lives on this internal mount. */
const INTERNAL_SHMEM_DEV = '0:1';

/**
 * Processes still running deleted or replaced code: an executable or an executable mapping
 * whose inode has nlink 0, or whose name inside the process's root now names another inode.
 * Inodes are compared, never text; memfd, SysV shm, shared anonymous memory and /dev are not code on disk.
 */
export function findRestartNeeded(snapshot: Snapshot, options: RestartOptions = {}): RestartReport {
  requireFilesCollected(snapshot);
  const files = new Map(snapshot.files.map((file) => [file.key, file]));
  const processes: RestartProcess[] = [];
  const { container } = options;
  for (const process of snapshot.processes) {
    if (
      container !== undefined &&
      (process.container === null || !containerMatches(process.container, container))
    )
      continue;
    const reasons = reasonsOf(process, files, options.includeData ?? false);
    if (reasons.length === 0) continue;
    processes.push({
      pid: process.pid,
      comm: process.comm,
      user: process.user,
      uid: process.uid,
      unit: process.unit,
      container: process.container,
      reasons,
    });
  }
  return {
    processes,
    groups: groupProcesses(processes, snapshot),
    incomplete: incompleteOf(snapshot),
  };
}

function reasonsOf(
  process: ProcessRecord,
  files: Map<string, FileRecord>,
  includeData: boolean,
): RestartReason[] {
  const reasons: RestartReason[] = [];
  const exe = process.deletedExe;
  if (exe) {
    const reason = judge('exe', files.get(exe.fileKey), exe.name, exe.nameNowKey);
    if (reason) reasons.push(reason);
  }
  // A library has several mappings (text, data, relro): one reason per file, code if any is executable.
  const byFile = new Map<string, { executable: boolean; name: Buffer; nameNowKey: string | null }>();
  for (const mapping of process.mappings) {
    if (mapping.fileKey === exe?.fileKey) continue;
    const seen = byFile.get(mapping.fileKey);
    const executable = mapping.perms.charAt(2) === 'x' || (seen?.executable ?? false);
    byFile.set(mapping.fileKey, { executable, name: mapping.name, nameNowKey: mapping.nameNowKey });
  }
  for (const [key, mapping] of byFile) {
    if (!mapping.executable && !includeData) continue;
    const reason = judge(
      mapping.executable ? 'library' : 'mapped',
      files.get(key),
      mapping.name,
      mapping.nameNowKey,
    );
    if (reason) reasons.push(reason);
  }
  return reasons;
}

function judge(
  kind: RestartReasonKind,
  file: FileRecord | undefined,
  name: Buffer,
  nameNowKey: string | null,
): RestartReason | null {
  if (!file || !isRegularMode(file.mode) || isNotCodeOnDisk(name, file)) return null;
  if (file.nlink > 0 && nameNowKey === file.key) return null;
  return { kind, name, dev: file.dev, ino: file.ino, how: nameNowKey === null ? 'deleted' : 'replaced' };
}

function isNotCodeOnDisk(name: Buffer, file: FileRecord): boolean {
  const text = name.toString('latin1');
  return (
    file.dev === INTERNAL_SHMEM_DEV ||
    text.startsWith('/memfd:') ||
    text.startsWith('/SYSV') ||
    text.startsWith('/dev/') ||
    !text.startsWith('/')
  );
}

function groupProcesses(processes: readonly RestartProcess[], snapshot: Snapshot): RestartGroup[] {
  const byPid = new Map(snapshot.processes.map((p) => [p.pid, p]));
  const familyOf = familyIndex(snapshot);
  const monitorOf = lxcMonitorIndex(snapshot.processes);
  const groups = new Map<
    string,
    { unit: string | null; container: string | null; family: ProcessFamily | null; pids: number[] }
  >();
  for (const process of processes) {
    const unit = process.container ? null : restartableUnit(process.unit);
    const family = process.container || unit ? null : familyOf(process.pid);
    const key = process.container
      ? `container:${process.container}`
      : unit
        ? `unit:${unit}:${byPid.get(process.pid)?.cgroup ?? ''}`
        : `family:${family?.topPid}`;
    const group = groups.get(key) ?? { unit, container: process.container, family, pids: [] };
    group.pids.push(process.pid);
    groups.set(key, group);
  }
  return [...groups.values()]
    .map((group) => {
      const record = byPid.get(group.pids[0] ?? -1);
      const advice = record
        ? restartAdvice({
            service: serviceOf(record),
            container: group.container,
            cgroup: record.cgroup,
            user: record.user,
            uid: record.uid,
            lxcMonitor: monitorOf(record),
          })
        : null;
      if (group.family || !advice) return { ...group, command: null };
      return { ...group, command: advice.command, ...(advice.why === null ? {} : { why: advice.why }) };
    })
    .sort((a, b) => Number(a.family !== null) - Number(b.family !== null));
}

/** Services restart; login session scopes do not (restart the processes in them instead). */
function restartableUnit(unit: string | null): string | null {
  return unit?.endsWith('.service') ? unit : null;
}
