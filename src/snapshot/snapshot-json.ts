import { isUtf8 } from 'node:buffer';
import { LimboError } from '../core/errors.js';
import type { PosixShmObject } from '../proc/posix-shm.js';
import type { DeletedExe, FileRecord, HeldFd, HeldMapping, ProcessRecord, Snapshot } from './types.js';

// In JSON a name is a string when its bytes are valid UTF-8, else { "base64": "..." };
// an inode is a decimal string (it can pass 2^53). Everything else is already JSON.
type JsonName = string | { base64: string };

/** Serialises a snapshot to JSON text that `parseSnapshot` reads back unchanged. */
export function stringifySnapshot(snapshot: Snapshot): string {
  return JSON.stringify({
    ...snapshot,
    files: snapshot.files.map((file) => ({ ...file, ino: file.ino.toString() })),
    posixShm: snapshot.posixShm?.map((object) => ({ ...object, name: encodeName(object.name) })) ?? null,
    processes: snapshot.processes.map((p) => ({
      ...p,
      comm: encodeName(p.comm),
      fds: p.fds.map((fd) => ({ ...fd, name: fd.name === null ? null : encodeName(fd.name) })),
      mappings: p.mappings.map((m) => ({ ...m, name: encodeName(m.name) })),
      deletedExe: p.deletedExe === null ? null : { ...p.deletedExe, name: encodeName(p.deletedExe.name) },
    })),
  });
}

/** Reads a snapshot written by `stringifySnapshot`; throws LimboError 'snapshot-invalid' otherwise. */
export function parseSnapshot(text: string): Snapshot {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new LimboError('snapshot-invalid', 'the snapshot is not valid JSON', { cause: error });
  }
  const data = raw as Record<string, unknown>;
  if (typeof data !== 'object' || data === null || data['schema'] !== 'limbo.snapshot/1') {
    throw new LimboError('snapshot-invalid', 'not a limbo snapshot (expected schema "limbo.snapshot/1")');
  }
  if (
    !Array.isArray(data['processes']) ||
    !Array.isArray(data['files']) ||
    !Array.isArray(data['mountNamespaces'])
  ) {
    throw new LimboError('snapshot-invalid', 'the snapshot lacks processes, files or mountNamespaces');
  }
  try {
    const files = (data['files'] as Record<string, unknown>[]).map((file): FileRecord => ({
      ...(file as unknown as FileRecord),
      ino: BigInt(file['ino'] as string),
    }));
    const processes = (data['processes'] as Record<string, unknown>[]).map((p): ProcessRecord => ({
      ...(p as unknown as ProcessRecord),
      comm: decodeName(p['comm'] as JsonName),
      fds: (p['fds'] as Record<string, unknown>[]).map((fd): HeldFd => ({
        ...(fd as unknown as HeldFd),
        name: fd['name'] === null ? null : decodeName(fd['name'] as JsonName),
      })),
      mappings: (p['mappings'] as Record<string, unknown>[]).map((m): HeldMapping => ({
        ...(m as unknown as HeldMapping),
        name: decodeName(m['name'] as JsonName),
      })),
      deletedExe: decodeExe(p['deletedExe'] as Record<string, unknown> | null | undefined),
      handles: (p['handles'] as ProcessRecord['handles'] | undefined) ?? null,
      fdLimit: (p['fdLimit'] as ProcessRecord['fdLimit'] | undefined) ?? null,
    }));
    // Fields added within limbo.snapshot/1 default to "not collected" in older snapshots.
    const system = (data['system'] as Snapshot['system'] | undefined) ?? null;
    const shmSegments = (data['shmSegments'] as Snapshot['shmSegments'] | undefined) ?? null;
    const posixShm =
      (data['posixShm'] as Record<string, unknown>[] | null | undefined)?.map((object): PosixShmObject => ({
        ...(object as unknown as PosixShmObject),
        name: decodeName(object['name'] as JsonName),
      })) ?? null;
    return { ...(data as unknown as Snapshot), files, processes, system, shmSegments, posixShm };
  } catch (error) {
    throw new LimboError('snapshot-invalid', 'the snapshot is malformed', { cause: error });
  }
}

function decodeExe(exe: Record<string, unknown> | null | undefined): DeletedExe | null {
  if (!exe) return null;
  return { ...(exe as unknown as DeletedExe), name: decodeName(exe['name'] as JsonName) };
}

function encodeName(name: Buffer): JsonName {
  return isUtf8(name) ? name.toString('utf8') : { base64: name.toString('base64') };
}

function decodeName(name: JsonName): Buffer {
  if (typeof name === 'string') return Buffer.from(name, 'utf8');
  if (name && typeof name.base64 === 'string') return Buffer.from(name.base64, 'base64');
  throw new TypeError('bad name');
}
