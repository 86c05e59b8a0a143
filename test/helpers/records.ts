// Snapshot records for unit tests that build a snapshot by hand: one place that knows every
// field a ProcessRecord needs, so a new field is added here and not in each test.
import type { ProcessRecord, Snapshot } from '../../src/snapshot/types.js';

/** A readable root process in the host's mount namespace, holding nothing unless `fields` say so. */
export function processRecord(pid: number, fields: Partial<ProcessRecord> = {}): ProcessRecord {
  return {
    pid,
    ppid: 1,
    comm: Buffer.from(`proc${pid}`),
    uid: 0,
    user: 'root',
    state: 'S',
    threads: 1,
    mountNamespace: 'mnt:[1]',
    cgroup: null,
    unit: null,
    container: null,
    fdCount: fields.fds?.length ?? 0,
    readable: true,
    fds: [],
    mappings: [],
    deletedExe: null,
    fdLimit: null,
    handles: null,
    ...fields,
  };
}

/** A snapshot of the host's mount namespace `mnt:[1]` taken as root, with only what `fields` say. */
export function snapshotRecord(fields: Partial<Snapshot> = {}): Snapshot {
  return {
    schema: 'limbo.snapshot/1',
    takenAt: '2026-11-30T00:00:00.000Z',
    hostname: 'host',
    procRoot: '/proc',
    hostMountNamespace: 'mnt:[1]',
    scanMilliseconds: 1,
    processes: [],
    files: [],
    mountNamespaces: [],
    incomplete: { scannerUid: 0, unreadableProcesses: 0, unreadablePids: [], unverifiedMappings: 0 },
    system: null,
    shmSegments: null,
    posixShm: null,
    ...fields,
  };
}
