import { describeVia } from '../actions/holders.js';
import { recoverFile, type RecoverResult } from '../actions/recover.js';
import { recoverResultToJson } from '../actions/recover-json.js';
import { paletteFor, type Palette } from '../format/color.js';
import { escapeName } from '../format/escape.js';
import { formatBytes } from '../format/size.js';
import { readPasswd } from '../proc/passwd.js';
import { LimboError } from '../core/errors.js';
import type { Io } from './io.js';
import { loadSnapshot, mountTimeoutMsOf } from './load-snapshot.js';
import type { ValuesOf } from './options.js';
import type { recoverSpec } from './specs/recover.js';
import { parseTargets, refuseSavedSnapshot } from './target-args.js';

/** Files at least this big show progress on a terminal. */
const PROGRESS_FROM_BYTES = 64 * 1024 * 1024;
const PROGRESS_EVERY_MS = 200;

/** `limbo recover TARGET DEST`: copy (or link) one held deleted file to a new name. */
export function runRecover(values: ValuesOf<typeof recoverSpec>, io: Io, positionals: string[]): number {
  refuseSavedSnapshot('recover', values);
  if (positionals.length !== 2) {
    throw new LimboError(
      'usage',
      'limbo recover: give exactly a TARGET (PID:FD or MAJ:MIN:INODE) and a DEST',
    );
  }
  const [targetText, dest] = positionals as [string, string];
  const [target] = parseTargets('recover', [targetText]) as [ReturnType<typeof parseTargets>[number]];
  const { json, proc: procRoot } = values;
  const progress = !json && io.stderr.isTTY === true ? progressPrinter(io) : undefined;
  const result = recoverFile(
    { target, dest, link: values.link, force: values.force },
    {
      procRoot,
      mountTimeoutMs: mountTimeoutMsOf(values),
      // The scan finds a file's holders, and a descriptor that only a thread's own table holds.
      snapshot: loadSnapshot(values),
      ...(progress ? { onProgress: progress } : {}),
    },
  );
  if (progress) io.stderr.write('\r\x1b[K');
  if (json) io.stdout.write(`${JSON.stringify(recoverResultToJson(result), null, 2)}\n`);
  else io.stdout.write(renderRecover(result, paletteFor(io.stdout, io.env)));
  const whole = result.siblings.every((sibling) => sibling.status === 'copied');
  return (result.status === 'copied' || result.status === 'linked') && whole ? 0 : 1;
}

function progressPrinter(io: Io): (done: number, total: number) => void {
  let last = 0;
  return (done, total) => {
    if (total < PROGRESS_FROM_BYTES) return;
    const now = Date.now();
    if (now - last < PROGRESS_EVERY_MS && done < total) return;
    last = now;
    const percent = Math.floor((done / total) * 100);
    io.stderr.write(`\r\x1b[Kcopying: ${formatBytes(done)} of ${formatBytes(total)} (${percent}%)`);
  };
}

/** Why a sibling goes with the copy, in the words of what SQLite does with it. */
const SIBLING_ROLE: Record<RecoverResult['siblings'][number]['suffix'], string> = {
  '-wal': 'committed transactions not yet checkpointed; SQLite reads them when it opens the copy',
  '-journal': 'the undo record of an unfinished transaction; SQLite rolls it back when it opens the copy',
};

/** ", owner postgres (uid 101, gid 104)" when DEST got the source's owner. */
function describeOwner(result: RecoverResult): string {
  if (!result.owner) return '';
  const user = readPasswd().get(result.owner.uid);
  const name = user === undefined ? '' : `${escapeName(Buffer.from(user))} `;
  return `, owner ${name}(uid ${result.owner.uid}, gid ${result.owner.gid})`;
}

/** One paragraph: what was recovered into what, how, and anything to know. */
export function renderRecover(result: RecoverResult, c: Palette): string {
  const source = `${result.key ?? result.target}${result.via ? ` (${describeVia(result.via)})` : ''}`;
  const dest = escapeName(Buffer.from(result.dest));
  const lines: string[] = [];
  switch (result.status) {
    case 'linked':
      lines.push(
        c.green(`Linked ${source} as ${dest}: no copy, the same inode now has a name.`),
        `  ${formatBytes(result.sizeBytes)}, mode 0${(result.mode ?? 0).toString(8)}`,
      );
      break;
    case 'copied': {
      const holes =
        result.holes === 'seek-data'
          ? 'holes kept (SEEK_DATA/SEEK_HOLE)'
          : 'zero blocks left as holes (no native addon: every block was read)';
      lines.push(
        c.green(`Recovered ${source} into ${dest}.`),
        `  ${formatBytes(result.sizeBytes)} (${result.sizeBytes} bytes, verified); ${formatBytes(result.dataBytes)} of data written, ${holes}`,
        `  ${dest} holds ${formatBytes(result.destAllocatedBytes ?? 0)} on disk; mode 0${(result.mode ?? 0).toString(8)}${describeOwner(result)} and times kept`,
      );
      for (const sibling of result.siblings) {
        const name = sibling.name ? escapeName(sibling.name) : sibling.suffix;
        const siblingDest = escapeName(Buffer.from(sibling.dest));
        lines.push(
          sibling.status === 'copied'
            ? `  with its ${sibling.suffix}: ${name}${sibling.deleted ? ' (deleted)' : ''} (${describeVia(sibling.via)}) into ${siblingDest}, ${formatBytes(sibling.sizeBytes)}: ${SIBLING_ROLE[sibling.suffix]}`
            : c.red(`  its ${sibling.suffix} was not copied: ${sibling.reason ?? ''}`),
        );
      }
      break;
    }
    default:
      lines.push(c.red(`Not recovered (${result.status}): ${result.reason ?? ''}`));
  }
  for (const warning of result.warnings) lines.push(c.yellow(`  warning: ${warning}`));
  return `${lines.join('\n')}\n`;
}
