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
  fchownSync,
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
import { escapeName, quote } from '../format/escape.js';
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
import {
  findSiblingFds,
  readSqliteHeader,
  siblingOnDisk,
  SQLITE_SIBLING_SUFFIXES,
  type SiblingFd,
  type SiblingSuffix,
} from './recover-siblings.js';
import { copySparse, type HoleMethod } from './sparse-copy.js';
import type { Target } from './target.js';
import { silentMountOf, silentMountOfPath } from './mount-guard.js';
import { describeUnansweredTarget } from '../analyses/incomplete-words.js';

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
  /** How long a FUSE or network mount (the file's, or DEST's) has to answer before it is refused. Default 5 s. */
  readonly mountTimeoutMs?: number;
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
  /** The owner DEST got: the source's when limbo runs as root; null when DEST is limbo's own. */
  readonly owner: FileOwner | null;
  /** Files the program keeps beside this one (SQLite -wal, -journal), copied beside DEST. */
  readonly siblings: readonly RecoveredSibling[];
  /** Siblings the file needs that no descriptor of its holder reaches: gone for good (e.g. "-wal"). */
  readonly missingSiblings: readonly SiblingSuffix[];
  /** Things the person should know: still linked, written during the copy, same filesystem, ... */
  readonly warnings: readonly string[];
}

export interface FileOwner {
  readonly uid: number;
  readonly gid: number;
}

