// The one door to the optional native addon (native/limbo.c). limbo must work where the addon
// did not build, so every caller asks `nativeAddon()` and falls back to a JavaScript twin (or a
// documented refusal) when it is null; test/scenario/native-parity.test.ts holds the twins equal.
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';

/**
 * How the addon reports a failed directory or root, named so that classifyError
 * (src/core/errors.ts) gives what it would for the real errno: ENOENT stands for every "gone"
 * errno (ENOENT, ESRCH, ENOTDIR), EIO for any errno classifyError does not name.
 */
export interface NativeError {
  readonly error: 'ENOENT' | 'EACCES' | 'EPERM' | 'ENAMETOOLONG' | 'EIO';
}

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
  | {
      /** fds listed, readable or not. */
      readonly count: number;
      /** fds listed whose link was refused (EACCES, EPERM): counted, their files unknown. */
      readonly unreadable: number;
      readonly candidates: readonly NativeCandidate[];
      /** With a skip rule: the links it left unstat-ed (their mount does not answer). */
      readonly skipped?: readonly Buffer[];
    }
  | NativeError;

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
      /** fds listed, readable or not (the arrays hold only those whose link was read). */
      readonly count: number;
      /** fds listed whose link was refused (EACCES, EPERM): counted, their files unknown. */
      readonly unreadable: number;
      /** With a skip rule: the links it left unstat-ed (kept, with mode 0). */
      readonly skipped?: readonly Buffer[];
    }
  | NativeError;

/**
 * Links the fd scans must not stat, as data (src/proc/silent-mounts.ts): groups of mount points
 * (one per mount namespace), and each directory's group, -1 for none. A link at a mount point or
 * under it is left unstat-ed and handed back in `skipped`.
 */
export interface NativeSkipRule {
  readonly groups: readonly (readonly Buffer[])[];
  readonly groupOfDir: Int32Array;
}

/** A finished walk, in the addon's units (bytes, counts). */
export interface NativeWalk {
  readonly allocated: number;
  readonly hiddenAllocated: number;
  readonly files: number;
  readonly dirs: number;
  readonly errors: number;
  readonly errorSamples: Buffer[];
  readonly linked: { path: Buffer; ino: bigint; nlink: number; allocated: number }[];
}

/** A fd the BPF iterator found whose file may be deleted (native/scan.bpf.c), with its kernel facts. */
export interface BpfCandidate {
  readonly tid: number;
  readonly fd: number;
  /** The task's struct files_struct: which fd table. */
  readonly files: bigint;
  /** The struct file: which open file description. */
  readonly file: bigint;
  readonly ino: bigint;
  readonly major: number;
  readonly minor: number;
  readonly nlink: number;
  readonly mode: number;
  readonly sizeBytes: number;
  readonly posBytes: number;
  /** f_flags with O_CLOEXEC, as fdinfo shows them. */
  readonly flags: number;
}

/**
 * One run of the task_file iterator: the candidates, and the tasks that sent records with their
 * fd tables (every task holding an fd, with its fd count, when asked for every fd).
 */
export interface BpfFdTables {
  /** Tasks that sent a record, tids ascending (in the initial pid namespace). */
  readonly tids: Uint32Array;
  readonly files: BigUint64Array;
  /** Each task's fd count when every fd was sent; else null. */
  readonly counts: Uint32Array | null;
  /** Each fd table's once, though several tasks share it. */
  readonly candidates: readonly BpfCandidate[];
}

export type BpfFdScan = BpfFdTables | { readonly error: string; readonly errno: number };

/**
 * Candidates as the addon hands them over: a typed array per BpfCandidate field, `dev` in the
 * kernel's encoding (major << 20 | minor). loadNativeAddon makes bpfScanFds' and bpfScanHandles'
 * into objects; bpfTakeFdCandidates' stay columns.
 */
export interface BpfCandidateColumns {
  readonly tids: Uint32Array;
  readonly fds: Uint32Array;
  readonly files: BigUint64Array;
  readonly file: BigUint64Array;
  readonly ino: BigUint64Array;
  readonly dev: Uint32Array;
  readonly nlink: Uint32Array;
  readonly mode: Uint32Array;
  readonly sizeBytes: Float64Array;
  readonly posBytes: Float64Array;
  readonly flags: Uint32Array;
}

/** The kernel's dev_t (include/linux/kdev_t.h MINORBITS 20), not user space's. */
const KERNEL_MINOR_BITS = 20;

