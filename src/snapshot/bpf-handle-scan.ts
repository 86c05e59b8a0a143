// The handle ledger from the kernel: one run of the task_file and task_vma iterators
// (native/handles.bpf.c), aggregated per process by the addon, named here with the /proc scanner's
// own words (classifyFdLinkText, socketProtocolOfName), so both scanners type fds alike.
import type { BpfHandleScan } from '../native.js';
import { classifyFdLinkText } from '../proc/fd-kind.js';
import { socketProtocolOfName } from '../proc/net-sockets.js';
import { countFdsInFlight, readSystemCounts } from './handle-scan.js';
import type { ProcessHandles, SystemHandles } from './types.js';

export type BpfHandles = Exclude<BpfHandleScan, { error: string }>;

// native/handle-records.h enum limbo_handle_kind
const PATH = 0;
const MQUEUE = 1;
const SOCKET = 2;
const PIPE = 3;
const ANON = 4;
const TEXT = 5;

/**
 * Per-process handles and the system's figures from one BPF run: open files are distinct struct
 * files (exact, no kcmp), mapping-only files the VMA files no fd table holds (exact, each counted
 * for the lowest pid that maps it), SysV shm attach files the distinct shm VMA files. file-nr is
 * read right after the run, as close to it as it can be.
 */
export function bpfHandleLedger(
  scan: BpfHandles,
  procRoot: string,
): { processes: Map<number, ProcessHandles>; system: SystemHandles } {
  const system: SystemHandles = {
    ...readSystemCounts(procRoot),
    openFiles: scan.openFiles,
    openFilesExact: true,
    mappingsExact: true,
    fdsInFlight: fdsInFlightOf(scan, procRoot),
    shmAttachFiles: scan.shmAttachFiles,
  };
  const processes = new Map<number, ProcessHandles>();
  for (const p of scan.processes) {
    const fdTypes: Record<string, number> = {};
    const socketProtocols: Record<string, number> = {};
    const anonInodes: Record<string, number> = {};
    for (const [kind, type, name, count] of p.kinds) {
      const fdType = typeOf(kind, type, name);
      fdTypes[fdType.kind] = (fdTypes[fdType.kind] ?? 0) + count;
      if (fdType.anonType) anonInodes[fdType.anonType] = (anonInodes[fdType.anonType] ?? 0) + count;
      if (kind === SOCKET) {
        // sockfs names a socket's dentry after its protocol: the sockprotoname xattr the /proc
        // scanner falls back to, and the name of the /proc/net table that lists it.
        const protocol = name === '' ? 'other' : socketProtocolOfName(name);
        socketProtocols[protocol] = (socketProtocols[protocol] ?? 0) + count;
      }
    }
    processes.set(p.pid, {
      fdTypes,
      socketProtocols,
      anonInodes,
      openFiles: p.openFiles,
      mappingFiles: p.mappingFiles,
      shmAttachments: p.shmAttachments,
    });
  }
  return { processes, system };
}

/**
 * fds in SCM_RIGHTS messages not yet received: the kernel counted them for every unix socket but
 * the listeners, whose fdinfo sums the connections queued on them (null when none could be read).
 */
function fdsInFlightOf(scan: BpfHandles, procRoot: string): number | null {
  const listeners = countFdsInFlight(
    procRoot,
    Array.from({ length: scan.unixListeners.length / 2 }, (_, i) => ({
      task: scan.unixListeners[2 * i] as number,
      fd: scan.unixListeners[2 * i + 1] as number,
    })),
  );
  return listeners === null ? null : scan.fdsInFlight + listeners;
}

/** What a process holds nothing of: the handles of one the iterators never visited. */
export const NO_HANDLES: ProcessHandles = Object.freeze({
  fdTypes: {},
  socketProtocols: {},
  anonInodes: {},
  openFiles: 0,
  mappingFiles: 0,
  shmAttachments: 0,
});

/** The fd type of a kernel record, in the words classifyFdLinkText gives the link readlink shows. */
function typeOf(kind: number, type: number, name: string): { kind: string; anonType: string | null } {
  switch (kind) {
    case PATH:
      return classifyFdLinkText('/', type);
    case MQUEUE:
      return { kind: 'mqueue', anonType: null };
    case SOCKET:
      return { kind: 'socket', anonType: null };
    case PIPE:
      return { kind: 'pipe', anonType: null };
    case ANON:
      return classifyFdLinkText(`anon_inode:${name}`);
    case TEXT:
      return classifyFdLinkText(name, type);
    default:
      return { kind: 'other', anonType: null };
  }
}
