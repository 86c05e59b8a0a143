import { writeFileSync } from 'node:fs';
import { LimboError, whyFailed } from '../core/errors.js';
import { stringifySnapshot } from '../snapshot/snapshot-json.js';
import type { Io } from './io.js';
import { quote } from '../format/escape.js';
import { loadSnapshot, refusePathOnSilentMount } from './load-snapshot.js';
import type { ValuesOf } from './options.js';
import type { snapshotSpec } from './specs/snapshot.js';

/** `limbo snapshot`: the raw scan as JSON. */
export function runSnapshot(values: ValuesOf<typeof snapshotSpec>, io: Io): number {
  const { output } = values;
  // Asked before the scan: a file on a mount that does not answer would be waited on after it.
  if (output !== undefined) {
    const what = `--output ${quote(output)}`;
    refusePathOnSilentMount('limbo snapshot: ', what, output, values);
  }
  const text = `${stringifySnapshot(loadSnapshot(values, { handles: values.handles }))}\n`;
  if (output === undefined) {
    io.stdout.write(text);
    return 0;
  }
  try {
    writeFileSync(output, text, { flag: 'wx', mode: 0o600 });
  } catch (error) {
    const why = whyFailed(error);
    throw new LimboError('io', `limbo snapshot: cannot write ${quote(output)}: ${why}`, { cause: error });
  }
  return 0;
}
