import { deletedReportToJson, type DeletedJson } from '../analyses/deleted-json.js';
import { findDeletedFiles } from '../analyses/deleted.js';
import { serviceOf } from '../analyses/holders.js';
import { restartCommand } from '../analyses/programs.js';
import { lxcMonitorIndex } from '../analyses/lxc-monitor.js';
import { dfReportToJson, type DfJson } from '../analyses/df-json.js';
import { reconcileFilesystems } from '../analyses/df.js';
import { handleReportToJson, type HandlesJson } from '../analyses/handles-json.js';
import { explainHandles } from '../analyses/handles.js';
import { reportToJson, type ReportJson } from '../analyses/report-json.js';
import { buildReport, DEFAULT_THRESHOLDS } from '../analyses/report.js';
import { restartReportToJson, type RestartJson } from '../analyses/restart-json.js';
import { findRestartNeeded } from '../analyses/restart.js';
import { shmReportToJson, type ShmJson } from '../analyses/shm-json.js';
import { findSharedMemory } from '../analyses/shm.js';
import { readPasswd } from '../proc/passwd.js';
import { takeSnapshot } from '../snapshot/take-snapshot.js';
import { MOUNT_ANSWER_TIMEOUT_MS } from '../proc/mount-probe.js';
import type { ScannerRequest } from '../snapshot/bpf-start.js';
import type { ProcessRecord } from '../snapshot/types.js';
import { chooseMounts, readSpaceOf } from '../walk/measure-filesystems.js';

/** Everything one scan found, as the CLI's JSON contracts: what /api serves and /metrics exposes. */
export interface ScanResult {
  /** When the scan finished, unix ms. */
  readonly takenAt: number;
  readonly durationSeconds: number;
  readonly deleted: DeletedJson;
  readonly handles: HandlesJson;
  readonly shm: ShmJson;
  readonly restart: RestartJson;
  /** statfs and held bytes per filesystem (no walk: a server must not walk disks every few seconds). */
  readonly df: DfJson;
  readonly report: ReportJson;
  /**
   * What restarts each process that has a manager, by pid (`systemctl restart UNIT`, through the
   * user manager for a user's unit, or the container's restart), as `limbo reclaim` advises it:
   * what the leak suspects suggest. Not served.
   */
  readonly restartCommands: Readonly<Record<number, string>>;
}

/** One full scan: a snapshot with handle counts, and every analysis over it. Synchronous: run it in a worker. */
export function scanSystem(
  procRoot = '/proc',
  scanner: ScannerRequest = 'auto',
  mountTimeoutMs = MOUNT_ANSWER_TIMEOUT_MS,
): ScanResult {
  const started = performance.now();
  const snapshot = takeSnapshot({ procRoot, handles: true, scanner, mountTimeoutMs });
  const hostMounts =
    snapshot.mountNamespaces.find((ns) => ns.id === snapshot.hostMountNamespace)?.mounts ?? [];
  const silent = new Set((snapshot.incomplete.unansweredMounts ?? []).map((m) => m.dev));
  const measures = chooseMounts(hostMounts, [], silent, mountTimeoutMs).flatMap((mount) => {
    const space = readSpaceOf(mount.mountPoint, mount.fstype, mountTimeoutMs);
    return space
      ? [{ mount, space, walk: null, hiddenBytes: null, hiddenNote: 'not walked by the server' }]
      : [];
  });
  // Built once: the df, shm and report analyses narrow or reuse them rather than build them again.
  const deleted = findDeletedFiles(snapshot);
  const restart = findRestartNeeded(snapshot);
  const result: ScanResult = {
    takenAt: Date.now(),
    durationSeconds: 0,
    deleted: deletedReportToJson(deleted),
    handles: handleReportToJson(explainHandles(snapshot)),
    shm: shmReportToJson(findSharedMemory(snapshot, { users: readPasswd(), deleted })),
    restart: restartReportToJson(restart),
    df: dfReportToJson(reconcileFilesystems(snapshot, measures, deleted)),
    report: reportToJson(buildReport(snapshot, DEFAULT_THRESHOLDS, { deleted, restart })),
    restartCommands: restartCommandsOf(snapshot.processes),
  };
  return { ...result, durationSeconds: (performance.now() - started) / 1000 };
}

function restartCommandsOf(processes: readonly ProcessRecord[]): Record<number, string> {
  const commands: Record<number, string> = {};
  const monitorOf = lxcMonitorIndex(processes);
  for (const p of processes) {
    const command = restartCommand({
      service: serviceOf(p),
      container: p.container,
      cgroup: p.cgroup,
      user: p.user,
      uid: p.uid,
      lxcMonitor: monitorOf(p),
    });
    if (command !== null) commands[p.pid] = command;
  }
  return commands;
}
