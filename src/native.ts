// The one door to the optional native addon (native/limbo.c). Everything here has a
// pure JavaScript twin elsewhere; callers ask `nativeAddon()` and fall back when it is null.
import { createRequire } from 'node:module';

/** A fd the addon found whose link ends in " (deleted)" (or whose name is too long to read). */
export interface NativeCandidate {
  readonly fd: number;
  /** The link text, or null when it exceeds PATH_MAX (ENAMETOOLONG). */
  readonly target: Buffer | null;
  readonly major: number;
  readonly minor: number;
  readonly ino: bigint;
  readonly nlink: number;
  readonly size: number;
  readonly blocks: number;
  readonly mode: number;
}

export type NativeScan =
  | { readonly count: number; readonly candidates: readonly NativeCandidate[] }
  | { readonly error: 'ENOENT' | 'EACCES' | 'EPERM' | 'EIO' };

/** Every fd of one directory, as parallel arrays; modes/majors/minors/inos are 0 for non-path links. */
export type NativeFullScan =
  | {
      readonly fds: Int32Array;
      /** latin1 strings: one char per byte, so the link's bytes survive; null past PATH_MAX. */
      readonly links: readonly (string | null)[];
      readonly modes: Uint32Array;
      readonly majors: Uint32Array;
      readonly minors: Uint32Array;
      readonly inos: BigUint64Array;
    }
  | { readonly error: 'ENOENT' | 'EACCES' | 'EPERM' | 'EIO' };

/** The functions native/limbo.c exports. */
export interface NativeAddon {
  /** Scans each fd directory on up to `threads` threads; results in the order of `dirs`. */
  scanFdDirs(dirs: readonly string[], threads: number): NativeScan[];
  /** Every fd's link (and st_mode/dev/ino of path links) of each directory, on up to `threads` threads. */
  scanFdDirsFull(dirs: readonly string[], threads: number): NativeFullScan[];
  /** A du-style walk of one filesystem on `threads` threads (see src/walk/walk-tree.ts). */
  walkTree(
    root: string,
    threads: number,
    hidden: readonly string[],
    collectLinked: boolean,
  ): Promise<
    | {
        readonly allocated: number;
        readonly hiddenAllocated: number;
        readonly files: number;
        readonly dirs: number;
        readonly errors: number;
        readonly errorSamples: Buffer[];
        readonly linked: { path: Buffer; ino: bigint; nlink: number; allocated: number }[];
      }
    | { readonly error: 'ENOENT' | 'EACCES' | 'EPERM' | 'EIO' }
  >;
  /** Files seen so far by the walk in progress. */
  walkProgress(): number;
  /** kcmp(2): 0 when equal, 1 or 2 as an ordering, a negative errno on failure. */
  kcmp(pid1: number, pid2: number, type: number, idx1: number, idx2: number): number;
  // The three below are newer than the rest: an addon built before them lacks them, so callers
  // check they exist (src/actions/ falls back or refuses without them).
  /** lseek(fd, offset, SEEK_DATA (3) | SEEK_HOLE (4)): the new offset, or -errno (-ENXIO: no data past offset). */
  seekData?(fd: number, offset: number, whence: number): number;
  /** fcntl(fd, F_GET_SEALS): the seal bits, or -errno (-EINVAL: not a shmem file). */
  memfdSeals?(fd: number): number;
  /** linkat(AT_FDCWD, from, AT_FDCWD, to, AT_SYMLINK_FOLLOW): 0 or -errno. */
  linkFollow?(from: string, to: string): number;
}

let cached: NativeAddon | null | undefined;

/** The addon, or null when it was not built or LIMBO_NO_NATIVE is set. */
export function nativeAddon(): NativeAddon | null {
  if (cached !== undefined) return cached;
  cached = null;
  if (process.env['LIMBO_NO_NATIVE']) return cached;
  const require = createRequire(import.meta.url);
  for (const candidate of ['../build/Release/limbo_native.node', '../../build/Release/limbo_native.node']) {
    try {
      cached = require(candidate) as NativeAddon;
      break;
    } catch {
      // not built at this location: try the next, then fall back to JavaScript
    }
  }
  return cached;
}
