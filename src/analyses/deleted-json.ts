import { isUtf8 } from 'node:buffer';
import type { DeletedReport } from './deleted.js';

/** The documented `limbo.deleted/1` JSON (docs/json/deleted.md): stable field names, bytes and counts as numbers. */
export interface DeletedJson {
  readonly schema: 'limbo.deleted/1';
  readonly files: readonly {
    readonly dev: string;
    readonly inode: number | string;
    readonly path: string | null;
    readonly pathBytes?: string;
    readonly kind: string;
    readonly size: number;
    readonly allocated: number;
    readonly mount: string | null;
    readonly fstype: string | null;
    readonly ramBacked: boolean;
    readonly holders: readonly {
      readonly pid: number;
      readonly comm: string;
      readonly user: string;
      readonly uid: number;
      readonly fds: readonly number[];
      readonly mappings: number;
      readonly tids: readonly number[];
      readonly unit: string | null;
      readonly container: string | null;
      readonly mountNamespace: string | null;
    }[];
  }[];
  readonly totals: {
    readonly files: number;
    readonly size: number;
    readonly allocated: number;
    readonly diskAllocated: number;
    readonly ramAllocated: number;
    readonly byMount: readonly {
      readonly mount: string | null;
      readonly fstype: string | null;
      readonly ramBacked: boolean;
      readonly files: number;
      readonly size: number;
      readonly allocated: number;
    }[];
  };
  readonly incomplete: {
    readonly unreadableProcesses: number;
    readonly unreadablePids: readonly number[];
    readonly unverifiedMappings: number;
  };
}

/** Inodes are JSON numbers while exact (below 2^53), decimal strings beyond. */
export function inodeToJson(ino: bigint): number | string {
  return ino <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(ino) : ino.toString();
}

/** Converts a report to the `limbo.deleted/1` contract. */
export function deletedReportToJson(report: DeletedReport): DeletedJson {
  return {
    schema: 'limbo.deleted/1',
    files: report.files.map((file) => ({
      dev: file.dev,
      inode: inodeToJson(file.ino),
      path: file.name === null ? null : file.name.toString('utf8'),
      ...(file.name !== null && !isUtf8(file.name) ? { pathBytes: file.name.toString('base64') } : {}),
      kind: file.kind,
      size: file.sizeBytes,
      allocated: file.allocatedBytes,
      mount: file.mount,
      fstype: file.fstype,
      ramBacked: file.ramBacked,
      holders: file.holders.map((holder) => ({
        pid: holder.pid,
        comm: holder.comm.toString('utf8'),
        user: holder.user,
        uid: holder.uid,
        fds: holder.fds,
        mappings: holder.mappings,
        tids: holder.tids,
        unit: holder.unit,
        container: holder.container,
        mountNamespace: holder.mountNamespace,
      })),
    })),
    totals: {
      files: report.totals.files,
      size: report.totals.sizeBytes,
      allocated: report.totals.allocatedBytes,
      diskAllocated: report.totals.diskAllocatedBytes,
      ramAllocated: report.totals.ramAllocatedBytes,
      byMount: report.totals.byMount.map((m) => ({
        mount: m.mount,
        fstype: m.fstype,
        ramBacked: m.ramBacked,
        files: m.files,
        size: m.sizeBytes,
        allocated: m.allocatedBytes,
      })),
    },
    incomplete: {
      unreadableProcesses: report.incomplete.unreadableProcesses,
      unreadablePids: report.incomplete.unreadablePids,
      unverifiedMappings: report.incomplete.unverifiedMappings,
    },
  };
}
