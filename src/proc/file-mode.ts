// The file-type bits of st_mode (include/uapi/linux/stat.h), in one place for every module that
// reads a mode: stat through /proc links, the walk, the actions' checks.

export const S_IFMT = 0o170000;
export const S_IFSOCK = 0o140000;
export const S_IFLNK = 0o120000;
export const S_IFREG = 0o100000;
export const S_IFBLK = 0o060000;
export const S_IFDIR = 0o040000;
export const S_IFCHR = 0o020000;
export const S_IFIFO = 0o010000;

/** The file types st_mode names, as limbo's JSON spells them. */
export const FILE_TYPES = [
  'regular',
  'directory',
  'symlink',
  'fifo',
  'socket',
  'char-device',
  'block-device',
  'other',
] as const;
export type FileType = (typeof FILE_TYPES)[number];

const TYPES: Readonly<Record<number, FileType>> = {
  [S_IFREG]: 'regular',
  [S_IFDIR]: 'directory',
  [S_IFLNK]: 'symlink',
  [S_IFIFO]: 'fifo',
  [S_IFSOCK]: 'socket',
  [S_IFCHR]: 'char-device',
  [S_IFBLK]: 'block-device',
};

/** The file type of a st_mode; 'other' for a mode with no type bits (an anonymous inode). */
export function fileTypeOf(mode: number | bigint): FileType {
  return TYPES[Number(mode) & S_IFMT] ?? 'other';
}

/** True for a regular file: the only kind limbo counts as a deleted file or truncates. */
export function isRegularMode(mode: number | bigint): boolean {
  return (Number(mode) & S_IFMT) === S_IFREG;
}

/** True for a directory. */
export function isDirectoryMode(mode: number | bigint): boolean {
  return (Number(mode) & S_IFMT) === S_IFDIR;
}
