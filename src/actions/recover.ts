// limbo recover: get a deleted file back while a process still holds it. The content is
// copied out through the /proc link (the fd, or map_files for a file only a mapping holds)
// into a DEST created exclusively, holes kept. An O_TMPFILE file can instead be given a name
// (linkat), the one case where the kernel links an unlinked inode again. Nothing here prints.
import { isRegularMode } from '../proc/file-mode.js';
import { spawnSync } from 'node:child_process';
import {
  closeSync,
  constants,
  fchmodSync,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  futimesSync,
  lstatSync,
  openSync,
  statSync,
  unlinkSync,
  type BigIntStats,
} from 'node:fs';
import { constants as osConstants } from 'node:os';
import { dirname } from 'node:path';
import { formatBytes } from '../format/size.js';
import { nativeAddon } from '../native.js';
import { formatDev } from '../proc/file-stat.js';
import { takeSnapshot } from '../snapshot/take-snapshot.js';
import type { Snapshot } from '../snapshot/types.js';
import { readSpace } from '../walk/measure-filesystems.js';
import {
  closeQuietly,
  describeFileType,
  errorCode,
  keyOf,
  openPath,
  READ_FLAGS,
  reopen,
  type PathHandle,
} from './held-file.js';
import { chooseVia, describeVia, findHolders, viaLink, type Via } from './holders.js';
import { copySparse, type HoleMethod } from './sparse-copy.js';
import type { Target } from './target.js';

export interface RecoverRequest {
  readonly target: Target;
  /** Where the file goes: created exclusively, never through a symlink, never over anything. */
  readonly dest: string;
  /** Give an O_TMPFILE file the name DEST (linkat) instead of copying it. */
  readonly link?: boolean;
  /** Copy even when DEST's filesystem looks too full for it. */
  readonly force?: boolean;
}

export interface RecoverOptions {
  /** The /proc holding the target. Default "/proc". */
  readonly procRoot?: string;
  /** A scan that says who holds a file named by identity; taken when needed and not given. */
  readonly snapshot?: Snapshot;
  /** Called as the copy advances: the offset reached, of `totalBytes`. */
  readonly onProgress?: (doneBytes: number, totalBytes: number) => void;
}

/** `copied`, `linked`; `refused` before anything was written; `failed` during the copy (DEST removed). */
export type RecoverStatus = 'copied' | 'linked' | 'refused' | 'failed';

export interface RecoverResult {
  readonly target: string;
  readonly dest: string;
  /** "MAJ:MIN:INODE" of the file recovered; null when the target did not resolve. */
  readonly key: string | null;
  readonly dev: string | null;
  readonly ino: bigint | null;
  /** The descriptor or mapping it was read through. */
  readonly via: Via | null;
  readonly status: RecoverStatus;
  readonly reason: string | null;
  /** st_size when the copy started: what DEST holds. */
  readonly sizeBytes: number;
  /** st_blocks × 512 of the source. */
  readonly sourceAllocatedBytes: number;
  /** Bytes written to DEST (its data; holes are not written). */
  readonly dataBytes: number;
  /** st_blocks × 512 of DEST afterwards. */
  readonly destAllocatedBytes: number | null;
  readonly holes: HoleMethod | null;
  /** The permission bits DEST got (the source's, without setuid and setgid). */
  readonly mode: number | null;
  /** Things the person should know: still linked, written during the copy, same filesystem, ... */
  readonly warnings: readonly string[];
}

const SETID_BITS = 0o6000;

/** Recovers one file into DEST; every refusal or failure comes back as a result, never thrown. */
export function recoverFile(request: RecoverRequest, options: RecoverOptions = {}): RecoverResult {
  const procRoot = options.procRoot ?? '/proc';
  const result = startResult(request);
  const resolved = resolveSource(request.target, procRoot, options.snapshot);
  if (typeof resolved === 'string') return { ...result, status: 'refused', reason: resolved };
  const via = resolved;
  const where = describeVia(via);
  const opened = openPath(viaLink(procRoot, via));
  if (!opened.ok) {
    const why =
      opened.failure === 'gone'
        ? 'is gone (closed, or the process exited)'
        : `cannot be opened: ${opened.code}`;
    return { ...result, via, status: 'refused', reason: `${where} ${why}` };
  }
  const handle = opened.handle;
  try {
    const { stat } = handle;
    const described: RecoverResult = {
      ...result,
      via,
      key: handle.key,
      dev: formatDev(stat.dev),
      ino: stat.ino,
      sizeBytes: Number(stat.size),
      sourceAllocatedBytes: Number(stat.blocks) * 512,
    };
    if (!isRegularMode(stat.mode)) {
      return {
        ...described,
        status: 'refused',
        reason: `${where} is ${describeFileType(stat.mode)}, not a regular file`,
      };
    }
    if (request.target.kind === 'file' && handle.key !== request.target.key) {
      return {
        ...described,
        status: 'refused',
        reason: `${where} now refers to ${handle.key}, not ${request.target.key}: the number was reused`,
      };
    }
    const warnings: string[] = [];
    if (stat.nlink > 0n) {
      warnings.push(`it still has a name elsewhere (nlink ${stat.nlink}): it was not lost`);
    }
    const destProblem = checkDest(request.dest);
    if (destProblem) return { ...described, status: 'refused', reason: destProblem, warnings };
    return request.link
      ? linkInto(handle, request.dest, { ...described, warnings })
      : copyInto(handle, request, { ...described, warnings }, options.onProgress);
  } finally {
    closeQuietly(handle.fd);
  }
}

