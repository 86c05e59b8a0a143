import { isUtf8 } from 'node:buffer';
import { string } from '../format/json-schema.js';

/** `commBytes`, beside `comm` in every contract that has it. */
export const commBytesSchema = string({
  description: 'Base64 of the exact comm bytes; present only when they are not valid UTF-8.',
  contentEncoding: 'base64',
});

/** `comm` (lossy, for display) plus `commBytes` (exact, base64) when the bytes are not valid UTF-8. */
export function commToJson(comm: Buffer): { comm: string; commBytes?: string } {
  return isUtf8(comm)
    ? { comm: comm.toString('utf8') }
    : { comm: comm.toString('utf8'), commBytes: comm.toString('base64') };
}
