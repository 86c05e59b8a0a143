// The mount table of each mount namespace a scan meets, read from the process that shows it
// truest. mountinfo lists mount points relative to the reader's root and leaves out the mounts
// outside it (fs/proc_namespace.c show_mountinfo, seq_path_root), while fd links and maps name
// files from the namespace's own root: a table read from a chrooted process is replaced by one
// read from a process at the namespace's root (its root link reads "/") as soon as one is seen,
// and until then its mount points are put back under the chroot, in the words fd links use.
import { readlinkSync } from 'node:fs';
import { readMountinfo, type Mount } from './mountinfo.js';
import type { NamespaceMounts } from './silent-mounts.js';

/** The tables of every mount namespace met so far, by namespace id ("mnt:[4026531841]"). */
export class MountTables {
  readonly byId = new Map<string, NamespaceMounts>();
  /** Namespaces whose table was read from a process not known to be at the namespace's root. */
  private readonly notAtRoot = new Set<string>();

  /** `prepare` may add to each mount what is read through the reader (an overlay's upper device). */
  constructor(
    private readonly procRoot: string,
    private readonly prepare: (pid: number | 'self', mount: Mount) => Mount = (_pid, mount) => mount,
  ) {}

  /**
   * The mount namespace id of `pid` ('self': limbo's own, taken as at its root), reading its table
   * when the namespace is first met or when `pid` is the first reader met at the namespace's root.
   * `root` is what /proc/PID/root reads (null: unreadable). Null when the namespace link is unreadable.
   */
  namespaceOf(pid: number | 'self', root: string | null = '/'): string | null {
    let id: string;
    try {
      id = readlinkSync(`${this.procRoot}/${pid}/ns/mnt`);
    } catch {
      return null;
    }
    const atRoot = pid === 'self' || root === '/';
    if (this.byId.has(id) && !(atRoot && this.notAtRoot.has(id))) return id;
    if (atRoot) this.notAtRoot.delete(id);
    else this.notAtRoot.add(id);
    const read = readMountinfo(this.procRoot, pid);
    const mounts = read.ok ? read.value.map((mount) => this.prepare(pid, mount)) : [];
    const chrooted = !atRoot && root !== null ? root : null;
    this.byId.set(id, {
      id,
      mounts: chrooted === null ? mounts : mounts.map((mount) => underRoot(mount, chrooted)),
      ...(pid === 'self' ? {} : { pid }),
      ...(chrooted === null ? {} : { root: chrooted }),
    });
    return id;
  }
}

/** A mount as a chrooted process's mountinfo lists it, its mount point put back under that root. */
function underRoot(mount: Mount, root: string): Mount {
  const inner = mount.mountPoint === '/' ? '' : mount.mountPoint;
  const bytes = mount.mountPointBytes;
  return {
    ...mount,
    mountPoint: `${root}${inner}`,
    ...(bytes
      ? { mountPointBytes: Buffer.concat([Buffer.from(root), bytes.length === 1 ? Buffer.alloc(0) : bytes]) }
      : {}),
  };
}
