import { isUtf8 } from 'node:buffer';
import { inodeToJson } from './deleted-json.js';
import type { FileType } from '../proc/file-mode.js';
import type { LinksReport } from './links.js';

/** The documented `limbo.links/1` JSON (docs/json.md). */
export interface LinksJson {
  readonly schema: 'limbo.links/1';
  readonly files: readonly {
    readonly path: string;
    readonly pathBytes?: string;
    readonly dev: string;
    readonly inode: number | string;
    readonly nlink: number;
    readonly type: FileType;
    readonly size: number;
    readonly allocated: number;
    readonly fstype: string | null;
    readonly mount: string | null;
    readonly names: readonly string[];
    readonly namesBytes?: readonly (string | null)[];
    readonly namesOutside: number;
    readonly searched: string | null;
    readonly searchNote: string | null;
    readonly heldOpenBy: readonly number[];
    readonly holders: readonly {
      readonly pid: number;
      readonly comm: string;
      readonly fds: readonly number[];
      readonly mappings: number;
    }[];
    readonly freedByRemoving: number;
    readonly freedByRemovingAllNames: number;
    readonly linkLimit: number | null;
    readonly linkLimitSource: string;
  }[];
  readonly directories: readonly {
    readonly path: string;
    readonly pathBytes?: string;
    readonly dev: string;
    readonly inode: number | string;
    readonly nlink: number;
    readonly fstype: string | null;
    readonly mount: string | null;
    readonly subdirectories: number | null;
    readonly subdirectoriesImplied: number | null;
    readonly nlinkReliable: boolean;
    readonly nlinkRule: string;
    readonly linkLimit: number | null;
    readonly linkLimitSource: string;
  }[];
  readonly groups: readonly {
    readonly dev: string;
    readonly inode: number | string;
    readonly nlink: number;
    readonly names: readonly string[];
    readonly namesBytes?: readonly (string | null)[];
    readonly namesOutside: number;
    readonly allocated: number;
  }[];
  readonly backup: {
    readonly root: string;
    readonly deduplicated: number;
    readonly withoutLinkDetection: number;
  } | null;
  readonly walks: readonly {
    readonly root: string;
    readonly purpose: 'names' | 'groups';
    readonly milliseconds: number;
    readonly files: number;
    readonly directories: number;
    readonly errors: number;
  }[];
  readonly incomplete: {
    readonly unreadableProcesses: number;
    readonly unreadablePids: readonly number[];
    readonly walkErrors: number;
  };
}

/** Converts a report to the `limbo.links/1` contract. */
export function linksReportToJson(report: LinksReport): LinksJson {
  return {
    schema: 'limbo.links/1',
    files: report.files.map((f) => ({
      ...pathToJson(f.path),
      dev: f.dev,
      inode: inodeToJson(f.ino),
      nlink: f.nlink,
      type: f.type,
      size: f.sizeBytes,
      allocated: f.allocatedBytes,
      fstype: f.fstype,
      mount: f.mountPoint,
      ...namesToJson(f.names),
      namesOutside: f.namesOutside,
      searched: f.search?.root ?? null,
      searchNote: f.searchNote,
      heldOpenBy: f.holders.map((h) => h.pid),
      holders: f.holders.map((h) => ({
        pid: h.pid,
        comm: h.comm.toString('utf8'),
        fds: h.fds,
        mappings: h.mappings,
      })),
      freedByRemoving: f.freedByRemovingBytes,
      freedByRemovingAllNames: f.freedByRemovingAllNamesBytes,
      linkLimit: f.linkLimit.max,
      linkLimitSource: f.linkLimit.source,
    })),
    directories: report.directories.map((d) => ({
      ...pathToJson(d.path),
      dev: d.dev,
      inode: inodeToJson(d.ino),
      nlink: d.nlink,
      fstype: d.fstype,
      mount: d.mountPoint,
      subdirectories: d.subdirectories,
      subdirectoriesImplied: d.subdirectoriesImplied,
      nlinkReliable: d.nlinkReliable,
      nlinkRule: d.nlinkRule,
      linkLimit: d.linkLimit.max,
      linkLimitSource: d.linkLimit.source,
    })),
    groups: (report.groups?.groups ?? []).map((g) => ({
      dev: g.dev,
      inode: inodeToJson(g.ino),
      nlink: g.nlink,
      ...namesToJson(g.names),
      namesOutside: g.namesOutside,
      allocated: g.allocatedBytes,
    })),
    backup: report.groups
      ? {
          root: report.groups.root,
          deduplicated: report.groups.deduplicatedBytes,
          withoutLinkDetection: report.groups.withoutLinkDetectionBytes,
        }
      : null,
    walks: report.walks.map((w) => ({
      root: w.root,
      purpose: w.purpose,
      milliseconds: w.milliseconds,
      files: w.files,
      directories: w.directories,
      errors: w.errors,
    })),
    incomplete: {
      unreadableProcesses: report.incomplete.unreadableProcesses,
      unreadablePids: report.incomplete.unreadablePids,
      walkErrors: report.incomplete.walkErrors,
    },
  };
}

/** `path`, plus `pathBytes` (base64) when the bytes are not valid UTF-8, as in limbo.deleted/1. */
function pathToJson(path: Buffer): { path: string; pathBytes?: string } {
  return isUtf8(path)
    ? { path: path.toString('utf8') }
    : { path: path.toString('utf8'), pathBytes: path.toString('base64') };
}

/** `names`, plus a parallel `namesBytes` (base64, or null for a valid name) when any name is not UTF-8. */
function namesToJson(names: readonly Buffer[]): { names: string[]; namesBytes?: (string | null)[] } {
  const strings = names.map((n) => n.toString('utf8'));
  if (names.every((n) => isUtf8(n))) return { names: strings };
  return { names: strings, namesBytes: names.map((n) => (isUtf8(n) ? null : n.toString('base64'))) };
}
