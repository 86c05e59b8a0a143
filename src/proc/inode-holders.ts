import { readdirSync } from 'node:fs';
import { nativeAddon } from '../native.js';
import { listPids } from './pids.js';
import { scanFdTablesFull, type FdEntries, type SkipLink } from './fd-table.js';
import { statThrough } from './file-stat.js';
import { readMaps } from './maps.js';
import { MOUNT_ANSWER_TIMEOUT_MS } from './mount-probe.js';
import { MountTables } from './mount-tables.js';
import { readLinkBytes, readProcBytes, type ReadResult } from './read.js';
import { findSilentMounts, skipLinkOf, unansweredRecordsOf, type UnansweredMount } from './silent-mounts.js';

/** A process that keeps an inode alive: through open descriptors, memory mappings, or both. */
export interface InodeHolder {
  readonly pid: number;
  readonly comm: Buffer;
  /** Its descriptors open on the inode. */
  readonly fds: readonly number[];
  /** How many of its memory mappings map the inode. */
  readonly mappings: number;
}

/** Which processes hold which of the inodes asked about. */
export interface InodeHolderScan {
  /** Holders by "MAJ:MIN:INO" (st_dev and st_ino), in pid order. */
  readonly holders: ReadonlyMap<string, readonly InodeHolder[]>;
  /** Processes whose fds or maps could not be read (another user's, without root). */
  readonly unreadablePids: readonly number[];
  /** FUSE and network mounts that did not answer: the fd links on them were not stat-ed. */
  readonly unansweredMounts: readonly UnansweredMount[];
}

/** An inode to look for: its stat identity, and the device /proc/PID/maps prints for it when that differs. */
export interface InodeTarget {
  /** "MAJ:MIN:INO" from stat. */
  readonly key: string;
  /**
   * "MAJ:MIN:INO" with the superblock's device. maps prints the superblock's device while stat
   * reports a per-subvolume one on btrfs, so a mapping is matched on this and then confirmed
   * through map_files (which stats the mapped file itself).
   */
  readonly mapsKey: string;
}

/**
 * Finds every process holding any of `targets` open or mapped, reading every fd table in one
 * batch (the native scanner spreads it over the cores) and every maps file. A process whose
 * main thread exited shows no fds under /proc/PID/fd: its threads' tables are read instead.
 * The full scan stats every path link, so the snapshot's skip rule comes first: FUSE and
 * network mounts are asked, and a link on one that did not answer is not stat-ed.
 */
export function findInodeHolders(
  procRoot: string,
  targets: readonly InodeTarget[],
  mountTimeoutMs: number = MOUNT_ANSWER_TIMEOUT_MS,
): InodeHolderScan {
  const holders = new Map<string, InodeHolder[]>();
  if (targets.length === 0) return { holders, unreadablePids: [], unansweredMounts: [] };
  const byKey = new Set(targets.map((t) => t.key));
  const byMapsKey = new Map(targets.filter((t) => t.mapsKey !== t.key).map((t) => [t.mapsKey, t.key]));
  const pids = listPids(procRoot);
  const { namespaceOf, silent } = askMounts(procRoot, pids, mountTimeoutMs);
  const skipFor = (owners: readonly number[]): SkipLink | null =>
    skipLinkOf(
      silent,
      owners.map((pid) => namespaceOf.get(pid) ?? null),
    );
  const scans = scanFdTablesFull(
    pids.map((pid) => `${procRoot}/${pid}/fd`),
    nativeAddon(),
    skipFor(pids),
  );
  const unreadablePids: number[] = [];
  pids.forEach((pid, i) => {
    const base = `${procRoot}/${pid}`;
    let tables = [scans[i] as ReadResult<FdEntries>];
    let mapsDir = base;
    const first = tables[0] as ReadResult<FdEntries>;
    if (first.ok && first.value.fds.length === 0) {
      const tids = taskIds(base, pid);
      if (tids.length > 0) {
        tables = scanFdTablesFull(
          tids.map((tid) => `${base}/task/${tid}/fd`),
          nativeAddon(),
          skipFor(tids.map(() => pid)),
        );
        mapsDir = `${base}/task/${tids[0]}`;
      }
    }
    const fdsByKey = new Map<string, number[]>();
    let denied = false;
    for (const table of tables) {
      if (!table.ok) {
        if (table.failure === 'denied') denied = true;
        continue;
      }
      const { fds, modes, majors, minors, inos } = table.value;
      for (let j = 0; j < fds.length; j++) {
        if (modes[j] === 0) continue; // not a path: socket, pipe, anon inode
        const key = `${majors[j]}:${minors[j]}:${inos[j]}`;
        if (!byKey.has(key)) continue;
        const list = fdsByKey.get(key) ?? [];
        if (!list.includes(fds[j] as number)) list.push(fds[j] as number);
        fdsByKey.set(key, list);
      }
    }
    const mappingsByKey = new Map<string, number>();
    const maps = readMaps(`${mapsDir}/maps`);
    if (maps.ok) {
      for (const entry of maps.value) {
        const seen = `${entry.dev}:${entry.inode}`;
        let key = byKey.has(seen) ? seen : null;
        if (key === null) {
          const candidate = byMapsKey.get(seen);
          const stat = candidate ? statThrough(`${mapsDir}/map_files/${entry.range}`) : null;
          if (stat?.ok && `${stat.value.dev}:${stat.value.ino}` === candidate) key = candidate ?? null;
        }
        if (key !== null) mappingsByKey.set(key, (mappingsByKey.get(key) ?? 0) + 1);
      }
    } else if (maps.failure === 'denied') {
      denied = true;
    }
    if (denied) unreadablePids.push(pid);
    const keys = new Set([...fdsByKey.keys(), ...mappingsByKey.keys()]);
    if (keys.size === 0) return;
    const comm = readProcBytes(`${base}/comm`);
    const name = comm.ok ? comm.value.subarray(0, Math.max(0, comm.value.length - 1)) : Buffer.alloc(0);
    for (const key of keys) {
      const list = holders.get(key) ?? [];
      list.push({
        pid,
        comm: name,
        fds: (fdsByKey.get(key) ?? []).sort((a, b) => a - b),
        mappings: mappingsByKey.get(key) ?? 0,
      });
      holders.set(key, list);
    }
  });
  return { holders, unreadablePids, unansweredMounts: unansweredRecordsOf(silent) };
}

/**
 * Each process's mount namespace (null for limbo's own), and the FUSE and network mounts of
 * those namespaces that did not answer, asked once per device before any link is stat-ed. Each
 * namespace's table comes from a process at its root where there is one (proc/mount-tables.ts):
 * the skip rule matches fd links, which name files from there.
 */
function askMounts(
  procRoot: string,
  pids: readonly number[],
  timeoutMs: number,
): { namespaceOf: Map<number, string | null>; silent: ReturnType<typeof findSilentMounts> } {
  const tables = new MountTables(procRoot);
  const host = tables.namespaceOf('self');
  const namespaceOf = new Map<number, string | null>();
  for (const pid of pids) {
    const root = readLinkBytes(`${procRoot}/${pid}/root`);
    const id = tables.namespaceOf(pid, root.ok ? root.value.toString() : null);
    if (id !== null) namespaceOf.set(pid, id === host ? null : id);
  }
  return { namespaceOf, silent: findSilentMounts(procRoot, tables.byId.values(), host, timeoutMs) };
}

/** The other threads of a process, when it has any (its main thread may have exited). */
function taskIds(base: string, pid: number): number[] {
  try {
    return readdirSync(`${base}/task`)
      .map(Number)
      .filter((tid) => tid !== pid);
  } catch {
    return [];
  }
}
