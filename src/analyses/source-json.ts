import { enumOf, nullable, object, string } from '../format/json-schema.js';
import type { Snapshot } from '../snapshot/types.js';

/**
 * Where an answer's data comes from, in every read-only contract (add-only, so `optional` there):
 * this machine now, or a snapshot replayed with --from, which names the file, when it was taken
 * and on which host, so a replayed answer never passes for a live one.
 */
export const scanSourceJsonSchema = object(
  {
    kind: enumOf(['live', 'snapshot']),
    file: nullable(string({ description: 'The --from argument as given; null for a live scan or stdin.' })),
    takenAt: string({ format: 'date-time' }),
    hostname: string(),
  },
  { description: 'The scan the answer comes from: live, or a replayed snapshot (file, time, host).' },
);

/** `source` of a contract: `from` is the --from argument (`-` for stdin), undefined for a live scan. */
export function sourceToJson(
  snapshot: Pick<Snapshot, 'takenAt' | 'hostname'>,
  from: string | undefined,
): { kind: 'live' | 'snapshot'; file: string | null; takenAt: string; hostname: string } {
  return {
    kind: from === undefined ? 'live' : 'snapshot',
    file: from === undefined || from === '-' ? null : from,
    takenAt: snapshot.takenAt,
    hostname: snapshot.hostname,
  };
}