function candidatesOfColumns(c: BpfCandidateColumns): BpfCandidate[] {
  const list: BpfCandidate[] = new Array<BpfCandidate>(c.fds.length);
  for (let i = 0; i < c.fds.length; i++) {
    const dev = c.dev[i] as number;
    list[i] = {
      tid: c.tids[i] as number,
      fd: c.fds[i] as number,
      files: c.files[i] as bigint,
      file: c.file[i] as bigint,
      ino: c.ino[i] as bigint,
      major: dev >>> KERNEL_MINOR_BITS,
      minor: dev & ((1 << KERNEL_MINOR_BITS) - 1),
      nlink: c.nlink[i] as number,
      mode: c.mode[i] as number,
      sizeBytes: c.sizeBytes[i] as number,
      posBytes: c.posBytes[i] as number,
      flags: c.flags[i] as number,
    };
  }
  return list;
}

/**
 * The addon with the BPF walks' candidates made objects: they cross N-API as columns, which is
 * faster than an object per candidate made there (native/bpf-tables.c limbo_candidates_to_js).
 */
function decodingCandidates(raw: NativeAddon): NativeAddon {
  const { bpfScanFds, bpfScanHandles } = raw;
  // What the addon really returns: the candidates as columns.
  const objects = (candidates: unknown) => candidatesOfColumns(candidates as BpfCandidateColumns);
  // Defined, not assigned: the addon's own functions are read-only properties (napi_define_properties).
  return Object.create(raw, {
    ...(bpfScanFds && {
      bpfScanFds: {
        value: (everyFd: boolean, generation?: number): BpfFdScan => {
          const run = bpfScanFds(everyFd, generation);
          return 'error' in run ? run : { ...run, candidates: objects(run.candidates) };
        },
      },
    }),
    ...(bpfScanHandles && {
      bpfScanHandles: {
        value: (candidates?: boolean): BpfHandleScan => {
          const run = bpfScanHandles(candidates);
          if ('error' in run) return run;
          return { ...run, tables: { ...run.tables, candidates: objects(run.tables.candidates) } };
        },
      },
    }),
  }) as NativeAddon;
}

/**
 * One run of the handle ledger's iterators (native/handles.bpf.c), aggregated per process in C:
 * `kinds` rows are [kind (native/handle-records.h), i_mode & S_IFMT, latin1 name, fds].
 */
export type BpfHandleScan =
  | {
      readonly processes: readonly {
        readonly pid: number;
        readonly fds: number;
        /** Distinct struct files behind its fds. */
        readonly openFiles: number;
        /** Struct files only mappings hold, counted for the lowest pid that maps each. */
        readonly mappingFiles: number;
        /** Distinct SysV shm attach files in its address space. */
        readonly shmAttachments: number;
        readonly kinds: readonly (readonly [number, number, string, number])[];
      }[];
      /** Distinct struct files behind every fd. */
      readonly openFiles: number;
      readonly mappingFiles: number;
      readonly shmAttachFiles: number;
      /** fds in flight (SCM_RIGHTS sent, not received) to every unix socket but the listeners. */
      readonly fdsInFlight: number;
      /** [tid, fd, ...]: one fd of each listening unix socket's open file description (fdinfo counts those). */
      readonly unixListeners: Uint32Array;
      /**
       * The same walk as bpfScanFds(true) sees it: every task with its fd table and fd count, and
       * the deleted candidates when the walk was asked for them (else none).
       */
      readonly tables: BpfFdTables & { readonly counts: Uint32Array };
    }
  | { readonly error: string; readonly errno: number };

