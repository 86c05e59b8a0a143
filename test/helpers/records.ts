// Snapshot records for unit tests that build a snapshot by hand: one place that knows every
// field a ProcessRecord needs, so a new field is added here and not in each test.
import type { ProcessRecord } from '../../src/snapshot/types.js';

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
