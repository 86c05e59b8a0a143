// Hard links, judged from what was observed (src/walk/find-links.ts gathers it): the other names
// of a file, what removing a name frees, whether a directory's link count tells its subdirectories,
// and how close an inode is to EMLINK. Pure: the same observation always gives the same report.
import { fileTypeOf, type FileType } from '../proc/file-mode.js';
import {
  isExtType,
  type FilesystemFacts,
  type LinksObservation,
  type ObservedDirectory,
  type ObservedFile,
  type ObservedWalk,
} from '../walk/links-observation.js';
import type { InodeHolder } from '../proc/inode-holders.js';
import type { UnansweredMount } from '../snapshot/types.js';

export type {
  FilesystemFacts,
  LinksObservation,
  ObservedDirectory,
  ObservedFile,
  ObservedName,
  ObservedWalk,
  WalkedLink,
} from '../walk/links-observation.js';

/** The most links an inode may have on a filesystem, and where that number comes from. */
export interface LinkLimit {
  /** null when there is none, or when limbo does not know it. */
  readonly max: number | null;
  readonly source: string;
}

export interface FileLinks {
  readonly path: Buffer;
  readonly dev: string;
  readonly ino: bigint;
  readonly nlink: number;
  readonly type: FileType;
  readonly sizeBytes: number;
  readonly allocatedBytes: number;
  readonly fstype: string | null;
  readonly mountPoint: string | null;
  /** Every name found, this one included, in byte order. */
  readonly names: readonly Buffer[];
  /** nlink − names found: names outside the tree searched (or unreadable, or covered by a mount). */
  readonly namesOutside: number;
  /** The walk that searched for names; null when nlink was 1 or no walk was possible. */
  readonly search: ObservedWalk | null;
  readonly searchNote: string | null;
  readonly holders: readonly InodeHolder[];
  /** What `rm` of this one name frees: all its blocks when it is the last name and nothing holds it, else 0. */
  readonly freedByRemovingBytes: number;
  /** What `rm` of every name found frees: 0 while a process holds it or a name was not found. */
  readonly freedByRemovingAllNamesBytes: number;
  readonly linkLimit: LinkLimit;
}

export interface DirectoryLinks {
  readonly path: Buffer;
  readonly dev: string;
  readonly ino: bigint;
  readonly nlink: number;
  readonly fstype: string | null;
  readonly mountPoint: string | null;
  /** Subdirectories counted by reading the directory; null when it could not be read. */
  readonly subdirectories: number | null;
  /** nlink − 2 (its "." and its name in the parent), when the filesystem keeps the count. */
  readonly subdirectoriesImplied: number | null;
  /** Whether nlink tells the subdirectory count here. */
  readonly nlinkReliable: boolean;
  /** The rule that decided `nlinkReliable`. */
  readonly nlinkRule: string;
  /** The most links (so the most subdirectories + 2) the directory may have. */
  readonly linkLimit: LinkLimit;
}

/** One hard-link group under the --groups directory. */
export interface LinkGroup {
  readonly dev: string;
  readonly ino: bigint;
  readonly nlink: number;
  /** The names found under the directory, in byte order. */
  readonly names: readonly Buffer[];
  /** nlink − names found: names elsewhere on the filesystem. */
  readonly namesOutside: number;
  readonly allocatedBytes: number;
}

export interface GroupsReport {
  readonly root: string;
  readonly groups: readonly LinkGroup[];
  /** What a backup of the directory needs when it keeps hard links: each inode once (du -s). */
  readonly deduplicatedBytes: number;
  /** What a copy that does not keep hard links writes (rsync without -H, cp -r): each name in full. */
  readonly withoutLinkDetectionBytes: number;
  readonly walk: ObservedWalk;
}

export interface LinksReport {
  readonly files: readonly FileLinks[];
  readonly directories: readonly DirectoryLinks[];
  readonly groups: GroupsReport | null;
  readonly walks: readonly ObservedWalk[];
  readonly incomplete: {
    readonly scannerUid: number;
    readonly unreadableProcesses: number;
    readonly unreadablePids: readonly number[];
    /** Entries no walk could read, summed over the walks. */
    readonly walkErrors: number;
    /** FUSE and network mounts that did not answer: the fd links on them were not stat-ed. */
    readonly unansweredMounts: readonly UnansweredMount[];
  };
}