/** The functions native/limbo.c exports. */
export interface NativeAddon {
  /** Scans each fd directory on up to `threads` threads; results in the order of `dirs`. */
  scanFdDirs(dirs: readonly string[], threads: number, skip?: NativeSkipRule): NativeScan[];
  /** Every fd's link (and st_mode/dev/ino of path links) of each directory, on up to `threads` threads. */
  scanFdDirsFull(dirs: readonly string[], threads: number, skip?: NativeSkipRule): NativeFullScan[];
  /** True when the two scans take a skip rule; an addon built from an older limbo.c would ignore one. */
  readonly fdScanSkips?: boolean;
  /** A du-style walk of one filesystem on `threads` threads (see src/walk/walk-tree.ts). */
  walkTree(
    root: string,
    threads: number,
    hidden: readonly string[],
    collectLinked: boolean,
  ): Promise<NativeWalk | NativeError | { readonly notDirectory: true }>;
  /** Files seen so far by the walk in progress. */
  walkProgress(): number;
  /** kcmp(2): 0 when equal, 1 or 2 as an ordering, a negative errno on failure. */
  kcmp(pid1: number, pid2: number, type: number, idx1: number, idx2: number): number;
  // Optional because an addon built from an older limbo.c lacks them: callers check they exist
  // (src/actions/ falls back or refuses without them).
  /** lseek(fd, offset, SEEK_DATA (3) | SEEK_HOLE (4)): the new offset, or -errno (-ENXIO: no data past offset). */
  seekData?(fd: number, offset: number, whence: number): number;
  /** fcntl(fd, F_GET_SEALS): the seal bits, or -errno (-EINVAL: not a shmem file). */
  memfdSeals?(fd: number): number;
  /** linkat(AT_FDCWD, from, AT_FDCWD, to, AT_SYMLINK_FOLLOW): 0 or -errno. */
  linkFollow?(from: string, to: string): number;
  /** getxattr(path, "system.sockprotoname"): the socket's protocol ("TCP", "UDPv6", "PACKET", ...), or -errno. */
  socketProtocol?(path: string): string | number;
  /**
   * FS_IOC_FIEMAP on `path` opened read-only: at most `maxExtents` extents of the whole file as
   * (logical, physical, length, flags) quadruples, with the (dev, ino) it opened.
   */
  fileExtents?(
    path: string,
    maxExtents: number,
  ):
    | { readonly major: number; readonly minor: number; readonly ino: bigint; readonly extents: Float64Array }
    | NativeError;
  /**
   * scanFdDirs' rule on only the fds listed for each fd directory (`dirs[i]`'s are
   * `fds[starts[i]..starts[i + 1]]`, those a BPF walk found), on up to `threads` threads; each
   * directory's count is its st_size. Optional: an addon built from an older limbo.c lacks it.
   */
  readFdCandidates?(
    dirs: readonly string[],
    fds: Int32Array,
    starts: Uint32Array,
    threads: number,
    skip?: NativeSkipRule,
  ): NativeScan[];
  /**
   * The BPF scanner: present only when the addon was built with clang, bpftool and libbpf. The
   * run bpfStartFdScan numbered `generation` (with the same everyFd), else one run now.
   */
  bpfScanFds?(everyFd: boolean, generation?: number): BpfFdScan;
  /**
   * Starts a bpfScanFds run (load and kernel walk) on a thread of its own, to run while /proc is
   * read; returns its generation for bpfScanFds. Optional: an addon built from an older limbo.c lacks it.
   */
  bpfStartFdScan?(everyFd: boolean): number;
  /**
   * The candidates the run numbered `generation` has completed since the last call, each fd
   * table's all at once, waiting for the walk to complete some; null once the run is over and all
   * were handed out. bpfScanFds gives them again.
   */
  bpfTakeFdCandidates?(generation: number): BpfCandidateColumns | null;
  /**
   * Starts the next bpfScanHandles' kernel walk on a thread of its own, to run while /proc is
   * read; with `candidates`, the walk also gives the deleted candidates (one walk for both).
   */
  bpfStartHandleScan?(candidates?: boolean): void;
  /**
   * The handle ledger's BPF scan (the one started, or one run now, with the candidates when
   * asked for): present whenever bpfScanFds is.
   */
  bpfScanHandles?(candidates?: boolean): BpfHandleScan;
}

let loaded: NativeAddon | null | undefined;

/** How many threads the addon's fd scans and walks use: one per core, at most 8. */
export function nativeThreads(): number {
  return Math.min(availableParallelism(), 8);
}

/** The addon, or null when it was not built or LIMBO_NO_NATIVE is set. */
export function nativeAddon(): NativeAddon | null {
  return process.env['LIMBO_NO_NATIVE'] ? null : loadNativeAddon();
}

/** The addon whenever it was built, LIMBO_NO_NATIVE or not: for tests that hold it against its twins. */
export function loadNativeAddon(): NativeAddon | null {
  if (loaded !== undefined) return loaded;
  loaded = null;
  const require = createRequire(import.meta.url);
  // dist/native.js and .test-build/src/native.js sit one and two levels below the checkout.
  for (const candidate of ['../build/Release/limbo_native.node', '../../build/Release/limbo_native.node']) {
    try {
      loaded = decodingCandidates(require(candidate) as NativeAddon);
      break;
    } catch {
      // not built at this location: try the next, then fall back to JavaScript
    }
  }
  return loaded;
}
