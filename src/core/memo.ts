/**
 * A parser of kernel text that remembers its last answers by the text itself. Many processes
 * show byte-identical /proc files (every worker of a service shares its cgroup and its limits),
 * so a scan parses each distinct text once. The answers are frozen: callers share them. Bounded:
 * past `limit` distinct texts the memory starts over.
 */
export function memoizeByText<T>(parse: (text: string) => T, limit = 512): (text: string) => T {
  const known = new Map<string, T>();
  return (text) => {
    const hit = known.get(text);
    if (hit !== undefined || known.has(text)) return hit as T;
    const value = parse(text);
    if (known.size >= limit) known.clear();
    known.set(text, typeof value === 'object' && value !== null ? Object.freeze(value) : value);
    return value;
  };
}

/** What `map` holds for `key`: made by `make` and kept there the first time it is asked for. */
export function getOrMake<K, V>(map: Map<K, V>, key: K, make: () => V): V {
  if (map.has(key)) return map.get(key) as V;
  const value = make();
  map.set(key, value);
  return value;
}
