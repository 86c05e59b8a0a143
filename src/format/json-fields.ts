// How limbo writes kernel values into its JSON contracts, declared once for every contract: a
// device as "MAJ:MIN", an inode exactly, raw bytes as base64.
import { isUtf8 } from 'node:buffer';
import { integer, oneOf, string } from './json-schema.js';

/** st_dev as "MAJ:MIN". */
export const devJsonSchema = string({ pattern: '^[0-9]+:[0-9]+$' });

/** An inode number: exact as a JSON number below 2^53, a decimal string beyond. */
export const inodeJsonSchema = oneOf([integer({ minimum: 0 }), string({ pattern: '^[0-9]+$' })], {
  description: 'A number below 2^53; a decimal string above it.',
});

/** Bytes that are not valid UTF-8, kept exact. */
export const base64JsonSchema = string({ contentEncoding: 'base64' });

/** `commBytes`, beside `comm` (and `cpidComm`, `lpidComm`, ...) in every contract that has one. */
export const commBytesSchema = string({
  description: 'Base64 of the exact comm bytes; present only when they are not valid UTF-8.',
  contentEncoding: 'base64',
});

/** `comm` (lossy, for display) plus `commBytes` (exact, base64) when the bytes are not valid UTF-8. */
export function commToJson(comm: Buffer): { comm: string; commBytes?: string } {
  return { comm: comm.toString('utf8'), ...commBytesField('commBytes', comm) };
}

/** `{ [key]: base64 }` when a comm's bytes are not valid UTF-8, else nothing: for `cpidCommBytes` and the like. */
export function commBytesField<K extends string>(
  key: K,
  comm: Buffer | null | undefined,
): Partial<Record<K, string>> {
  const bytes = base64UnlessUtf8(comm);
  return bytes === undefined ? {} : ({ [key]: bytes } as Record<K, string>);
}

/**
 * Base64 of bytes that are not valid UTF-8, for the `…Bytes` field beside their text; undefined
 * when they are (or there are none), a value JSON.stringify leaves out with its key.
 */
export function base64UnlessUtf8(bytes: Buffer | null | undefined): string | undefined {
  return bytes && !isUtf8(bytes) ? bytes.toString('base64') : undefined;
}

const MAX_EXACT_INODE = BigInt(Number.MAX_SAFE_INTEGER);

/** Inodes are JSON numbers while exact (below 2^53), decimal strings beyond. */
export function inodeToJson(ino: bigint): number | string {
  return ino <= MAX_EXACT_INODE ? Number(ino) : ino.toString();
}
