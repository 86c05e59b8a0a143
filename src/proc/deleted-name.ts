// The marker d_path appends when the name an open file was reached by has been unlinked
// (fs/d_path.c, d_unlinked). A cheap pre-filter for fd links and maps names, never a verdict:
// only st_nlink == 0 says a file is deleted (see KERNEL-NOTES).

/** The text the kernel appends to an unlinked name. */
export const DELETED_SUFFIX = ' (deleted)';
const SUFFIX_BYTES = Buffer.from(DELETED_SUFFIX, 'latin1');

/** True when a link or maps name (bytes, or a latin1 string) ends in " (deleted)". */
export function hasDeletedSuffix(name: Buffer | string): boolean {
  if (typeof name === 'string') return name.endsWith(DELETED_SUFFIX);
  // Byte by byte: a subarray to compare would be one more object per fd link and maps line.
  const start = name.length - SUFFIX_BYTES.length;
  if (start < 0) return false;
  for (let i = 0; i < SUFFIX_BYTES.length; i++) if (name[start + i] !== SUFFIX_BYTES[i]) return false;
  return true;
}

/** The name without the kernel's " (deleted)" marker (a copy when bytes are cut). */
export function stripDeletedSuffix<T extends Buffer | string>(name: T): T {
  if (!hasDeletedSuffix(name)) return name;
  if (typeof name === 'string') return name.slice(0, -DELETED_SUFFIX.length) as T;
  return Buffer.from(name.subarray(0, name.length - SUFFIX_BYTES.length)) as T;
}

/**
 * Who renames an unlinked open file instead of removing it, by the name it gets: libfuse's
 * high-level API without `hard_remove` (lib/fuse.c hidden_name: ".fuse_hidden%08x%08x") and the
 * NFS client (fs/nfs/unlink.c nfs_sillyrename: ".nfs%016llx%08x"). The file keeps that name,
 * in the same directory, until its last close, when the filesystem removes it.
 */
export type SillyRenamer = 'fuse' | 'nfs';

const SILLY_NAMES: readonly [SillyRenamer, RegExp][] = [
  ['fuse', /^\.fuse_hidden[0-9a-f]{16}$/],
  ['nfs', /^\.nfs[0-9a-f]{24}$/],
];

/** Which silly rename made the last component of `name` (bytes, or a latin1 string); null for any other name. */
export function sillyRenamerOf(name: Buffer | string): SillyRenamer | null {
  const text = typeof name === 'string' ? name : name.toString('latin1');
  const base = text.slice(text.lastIndexOf('/') + 1);
  for (const [renamer, pattern] of SILLY_NAMES) if (pattern.test(base)) return renamer;
  return null;
}

/** The silly rename a filesystem type does: FUSE ("fuse", "fuse.SUBTYPE", "fuseblk") and NFS ("nfs", "nfs4"). */
export function sillyRenamerOfFilesystem(fstype: string | null): SillyRenamer | null {
  if (fstype === null) return null;
  if (fstype === 'fuse' || fstype === 'fuseblk' || fstype.startsWith('fuse.')) return 'fuse';
  return fstype === 'nfs' || fstype === 'nfs4' ? 'nfs' : null;
}
