import { lstatSync, readdirSync } from 'node:fs';
import { nativeAddon, nativeThreads, type NativeAddon } from '../native.js';
import { classifyError, type ReadFailure } from '../core/errors.js';

/** A file with more than one link, as a walk met it (for hard-link groups). */
export interface LinkedFile {
  readonly path: Buffer;
  readonly ino: bigint;
  readonly nlink: number;
  readonly allocatedBytes: number;
}

/** What a du-style walk of one filesystem found. */
export interface WalkResult {
  /** st_blocks × 512 of every inode met once (directories included), as `du -sx -B1` counts. */
  readonly allocatedBytes: number;
  /** The part of `allocatedBytes` under the `hidden` roots. */
  readonly hiddenAllocatedBytes: number;
  readonly files: number;
  readonly dirs: number;
  /** Entries that could not be read (permission denied, name too long). */
  readonly errors: number;
  /** The first few of them. */
  readonly errorSamples: readonly Buffer[];
  /** With `collectLinked`: every name of a file with more than one link. */
  readonly linked: readonly LinkedFile[];
}

export interface WalkOptions {
  /** Directories (absolute, under the root) whose subtrees are also totalled apart. */
  readonly hidden?: readonly string[];
  /** Report every name of multiply-linked files. */
  readonly collectLinked?: boolean;
  /** Called now and then with the number of files seen so far. */
  readonly onProgress?: (files: number) => void;
}

/**
 * What a walk of a root that exists but is not a directory (a file, a symlink) reports. Not
 * 'gone', which would pass for a race with a vanishing mount: the caller asked for something
 * that cannot be walked.
 */
const NOT_A_DIRECTORY: ReadFailure = 'other';

/**
 * Walks one filesystem from `root` like `du -sx`: never crosses into another filesystem, counts
 * each inode once (hard links), and counts permission errors rather than stopping. The native
 * addon walks on several threads off the JS thread; the JavaScript twin (also taken when
 * `addon` is null) gives the same answer.
 */
export async function walkTree(
  root: string,
  options: WalkOptions = {},
  addon: NativeAddon | null = nativeAddon(),
): Promise<WalkResult | { failure: ReadFailure }> {
  if (!addon) return walkTreeJs(root, options);
  const timer = options.onProgress
    ? setInterval(() => options.onProgress?.(addon.walkProgress()), 200)
    : null;
  try {
    const result = await addon.walkTree(
      root,
      nativeThreads(),
      options.hidden ?? [],
      options.collectLinked ?? false,
    );
    if ('notDirectory' in result) return { failure: NOT_A_DIRECTORY };
    if ('error' in result) return { failure: classifyError({ code: result.error }) };
    return {
      allocatedBytes: result.allocated,
      hiddenAllocatedBytes: result.hiddenAllocated,
      files: result.files,
      dirs: result.dirs,
      errors: result.errors,
      errorSamples: result.errorSamples,
      linked: result.linked.map((l) => ({
        path: l.path,
        ino: l.ino,
        nlink: l.nlink,
        allocatedBytes: l.allocated,
      })),
    };
  } finally {
    if (timer) clearInterval(timer);
  }
}

/** The pure JavaScript walk: one thread, the same rules. */
export async function walkTreeJs(
  root: string,
  options: WalkOptions = {},
): Promise<WalkResult | { failure: ReadFailure }> {
  // Paths travel as latin1 strings (one char per byte) so that names in any encoding survive;
  // every fs call gets them back as the exact bytes.
  const bytes = (path: string) => Buffer.from(path, 'latin1');
  const asLatin1 = (path: string) => Buffer.from(path, 'utf8').toString('latin1');
  const start = asLatin1(root);
  let rootStat;
  try {
    rootStat = lstatSync(bytes(start), { bigint: true });
  } catch (error) {
    return { failure: classifyError(error) };
  }
  if (!rootStat.isDirectory()) return { failure: NOT_A_DIRECTORY };
  const hiddenRoots = new Set((options.hidden ?? []).map(asLatin1));
  const seen = new Set<bigint>();
  const errorSamples: Buffer[] = [];
  const linked: LinkedFile[] = [];
  let allocated = Number(rootStat.blocks) * 512;
  let hiddenAllocated = hiddenRoots.has(start) ? allocated : 0;
  let files = 0;
  let dirs = 1;
  let errors = 0;
  const stack: { path: string; hidden: boolean }[] = [{ path: start, hidden: hiddenRoots.has(start) }];
  const fail = (path: string) => {
    errors++;
    if (errorSamples.length < 8) errorSamples.push(bytes(path));
  };
  let sinceYield = 0;
  while (stack.length > 0) {
    const { path, hidden } = stack.pop() as { path: string; hidden: boolean };
    let names: string[];
    try {
      names = readdirSync(bytes(path), { encoding: 'latin1' });
    } catch {
      fail(path);
      continue;
    }
    for (const name of names) {
      const child = `${path === '/' ? '' : path}/${name}`;
      let st;
      try {
        st = lstatSync(bytes(child), { bigint: true });
      } catch (error) {
        if (classifyError(error) !== 'gone') fail(child);
        continue;
      }
      if (st.dev !== rootStat.dev) continue;
      const size = Number(st.blocks) * 512;
      if (st.isDirectory()) {
        dirs++;
        const childHidden = hidden || hiddenRoots.has(child);
        allocated += size;
        if (childHidden) hiddenAllocated += size;
        stack.push({ path: child, hidden: childHidden });
        continue;
      }
      files++;
      if (st.nlink > 1n) {
        if (options.collectLinked) {
          linked.push({ path: bytes(child), ino: st.ino, nlink: Number(st.nlink), allocatedBytes: size });
        }
        if (seen.has(st.ino)) continue;
        seen.add(st.ino);
      }
      allocated += size;
      if (hidden) hiddenAllocated += size;
    }
    if (++sinceYield >= 500) {
      sinceYield = 0;
      options.onProgress?.(files);
    }
  }
  return {
    allocatedBytes: allocated,
    hiddenAllocatedBytes: hiddenAllocated,
    files,
    dirs,
    errors,
    errorSamples,
    linked,
  };
}