/** The way in: the named fd (in its thread's table when only there), or a current holder of the file. */
function resolveSource(target: Target, procRoot: string, snapshot: Snapshot | undefined): Via | string {
  if (target.kind === 'fd') {
    const tid =
      snapshot?.processes.find((p) => p.pid === target.pid)?.fds.find((f) => f.fd === target.fd)?.tid ?? null;
    return { kind: 'fd', pid: target.pid, fd: target.fd, tid };
  }
  const scan = snapshot ?? takeSnapshot({ procRoot });
  const via = chooseVia(findHolders(scan, target.key, procRoot));
  return via ?? `no process holds ${target.key} open or mapped now: there is nothing left to recover it from`;
}

/** Why DEST cannot be created, or null. Exclusive creation (O_EXCL) enforces it again atomically. */
function checkDest(dest: string): string | null {
  try {
    const st = lstatSync(dest);
    return st.isSymbolicLink()
      ? `${dest} is a symbolic link: limbo never writes through one; choose a new name`
      : `${dest} exists: limbo never overwrites anything; choose a new name`;
  } catch (error) {
    if (errorCode(error) !== 'ENOENT') return `cannot check ${dest}: ${errorCode(error)}`;
  }
  try {
    if (!statSync(dirname(dest)).isDirectory()) return `${dirname(dest)} is not a directory`;
  } catch (error) {
    return `${dirname(dest)}: ${errorCode(error)}`;
  }
  return null;
}

/** Gives the inode the name DEST with linkat(AT_SYMLINK_FOLLOW) through /proc/self/fd. */
function linkInto(handle: PathHandle, dest: string, result: RecoverResult): RecoverResult {
  const code = linkFollow(handle.fd, dest);
  if (code !== null) {
    const reason =
      code === 'ENOENT'
        ? 'the kernel gives a name back only to an O_TMPFILE file opened without O_EXCL, and this one is not such a file: copy it instead (recover without --link)'
        : code === 'EXDEV'
          ? 'DEST is on another filesystem: a link must be on the filesystem of the file itself'
          : code === 'EEXIST'
            ? `${dest} exists: limbo never overwrites anything`
            : `linkat failed: ${code}`;
    return { ...result, status: 'refused', reason };
  }
  let linked: BigIntStats;
  try {
    linked = lstatSync(dest, { bigint: true });
  } catch (error) {
    return {
      ...result,
      status: 'failed',
      reason: `linked, but ${dest} cannot be stat-ed: ${errorCode(error)}`,
    };
  }
  if (keyOf(linked) !== handle.key) {
    return {
      ...result,
      status: 'failed',
      reason: `${dest} is not the file linked (another process replaced it)`,
    };
  }
  return {
    ...result,
    status: 'linked',
    reason: null,
    destAllocatedBytes: Number(linked.blocks) * 512,
    mode: Number(linked.mode) & 0o7777,
  };
}

/**
 * linkat(AT_FDCWD, "/proc/self/fd/N", AT_FDCWD, dest, AT_SYMLINK_FOLLOW): null on success, else
 * the errno name. node:fs has only link(2), which never follows the magic link (EXDEV); without
 * the addon, `ln -L -T` (coreutils) makes the same call on limbo's own fd.
 */
function linkFollow(fd: number, dest: string): string | null {
  const native = nativeAddon()?.linkFollow;
  if (typeof native === 'function') {
    const r = native(`/proc/self/fd/${fd}`, dest);
    return r === 0 ? null : errnoName(-r);
  }
  const run = spawnSync('ln', ['-L', '-T', '--', `/proc/${process.pid}/fd/${fd}`, dest], {
    encoding: 'utf8',
  });
  if (run.status === 0) return null;
  const stderr = run.stderr ?? '';
  if (/No such file/.test(stderr)) return 'ENOENT';
  if (/cross-device/i.test(stderr)) return 'EXDEV';
  if (/File exists/.test(stderr)) return 'EEXIST';
  return run.error ? errorCode(run.error) : stderr.trim() || `ln exited ${run.status}`;
}

