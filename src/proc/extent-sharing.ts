// Which part of a deleted file's blocks closing it would really free, on filesystems where files
// share extents (reflink copies, btrfs snapshots). st_blocks counts every block a file maps,
// shared or not; the kernel frees only the blocks no other file or snapshot still references.
// FIEMAP (Documentation/filesystems/fiemap.rst) flags those with FIEMAP_EXTENT_SHARED: XFS from
// its refcount btree, btrfs from its backrefs (snapshots included), both at the time of the call.
import { nativeAddon } from '../native.js';
import { fsTypeThrough } from './file-stat.js';

/** Filesystems whose files can share extents, by statfs f_type (include/uapi/linux/magic.h). */
const SHARING_MAGICS: ReadonlyMap<number, string> = new Map([
  [0x58465342, 'xfs'],
  [0x9123683e, 'btrfs'],
  [0xca451a4e, 'bcachefs'],
  [0x7461636f, 'ocfs2'],
  // overlayfs copies up by cloning where its upper filesystem can (ovl_copy_up_file), and
  // passes FIEMAP through to the upper file: its answer tells, not the fstype.
  [0x794c7630, 'overlay'],
]);

/** The same filesystems by their mountinfo fstype. */
const SHARING_FSTYPES: ReadonlySet<string> = new Set(SHARING_MAGICS.values());

/** True for a mountinfo fstype whose files can share extents: st_blocks alone may overstate what closing frees. */
export function canShareExtents(fstype: string | null): boolean {
  return fstype !== null && SHARING_FSTYPES.has(fstype);
}

/** Files smaller than this are not walked: their split stays unknown, and they hold less than this. */
export const EXTENT_WALK_MIN_BYTES = 64 * 1024;
/** At most this many extents are read per file; a file with more is left unknown (see bench/run.mjs). */
export const EXTENT_WALK_MAX = 4096;

/** One FIEMAP extent, in bytes, with its FIEMAP_EXTENT_* flags. */
export interface Extent {
  readonly logical: number;
  readonly physical: number;
  readonly length: number;
  readonly flags: number;
}

/**
 * Why the shared part of a file is unknown: `capped`, more extents than EXTENT_WALK_MAX;
 * `self-shared`, two of its extents map the same blocks (cloned within the file), which st_blocks
 * counts twice; `encoded`, compressed or encoded extents, whose FIEMAP length is not what they
 * hold on disk; `small`, under EXTENT_WALK_MIN_BYTES, not walked; `unreadable`, no native addon
 * (Node has no ioctl), or FIEMAP failed or is not supported there.
 */
export const SHARING_UNKNOWNS = ['capped', 'self-shared', 'encoded', 'small', 'unreadable'] as const;
export type SharingUnknown = (typeof SHARING_UNKNOWNS)[number];

/** What FIEMAP says about one deleted file on a filesystem that can share extents. */
export interface ExtentSharing {
  /** Extents read. */
  readonly extents: number;
  /** Bytes in extents flagged FIEMAP_EXTENT_SHARED: still referenced by another file or snapshot. */
  readonly sharedBytes: number;
  /** Why sharedBytes cannot be trusted to be the whole shared part; null when it can. */
  readonly unknown: SharingUnknown | null;
}

// include/uapi/linux/fiemap.h
const FIEMAP_EXTENT_LAST = 0x1;
const FIEMAP_EXTENT_UNKNOWN = 0x2;
const FIEMAP_EXTENT_ENCODED = 0x8;
const FIEMAP_EXTENT_SHARED = 0x2000;

/**
 * The shared bytes of one file from its extent list, as FIEMAP returned it with room for
 * `maxExtents`. The walk is whole only when the last extent carries FIEMAP_EXTENT_LAST (or the
 * file has none). Extents with FIEMAP_EXTENT_UNKNOWN (delalloc: data not yet given blocks) are
 * the file's own. Overlapping physical ranges mean the file shares blocks with itself: both XFS
 * and btrfs flag those SHARED although nothing outside the file holds them, so the split is
 * unknown rather than wrong.
 */
export function accountExtents(extents: readonly Extent[], maxExtents: number): ExtentSharing {
  const last = extents.at(-1);
  const whole = last === undefined || (last.flags & FIEMAP_EXTENT_LAST) !== 0;
  let sharedBytes = 0;
  let unknown: SharingUnknown | null = whole ? null : 'capped';
  if (!whole && extents.length < maxExtents) unknown = 'unreadable'; // the file changed mid-call
  const placed: Extent[] = [];
  for (const extent of extents) {
    if (extent.flags & FIEMAP_EXTENT_SHARED) sharedBytes += extent.length;
    if (extent.flags & FIEMAP_EXTENT_ENCODED) unknown ??= 'encoded';
    if (!(extent.flags & FIEMAP_EXTENT_UNKNOWN)) placed.push(extent);
  }
  placed.sort((a, b) => a.physical - b.physical);
  for (let i = 1; i < placed.length; i++) {
    const previous = placed[i - 1] as Extent;
    if ((placed[i] as Extent).physical < previous.physical + previous.length) unknown ??= 'self-shared';
  }
  return { extents: extents.length, sharedBytes, unknown };
}

/** The native call's flat (logical, physical, length, flags) quadruples as extents. */
export function extentsFromQuads(quads: Float64Array): Extent[] {
  const extents: Extent[] = [];
  for (let i = 0; i + 3 < quads.length; i += 4) {
    extents.push({
      logical: quads[i] as number,
      physical: quads[i + 1] as number,
      length: quads[i + 2] as number,
      flags: quads[i + 3] as number,
    });
  }
  return extents;
}

/**
 * The extent sharing of a deleted file through a /proc link to it (an fd, or a map_files range),
 * or null when its filesystem cannot share extents (statfs f_type: `fsType` when the caller
 * knows it already, as for another file of the same st_dev). `expected` is the (dev, ino) the
 * scan saw: an fd reused since then is not read.
 */
export function readExtentSharing(
  link: string,
  expected: { readonly dev: string; readonly ino: bigint; readonly allocatedBytes: number },
  fsType: number | null = typeThrough(link),
): ExtentSharing | null {
  // null: gone since the stat; absent sharing on a filesystem that can share reads as unknown.
  if (fsType === null || !SHARING_MAGICS.has(fsType)) return null;
  const unreadable: ExtentSharing = { extents: 0, sharedBytes: 0, unknown: 'unreadable' };
  if (expected.allocatedBytes < EXTENT_WALK_MIN_BYTES) return { ...unreadable, unknown: 'small' };
  const fileExtents = nativeAddon()?.fileExtents;
  if (!fileExtents) return unreadable;
  const answer = fileExtents(link, EXTENT_WALK_MAX);
  if ('error' in answer) return unreadable;
  if (`${answer.major}:${answer.minor}` !== expected.dev || answer.ino !== expected.ino) return unreadable;
  return accountExtents(extentsFromQuads(answer.extents), EXTENT_WALK_MAX);
}

/** The statfs f_type of the filesystem a link leads to; null when it is gone. */
function typeThrough(link: string): number | null {
  const type = fsTypeThrough(link);
  return type.ok ? type.value : null;
}