/** Judges everything observed: names, holders and what `rm` frees per file; nlink per directory; groups. */
export function analyzeLinks(observation: LinksObservation): LinksReport {
  const walkAt = new Map(observation.walks.filter((w) => w.purpose === 'names').map((w) => [w.root, w]));
  const files = observation.files.map((file) => judgeFile(file, walkAt.get(file.searchedRoot ?? '')));
  const directories = observation.directories.map(judgeDirectory);
  const groupsWalk = observation.walks.find((w) => w.purpose === 'groups');
  const groups =
    observation.groups && groupsWalk
      ? summarizeGroups(observation.groups.root, observation.groups.dev, groupsWalk)
      : null;
  return {
    files,
    directories,
    groups,
    walks: observation.walks,
    incomplete: {
      scannerUid: observation.scannerUid,
      unreadableProcesses: observation.unreadablePids.length,
      unreadablePids: observation.unreadablePids,
      walkErrors: observation.walks.reduce((sum, w) => sum + w.errors, 0),
      unansweredMounts: observation.unansweredMounts ?? [],
    },
  };
}

function judgeFile(file: ObservedFile, walk: ObservedWalk | undefined): FileLinks {
  const found = walk ? walk.linked.filter((l) => l.ino === file.ino).map((l) => l.path) : [];
  const names = uniqueSorted([file.path, ...found]);
  const namesOutside = Math.max(0, file.nlink - names.length);
  const held = file.holders.length > 0;
  return {
    path: file.path,
    dev: file.dev,
    ino: file.ino,
    nlink: file.nlink,
    type: fileTypeOf(file.mode),
    sizeBytes: file.sizeBytes,
    allocatedBytes: file.allocatedBytes,
    fstype: file.filesystem.fstype,
    mountPoint: file.filesystem.mountPoint,
    names,
    namesOutside,
    search: walk ?? null,
    searchNote: file.searchNote,
    holders: file.holders,
    freedByRemovingBytes: file.nlink <= 1 && !held ? file.allocatedBytes : 0,
    freedByRemovingAllNamesBytes: namesOutside === 0 && !held ? file.allocatedBytes : 0,
    linkLimit: linkLimitOf(file.filesystem, false),
  };
}

function judgeDirectory(dir: ObservedDirectory): DirectoryLinks {
  const judged = judgeDirectoryNlink(dir.filesystem.fstype, dir.nlink, dir.subdirectories);
  // An ext4 directory at nlink 1 proves dir_nlink even when the superblock could not be read.
  const fs =
    dir.filesystem.extDirNlink === null && dir.nlink === 1
      ? { ...dir.filesystem, extDirNlink: true }
      : dir.filesystem;
  return {
    path: dir.path,
    dev: dir.dev,
    ino: dir.ino,
    nlink: dir.nlink,
    fstype: dir.filesystem.fstype,
    mountPoint: dir.filesystem.mountPoint,
    subdirectories: dir.subdirectories,
    subdirectoriesImplied: judged.reliable ? dir.nlink - 2 : null,
    nlinkReliable: judged.reliable,
    nlinkRule: judged.rule,
    linkLimit: linkLimitOf(fs, true),
  };
}

/**
 * Whether a directory's st_nlink counts its subdirectories (nlink = 2 + subdirectories: its own
 * ".", its name in the parent, and each child's ".."). Filesystems that do not keep the count
 * report 1, the convention find(1) and fts rely on; each rule below was observed on Linux 6.18.
 */
export function judgeDirectoryNlink(
  fstype: string | null,
  nlink: number,
  subdirectories: number | null,
): { readonly reliable: boolean; readonly rule: string } {
  if (fstype === 'btrfs') return { reliable: false, rule: 'btrfs reports nlink 1 for every directory' };
  if (nlink === 1 && isExtType(fstype)) {
    return {
      reliable: false,
      rule: 'ext4 dir_nlink: past 65,000 links the count is set to 1, and stays 1',
    };
  }
  if (nlink === 1 && fstype === 'overlay') {
    return { reliable: false, rule: 'overlayfs reports nlink 1 for a directory merged from several layers' };
  }
  if (nlink < 2) {
    return {
      reliable: false,
      rule: `nlink ${nlink}: ${fstype ?? 'this filesystem'} does not count subdirectories here`,
    };
  }
  if (subdirectories === null) {
    return { reliable: true, rule: `nlink ≥ 2 on ${fstype ?? 'this filesystem'}; not checked (unreadable)` };
  }
  const implied = nlink - 2;
  if (implied === subdirectories) {
    return { reliable: true, rule: `nlink − 2 = ${implied} matches the subdirectories counted` };
  }
  return {
    reliable: false,
    rule: `nlink − 2 = ${implied}, but ${subdirectories} subdirectories were counted (changed meanwhile, or not kept)`,
  };
}