function copyInto(
  handle: PathHandle,
  request: RecoverRequest,
  result: RecoverResult,
  onProgress?: (doneBytes: number, totalBytes: number) => void,
): RecoverResult {
  const { dest } = request;
  const warnings = [...result.warnings];
  const destDir = dirname(dest);
  const space = readSpace(destDir);
  if (space && space.sizeBytes > 0 && space.availableBytes < result.sourceAllocatedBytes) {
    if (!request.force) {
      return {
        ...result,
        status: 'refused',
        reason: `not enough space for it in ${destDir}: it needs up to ${formatBytes(result.sourceAllocatedBytes)}, ${formatBytes(space.availableBytes)} is available (--force copies anyway)`,
      };
    }
    warnings.push(`${destDir} may be too small: ${formatBytes(space.availableBytes)} available`);
  }
  if (result.dev !== null && formatDev(statSync(destDir, { bigint: true }).dev) === result.dev) {
    warnings.push(
      `DEST is on the filesystem the deleted file is on: the copy takes up to ${formatBytes(result.sourceAllocatedBytes)} more there until the holder lets the original go`,
    );
  }

  let source: number;
  try {
    source = reopen(handle, READ_FLAGS);
  } catch (error) {
    return { ...result, status: 'refused', reason: `cannot open it for reading: ${errorCode(error)}` };
  }
  let target: number;
  try {
    // O_EXCL never follows a symlink at DEST and never opens what is there; 0600 until the copy is whole.
    target = openSync(
      dest,
      constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
      0o600,
    );
  } catch (error) {
    closeSync(source);
    const code = errorCode(error);
    return {
      ...result,
      status: 'refused',
      reason:
        code === 'EEXIST'
          ? `${dest} exists: limbo never overwrites anything`
          : `cannot create ${dest}: ${code}`,
    };
  }
  try {
    const before = fstatSync(source, { bigint: true });
    const size = Number(before.size);
    const copied = copySparse(
      source,
      target,
      size,
      onProgress ? { onProgress: (done) => onProgress(done, size) } : {},
    );
    ftruncateSync(target, size);
    const mode = Number(before.mode) & 0o7777;
    if (mode & SETID_BITS) warnings.push('the setuid and setgid bits were not copied');
    fchmodSync(target, mode & ~SETID_BITS);
    futimesSync(target, Number(before.atimeNs) / 1e9, Number(before.mtimeNs) / 1e9);
    fsyncSync(target);
    const written = fstatSync(target, { bigint: true });
    const after = fstatSync(source, { bigint: true });
    if (after.size !== before.size || after.mtimeNs !== before.mtimeNs) {
      warnings.push(
        `the holder wrote to it during the copy (size ${before.size} → ${after.size} bytes): DEST holds the first ${size} bytes as they were read; copy again once it has stopped writing`,
      );
    }
    if (Number(written.size) !== size) {
      removeOwn(dest, target);
      return {
        ...result,
        status: 'failed',
        reason: `DEST ended up ${written.size} bytes, not ${size}: removed`,
        warnings,
      };
    }
    return {
      ...result,
      status: 'copied',
      reason: null,
      sizeBytes: size,
      dataBytes: copied.dataBytes,
      destAllocatedBytes: Number(written.blocks) * 512,
      holes: copied.method,
      mode: mode & ~SETID_BITS,
      warnings,
    };
  } catch (error) {
    removeOwn(dest, target);
    return {
      ...result,
      status: 'failed',
      reason: `the copy failed: ${errorCode(error)}; the partial ${dest} was removed`,
      warnings,
    };
  } finally {
    closeSync(source);
    closeSync(target);
  }
}

/** Removes DEST only while it is still the file limbo created (nobody renamed another over it). */
function removeOwn(dest: string, fd: number): void {
  try {
    if (keyOf(lstatSync(dest, { bigint: true })) === keyOf(fstatSync(fd, { bigint: true }))) unlinkSync(dest);
  } catch {
    // gone already: nothing to remove
  }
}

function errnoName(errno: number): string {
  const entry = Object.entries(osConstants.errno).find(([, value]) => value === errno);
  return entry ? entry[0] : `errno ${errno}`;
}

function startResult(request: RecoverRequest): RecoverResult {
  return {
    target: request.target.text,
    dest: request.dest,
    key: null,
    dev: null,
    ino: null,
    via: null,
    status: 'refused',
    reason: null,
    sizeBytes: 0,
    sourceAllocatedBytes: 0,
    dataBytes: 0,
    destAllocatedBytes: null,
    holes: null,
    mode: null,
    warnings: [],
  };
}
