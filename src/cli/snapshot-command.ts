import { writeFileSync } from 'node:fs';
import { LimboError } from '../core/errors.js';
import { stringifySnapshot } from '../snapshot/snapshot-json.js';
import type { Io } from './io.js';
import { loadSnapshot } from './load-snapshot.js';
import type { CommandSpec, ParsedOptions } from './options.js';

export const snapshotSpec: CommandSpec = {
  name: 'snapshot',
  summary: 'Scan this machine once and write the snapshot as JSON, for --from, replay or a bug report.',
  usage: 'limbo snapshot [--output FILE] [--handles]',
  options: [
    { name: 'output', type: 'string', value: 'FILE', help: 'write to FILE instead of standard output' },
    { name: 'handles', type: 'boolean', help: 'also count every file handle, for `limbo handles --from`' },
  ],
};

/** `limbo snapshot`: the raw scan as JSON. */
export function runSnapshot(values: ParsedOptions, io: Io): number {
  const text = `${stringifySnapshot(loadSnapshot(values, { handles: values['handles'] === true }))}\n`;
  const output = values['output'];
  if (typeof output !== 'string') {
    io.stdout.write(text);
    return 0;
  }
  try {
    writeFileSync(output, text, { flag: 'wx', mode: 0o600 });
  } catch (error) {
    throw new LimboError('io', `cannot write ${output}: ${(error as Error).message}`, { cause: error });
  }
  return 0;
}