/**
 * The most links an inode may have on a filesystem (the VFS refuses more with EMLINK), from the
 * kernel source: a constant, or `sb->s_max_links`. null when there is none or limbo does not know.
 */
export function linkLimitOf(fs: FilesystemFacts, directory: boolean): LinkLimit {
  const fstype = fs.fstype;
  if (fstype === null) return { max: null, source: 'unknown: the filesystem type could not be found' };
  if (isExtType(fstype)) {
    if (fs.extDriver === 'ext2') {
      return { max: 32000, source: 'the ext2 driver: EXT2_LINK_MAX in fs/ext2/ext2.h' };
    }
    if (fs.extDriver === null && fstype !== 'ext4') {
      return {
        max: null,
        source: `unknown: 65,000 if the ext4 driver mounted this ${fstype}, 32,000 if the ext2 driver did`,
      };
    }
    if (!directory) return { max: 65000, source: 'EXT4_LINK_MAX in fs/ext4/ext4.h' };
    if (fs.extDirNlink === true) {
      return {
        max: null,
        source: 'none: with dir_nlink, past 65,000 the count sticks at 1 (fs/ext4/namei.c)',
      };
    }
    if (fs.extDirNlink === false) {
      return { max: 65000, source: 'no dir_nlink: EXT4_DIR_LINK_MAX in fs/ext4/namei.c' };
    }
    return {
      max: null,
      source: 'unknown: 65,000 without dir_nlink, none with it (the superblock could not be read)',
    };
  }
  switch (fstype) {
    case 'xfs':
      return { max: 2147483647, source: 'XFS_MAXLINK, 2^31 − 1, in fs/xfs/libxfs/xfs_format.h' };
    case 'btrfs':
      return directory
        ? { max: null, source: 'none: btrfs keeps no directory link count' }
        : { max: 65535, source: 'BTRFS_LINK_MAX in include/uapi/linux/btrfs_tree.h' };
    case 'f2fs':
      return { max: 4294967295, source: 'F2FS_LINK_MAX, 0xffffffff, in fs/f2fs/f2fs.h' };
    case 'tmpfs':
    case 'ramfs':
    case 'devtmpfs':
      return {
        max: null,
        source: `none: ${fstype} sets no maximum${fstype === 'tmpfs' ? ' (each extra name uses one of its inodes)' : ''}`,
      };
    case 'overlay':
      return { max: null, source: 'unknown: overlayfs takes the limit of its upper filesystem' };
    default:
      return { max: null, source: `unknown for ${fstype}` };
  }
}

/** The hard-link groups a walk found, biggest first, and what a backup of the tree needs. */
export function summarizeGroups(root: string, dev: string, walk: ObservedWalk): GroupsReport {
  const byIno = new Map<bigint, { nlink: number; allocatedBytes: number; names: Buffer[] }>();
  for (const link of walk.linked) {
    const group = byIno.get(link.ino) ?? {
      nlink: link.nlink,
      allocatedBytes: link.allocatedBytes,
      names: [],
    };
    group.names.push(link.path);
    byIno.set(link.ino, group);
  }
  const groups: LinkGroup[] = [...byIno].map(([ino, group]) => {
    const names = uniqueSorted(group.names);
    return {
      dev,
      ino,
      nlink: group.nlink,
      names,
      namesOutside: Math.max(0, group.nlink - names.length),
      allocatedBytes: group.allocatedBytes,
    };
  });
  groups.sort(
    (a, b) =>
      b.allocatedBytes - a.allocatedBytes ||
      b.names.length - a.names.length ||
      (a.ino < b.ino ? -1 : a.ino > b.ino ? 1 : 0),
  );
  const extraCopies = groups.reduce((sum, g) => sum + g.allocatedBytes * (g.names.length - 1), 0);
  return {
    root,
    groups,
    deduplicatedBytes: walk.allocatedBytes,
    withoutLinkDetectionBytes: walk.allocatedBytes + extraCopies,
    walk,
  };
}

function uniqueSorted(names: readonly Buffer[]): Buffer[] {
  const sorted = [...names].sort(Buffer.compare);
  return sorted.filter((name, i) => i === 0 || !name.equals(sorted[i - 1] as Buffer));
}
