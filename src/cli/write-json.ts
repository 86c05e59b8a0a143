import type { Io } from './io.js';

/** Items converted and written at a time: one JSON.stringify each, never the whole list held. */
const ITEMS_PER_PIECE = 128;

/**
 * Writes exactly what `JSON.stringify({ ...json, [key]: items.map(toJson) }, null, 2)` and a
 * newline would, converting and writing a piece of the list at a time: a report of 10,000 deleted
 * files is never held whole, as a tree of JSON values or as one string (peak memory, and the
 * collector's time), and costs 80 calls of JSON.stringify, not 10,000. `json[key]` must be an
 * empty array standing for the items.
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
  out.write(whole.slice(0, at + placeholder.length - 1));
  for (let start = 0; start < items.length; start += ITEMS_PER_PIECE) {
    // A piece of the list as JSON.stringify lays out an array two spaces in: "[\n  {…},\n  {…}\n]".
    // Without its brackets, every line two spaces further in (JSON strings hold no raw newline),
    // it is those items where the whole would have them, four spaces in.
    const piece = JSON.stringify(items.slice(start, start + ITEMS_PER_PIECE).map(toJson), null, 2);
    const inner = piece.slice(1, -2).replaceAll('\n', '\n  ');
    out.write(start === 0 ? inner : `,${inner}`);
  }
  out.write(`\n  ]${whole.slice(at + placeholder.length)}\n`);
}
