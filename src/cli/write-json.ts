import type { Io } from './io.js';

/** Output is handed to the stream in pieces of about this many characters. */
const CHUNK_CHARS = 1 << 16;

/**
 * Writes exactly what `JSON.stringify({ ...json, [key]: items.map(toJson) }, null, 2)` and a
 * newline would, converting and writing one item at a time: a report of 10,000 deleted files is
 * never held whole, as a tree of JSON values or as one string (peak memory, and the collector's
 * time). `json[key]` must be an empty array standing for the items.
 */
export function writeJsonWithList<T>(
  out: Io['stdout'],
  json: object,
  key: string,
  items: readonly T[],
  toJson: (item: T) => unknown,
): void {
  const whole = JSON.stringify(json, null, 2);
  // A top-level key is the only one indented by two spaces.
  const placeholder = `\n  ${JSON.stringify(key)}: []`;
  const at = whole.indexOf(placeholder);
  if (at < 0) throw new Error(`writeJsonWithList: no empty top-level "${key}" in the JSON`);
  if (items.length === 0) {
    out.write(`${whole}\n`);
    return;
  }
  let pending = `${whole.slice(0, at + placeholder.length - 1)}`;
  items.forEach((item, i) => {
    // An array element sits four spaces in; JSON strings hold no raw newline, so each one is a line break.
    const text = JSON.stringify(toJson(item), null, 2).replaceAll('\n', '\n    ');
    pending += `${i === 0 ? '' : ','}\n    ${text}`;
    if (pending.length >= CHUNK_CHARS) {
      out.write(pending);
      pending = '';
    }
  });
  out.write(`${pending}\n  ]${whole.slice(at + placeholder.length)}\n`);
}
