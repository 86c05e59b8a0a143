// How limbo writes kernel values into its JSON contracts, declared once for every contract: a
// device as "MAJ:MIN", an inode exactly, raw bytes as base64.
import { integer, oneOf, string } from './json-schema.js';

/** st_dev as "MAJ:MIN". */
export const devJsonSchema = string({ pattern: '^[0-9]+:[0-9]+$' });

/** An inode number: exact as a JSON number below 2^53, a decimal string beyond. */
export const inodeJsonSchema = oneOf([integer({ minimum: 0 }), string({ pattern: '^[0-9]+$' })], {
  description: 'A number below 2^53; a decimal string above it.',
});

/** Bytes that are not valid UTF-8, kept exact. */
export const base64JsonSchema = string({ contentEncoding: 'base64' });

/** Inodes are JSON numbers while exact (below 2^53), decimal strings beyond. */
export function inodeToJson(ino: bigint): number | string {
  return ino <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(ino) : ino.toString();
}
