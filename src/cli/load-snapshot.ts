import { readFileSync } from 'node:fs';
import { LimboError } from '../core/errors.js';
import { escapeName } from '../format/escape.js';
import { parseSnapshot } from '../snapshot/snapshot-json.js';
import { takeSnapshot } from '../snapshot/take-snapshot.js';
import type { Snapshot } from '../snapshot/types.js';
import type { CommonValues } from './options.js';

/** The snapshot a command works on: a saved one (--from), or a fresh scan of --proc. */
export function loadSnapshot(
  values: Pick<CommonValues, 'from' | 'proc'>,
  options: { handles?: boolean } = {},
): Snapshot {
  const { from, proc } = values;
  if (from !== undefined) {
    let text: string;
    try {
      text = readFileSync(from === '-' ? 0 : from, 'utf8');
    } catch (error) {
      throw new LimboError('io', `cannot read snapshot ${from}: ${(error as Error).message}`, {
        cause: error,
      });
    }
    try {
      return parseSnapshot(text);
    } catch (error) {
      if (!(error instanceof LimboError)) throw error;
      throw new LimboError(error.code, `snapshot ${from}: ${error.message}`, { cause: error.cause });
    }
  }
  try {
    return takeSnapshot({ procRoot: proc, handles: options.handles ?? false });
  } catch (error) {
    throw new LimboError(
      'proc-unreadable',
      `cannot scan ${escapeName(Buffer.from(proc))}: ${(error as Error).message}`,
      { cause: error },
    );
  }
}