/** A sibling copied (or not) beside DEST as DEST + suffix. */
export interface RecoveredSibling {
  readonly suffix: SiblingSuffix;
  /** The holder's name for it, without " (deleted)". */
  readonly name: Buffer;
  readonly via: Via;
  readonly dest: string;
  /** True when it has no name left (nlink 0): this copy is the only way back. */
  readonly deleted: boolean;
  readonly status: 'copied' | 'failed';
  readonly reason: string | null;
  readonly sizeBytes: number;
  readonly sourceAllocatedBytes: number;
  readonly dataBytes: number;
  readonly destAllocatedBytes: number | null;
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
  // A stat on a FUSE or network mount that does not answer would never return: ask both ends first.
  const guard = {
    procRoot,
    timeoutMs: options.mountTimeoutMs,
    known: options.snapshot?.incomplete.unansweredMounts,
  };
  const silent = silentMountOf(via, guard);
  if (silent) return { ...result, via, status: 'refused', reason: describeUnansweredTarget(where, silent) };
  const silentDest = silentMountOfPath(request.dest, guard);
  if (silentDest) {
    const reason = describeUnansweredTarget(`DEST ${quote(request.dest)}`, silentDest);
    return { ...result, via, status: 'refused', reason };
  }
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
      : copyInto(handle, request, { ...described, warnings }, procRoot, options.onProgress);
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
    owner: { uid: Number(linked.uid), gid: Number(linked.gid) },
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

/** A sibling found and opened, ready to copy. */
interface OpenSibling {
  readonly found: SiblingFd;
  readonly handle: PathHandle;
  readonly dest: string;
}

function copyInto(
  handle: PathHandle,
  request: RecoverRequest,
  result: RecoverResult,
  procRoot: string,
  onProgress?: (doneBytes: number, totalBytes: number) => void,
): RecoverResult {
  const { dest } = request;
  const warnings = [...result.warnings];
  const destDir = dirname(dest);

  let header: ReturnType<typeof readSqliteHeader>;
  try {
    header = readHeader(handle);
  } catch (error) {
    return { ...result, status: 'refused', reason: `cannot open it for reading: ${errorCode(error)}` };
  }
  const siblings: OpenSibling[] = [];
  try {
    // An SQLite database, or a main file still empty (everything so far is in its -wal).
    if ((header || result.sizeBytes === 0) && result.via) {
      for (const found of findSiblingFds(procRoot, result.via)) {
        const opened = openPath(viaLink(procRoot, found.via));
        if (!opened.ok || !isRegularMode(opened.handle.stat.mode) || opened.handle.key === handle.key) {
          if (opened.ok) closeQuietly(opened.handle.fd);
          continue;
        }
        siblings.push({ found, handle: opened.handle, dest: `${dest}${found.suffix}` });
      }
    }
    // SQLite would read any DEST-wal or DEST-journal already there as this database's own.
    if (header || siblings.length > 0) {
      for (const suffix of SQLITE_SIBLING_SUFFIXES) {
        const problem = checkDest(`${dest}${suffix}`);
        if (problem) {
          return {
            ...result,
            status: 'refused',
            reason: `${problem} (SQLite would read it as the copy's own ${suffix})`,
          };
        }
      }
    }
    const missingSiblings: SiblingSuffix[] = [];
    if (header?.walMode && result.via && !siblings.some((s) => s.found.suffix === '-wal')) {
      const onDisk = siblingOnDisk(procRoot, result.via, '-wal');
      if (onDisk) {
        warnings.push(
          `it is an SQLite database in WAL mode and pid ${result.via.pid} holds no -wal beside it, but ${escapeName(onDisk)} exists: if it belongs to this database, copy it to ${dest}-wal before anything opens the copy, or the transactions committed since the last checkpoint are missing`,
        );
      } else {
        missingSiblings.push('-wal');
        warnings.push(
          `it is an SQLite database in WAL mode and pid ${result.via.pid} holds no -wal beside it: transactions committed since the last checkpoint lived there and are gone; the copy holds what the main file has`,
        );
      }
    }

    const needed = result.sourceAllocatedBytes + siblings.reduce((sum, s) => sum + allocatedOf(s.handle), 0);
    const space = readSpace(destDir);
    if (space && space.sizeBytes > 0 && space.availableBytes < needed) {
      if (!request.force) {
        return {
          ...result,
          status: 'refused',
          reason: `not enough space for it in ${destDir}: it needs up to ${formatBytes(needed)}, ${formatBytes(space.availableBytes)} is available (--force copies anyway)`,
        };
      }
      warnings.push(`${destDir} may be too small: ${formatBytes(space.availableBytes)} available`);
    }
    if (result.dev !== null && formatDev(statSync(destDir, { bigint: true }).dev) === result.dev) {
      warnings.push(
        `DEST is on the filesystem the deleted file is on: the copy takes up to ${formatBytes(needed)} more there until the holder lets the original go`,
      );
    }

    const main = copyOne(handle, dest, onProgress);
    warnings.push(...main.warnings);
    if (!main.ok) return { ...result, status: main.status, reason: main.reason, warnings, missingSiblings };
    const recovered = siblings.map((sibling): RecoveredSibling => {
      const copied = copyOne(sibling.handle, sibling.dest);
      const base = {
        suffix: sibling.found.suffix,
        name: sibling.found.name,
        via: sibling.found.via,
        dest: sibling.dest,
        deleted: sibling.handle.stat.nlink === 0n,
        sizeBytes: Number(sibling.handle.stat.size),
        sourceAllocatedBytes: allocatedOf(sibling.handle),
      };
      warnings.push(...copied.warnings.map((w) => `${sibling.found.suffix}: ${w}`));
      if (!copied.ok) {
        warnings.push(
          `its ${sibling.found.suffix} could not be copied (${copied.reason}): the copy misses what only the ${sibling.found.suffix} holds`,
        );
        return { ...base, status: 'failed', reason: copied.reason, dataBytes: 0, destAllocatedBytes: null };
      }
      return {
        ...base,
        status: 'copied',
        reason: null,
        sizeBytes: copied.sizeBytes,
        dataBytes: copied.dataBytes,
        destAllocatedBytes: copied.destAllocatedBytes,
      };
    });
    return {
      ...result,
      status: 'copied',
      reason: null,
      sizeBytes: main.sizeBytes,
      dataBytes: main.dataBytes,
      destAllocatedBytes: main.destAllocatedBytes,
      holes: main.holes,
      mode: main.mode,
      owner: main.owner,
      siblings: recovered,
      missingSiblings,
      warnings,
    };
  } finally {
    for (const sibling of siblings) closeQuietly(sibling.handle.fd);
  }
}

/** The SQLite header of the file, read through a new open of it; null when it is none. */
function readHeader(handle: PathHandle): ReturnType<typeof readSqliteHeader> {
  const fd = reopen(handle, READ_FLAGS);
  try {
    return readSqliteHeader(fd);
  } finally {
    closeSync(fd);
  }
}

function allocatedOf(handle: PathHandle): number {
  return Number(handle.stat.blocks) * 512;
}

type CopyOutcome =
  | {
      readonly ok: true;
      readonly sizeBytes: number;
      readonly dataBytes: number;
      readonly destAllocatedBytes: number;
      readonly holes: HoleMethod;
      readonly mode: number;
      readonly owner: FileOwner | null;
      readonly warnings: readonly string[];
    }
  | {
      readonly ok: false;
      readonly status: 'refused' | 'failed';
      readonly reason: string;
      readonly warnings: readonly string[];
    };

/**
 * Copies the file behind `handle` into a new `dest`: holes kept, then owner (as root), mode and
 * times, fsync'd, and the size verified; DEST is removed again when the copy fails.
 */
function copyOne(
  handle: PathHandle,
  dest: string,
  onProgress?: (doneBytes: number, totalBytes: number) => void,
): CopyOutcome {
  const warnings: string[] = [];
  let source: number;
  try {
    source = reopen(handle, READ_FLAGS);
  } catch (error) {
    return {
      ok: false,
      status: 'refused',
      reason: `cannot open it for reading: ${errorCode(error)}`,
      warnings,
    };
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
      ok: false,
      status: 'refused',
      reason:
        code === 'EEXIST'
          ? `${dest} exists: limbo never overwrites anything`
          : `cannot create ${dest}: ${code}`,
      warnings,
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
    const owner = keepOwner(target, before, warnings);
    const mode = Number(before.mode) & 0o7777;
    if (mode & SETID_BITS) warnings.push('the setuid and setgid bits were not copied');
    // After fchown, which clears setuid and setgid anyway: the mode is set last.
    fchmodSync(target, mode & ~SETID_BITS);
    // The times as limbo first saw them: its own reads (the SQLite header) move the atime.
    futimesSync(target, Number(handle.stat.atimeNs) / 1e9, Number(before.mtimeNs) / 1e9);
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
        ok: false,
        status: 'failed',
        reason: `DEST ended up ${written.size} bytes, not ${size}: removed`,
        warnings,
      };
    }
    return {
      ok: true,
      sizeBytes: size,
      dataBytes: copied.dataBytes,
      destAllocatedBytes: Number(written.blocks) * 512,
      holes: copied.method,
      mode: mode & ~SETID_BITS,
      owner,
      warnings,
    };
  } catch (error) {
    removeOwn(dest, target);
    return {
      ok: false,
      status: 'failed',
      reason: `the copy failed: ${errorCode(error)}; the partial ${dest} was removed`,
      warnings,
    };
  } finally {
    closeSync(source);
    closeSync(target);
  }
}

/**
 * Gives DEST the source's owner and group when limbo runs as root (a database server opens its
 * files as its own user); otherwise DEST stays limbo's user's, and a differing owner is said.
 */
function keepOwner(target: number, source: BigIntStats, warnings: string[]): FileOwner | null {
  const uid = Number(source.uid);
  const gid = Number(source.gid);
  if (process.geteuid?.() === 0) {
    fchownSync(target, uid, gid);
    return { uid, gid };
  }
  if (uid !== process.geteuid?.()) {
    warnings.push(
      `DEST is owned by you, not by the file's owner (uid ${uid}, gid ${gid}): only root can give it back`,
    );
  }
  return null;
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
    owner: null,
    siblings: [],
    missingSiblings: [],
    warnings: [],
  };
}
