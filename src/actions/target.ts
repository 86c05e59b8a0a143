/** What an action names: one descriptor of one process, or one file by its identity. */
export type Target =
  | { readonly kind: 'fd'; readonly text: string; readonly pid: number; readonly fd: number }
  | {
      readonly kind: 'file';
      readonly text: string;
      /** "MAJ:MIN". */
      readonly dev: string;
      readonly ino: bigint;
      /** "MAJ:MIN:INODE", the snapshot's file key. */
      readonly key: string;
    };

/**
 * Parses `PID:FD` (one descriptor) or `MAJ:MIN:INODE` (a file, as `limbo deleted` prints it);
 * null for anything else. Two fields are always a descriptor, three always a file.
 */
export function parseTarget(text: string): Target | null {
  const fd = /^(\d{1,10}):(\d{1,10})$/.exec(text);
  if (fd) {
    const pid = Number(fd[1]);
    const number = Number(fd[2]);
    if (pid < 1 || pid > 0x3fffffff || number > 0x7fffffff) return null;
    return { kind: 'fd', text, pid, fd: number };
  }
  const file = /^(\d{1,10}):(\d{1,10}):(\d{1,20})$/.exec(text);
  if (file) {
    const dev = `${Number(file[1])}:${Number(file[2])}`;
    const ino = BigInt(file[3] as string);
    if (ino > 0xffffffffffffffffn) return null;
    return { kind: 'file', text, dev, ino, key: `${dev}:${ino}` };
  }
  return null;
}
