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
    // A piece of the list, nested in one more array, as JSON.stringify lays it out:
    // "[\n  [\n    {…},\n    {…}\n  ]\n]", its items four spaces in as the whole has them. Without
    // the outer brackets ("[\n  [" and "\n  ]\n]") it is those items, with no second pass over the text
    // to indent them (at 10,000 deleted files, 10 MB, that replaceAll took 6 of the 40 ms).
    const piece = JSON.stringify([items.slice(start, start + ITEMS_PER_PIECE).map(toJson)], null, 2);
    const inner = piece.slice('[\n  ['.length, -'\n  ]\n]'.length);
    out.write(start === 0 ? inner : `,${inner}`);
  }
  out.write(`\n  ]${whole.slice(at + placeholder.length)}\n`);
}
