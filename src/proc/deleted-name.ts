// The marker d_path appends when the name an open file was reached by has been unlinked
// (fs/d_path.c, d_unlinked). A cheap pre-filter for fd links and maps names, never a verdict:
// only st_nlink == 0 says a file is deleted (see KERNEL-NOTES).

/** The text the kernel appends to an unlinked name. */
export const DELETED_SUFFIX = ' (deleted)';
const SUFFIX_BYTES = Buffer.from(DELETED_SUFFIX, 'latin1');

/** True when a link or maps name (bytes, or a latin1 string) ends in " (deleted)". */
export function hasDeletedSuffix(name: Buffer | string): boolean {
  if (typeof name === 'string') return name.endsWith(DELETED_SUFFIX);
  return (
    name.length >= SUFFIX_BYTES.length &&
    name.subarray(name.length - SUFFIX_BYTES.length).equals(SUFFIX_BYTES)
  );
}

/** The name without the kernel's " (deleted)" marker (a copy when bytes are cut). */
export function stripDeletedSuffix<T extends Buffer | string>(name: T): T {
  if (!hasDeletedSuffix(name)) return name;
  if (typeof name === 'string') return name.slice(0, -DELETED_SUFFIX.length) as T;
  return Buffer.from(name.subarray(0, name.length - SUFFIX_BYTES.length)) as T;
}
