// What `limbo links` observes (src/walk/find-links.ts gathers it, src/analyses/links.ts judges it):
// plain data, so the judgement can be tested on hand-made observations.
import type { UnansweredMount } from '../proc/silent-mounts.js';
import type { InodeHolder } from '../proc/inode-holders.js';

/** ext2, ext3 and ext4: one driver family, whose link limits and dir_nlink rules limbo knows. */
export function isExtType(fstype: string | null): boolean {
  return fstype === 'ext2' || fstype === 'ext3' || fstype === 'ext4';
}

/** The filesystem under a path, as far as limbo could tell. */
export interface FilesystemFacts {
  /** From mountinfo: "ext4", "xfs", "btrfs", "tmpfs", ...; null when no mount matched. */
  readonly fstype: string | null;
  readonly mountPoint: string | null;
  /**
   * For ext2/ext3/ext4 types: which kernel driver mounted it ("ext4" when /sys/fs/ext4 lists the
   * device: the ext4 driver also mounts ext2 and ext3, with ext4's limits); null when unknown.
   */
  readonly extDriver: 'ext4' | 'ext2' | null;
  /** ext4: whether the superblock has dir_nlink and dir_index (null: could not read it, needs root). */
  readonly extDirNlink: boolean | null;
}

/** A name as stat saw it: the name itself (lstat), never what a final symlink points at. */
export interface ObservedName {
  /** The absolute path: directories resolved, the last component kept. */
  readonly path: Buffer;
  /** st_dev as "MAJ:MIN". */
  readonly dev: string;
  readonly ino: bigint;
  readonly nlink: number;
  readonly mode: number;
  readonly sizeBytes: number;
  /** st_blocks × 512. */
  readonly allocatedBytes: number;
  readonly filesystem: FilesystemFacts;
}

/** A file (anything but a directory) to find the other names of. */
export interface ObservedFile extends ObservedName {
  /** The root of the walk that looked for its other names (see `walks`); null when none did. */
  readonly searchedRoot: string | null;
  /** Why no walk looked for its names, when none did. */
  readonly searchNote: string | null;
  /** Processes holding it open or mapped. */
  readonly holders: readonly InodeHolder[];
}

export interface ObservedDirectory extends ObservedName {
  /** Entries that are directories (mount points included: they count in nlink); null when unreadable. */
  readonly subdirectories: number | null;
}

/** One multiply-linked file a walk met under one of its names. */
export interface WalkedLink {
  readonly path: Buffer;
  readonly ino: bigint;
  readonly nlink: number;
  readonly allocatedBytes: number;
}

/** A du-style walk of one filesystem tree, with every name of its multiply-linked files. */
export interface ObservedWalk {
  readonly root: string;
  readonly dev: string;
  /** `names`: to find the other names of files; `groups`: for --groups. */
  readonly purpose: 'names' | 'groups';
  readonly milliseconds: number;
  readonly files: number;
  readonly directories: number;
  /** Entries that could not be read: names under them were not seen. */
  readonly errors: number;
  /** st_blocks × 512 of every inode met once: what a backup that keeps hard links needs. */
  readonly allocatedBytes: number;
  readonly linked: readonly WalkedLink[];
}

/** Everything limbo looked at for `limbo links`: plain data. */
export interface LinksObservation {
  readonly files: readonly ObservedFile[];
  readonly directories: readonly ObservedDirectory[];
  /** The --groups directory and the walk of it; null without --groups. */
  readonly groups: { readonly root: string; readonly dev: string } | null;
  readonly walks: readonly ObservedWalk[];
  readonly unreadablePids: readonly number[];
  readonly scannerUid: number;
  /** FUSE and network mounts that did not answer while holders were searched (absent when all did). */
  readonly unansweredMounts?: readonly UnansweredMount[];
}
