// reclaim, recover and close through bin/limbo.js, as a user runs them: help, exit codes, JSON.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { ReclaimJson } from '../../src/actions/reclaim-json.js';
import type { RecoverJson } from '../../src/actions/recover-json.js';
import { kernelStat, startHolder, type Holder } from '../helpers/holder.js';
import { runLimbo } from '../helpers/limbo.js';
import { assertMatchesSchema } from '../helpers/schema.js';

const dir = mkdtempSync(join(tmpdir(), 'limbo-actions-cli-'));
const holders: Holder[] = [];

after(async () => {
  await Promise.all(holders.map((holder) => holder.stop()));
  rmSync(dir, { recursive: true, force: true });
});

/** A deleted file a holder keeps open: read-only by default, or only appended to (`append`), as a log. */
async function holdDeleted(name: string, bytes: number, how: 'open' | 'append' = 'open'): Promise<Holder> {
  const path = join(dir, name);
  writeFileSync(path, randomBytes(bytes));
  const holder = await startHolder([how, path]);
  holders.push(holder);
  unlinkSync(path);
  return holder;
}

describe('limbo reclaim, recover and close (bin/limbo.js)', () => {
  it('lists the three commands in the help', () => {
    const help = runLimbo(['--help']);
    assert.match(help.stdout, /reclaim\s+Give back the space of deleted files/);
    assert.match(help.stdout, /recover\s+Get a deleted file back/);
    assert.match(help.stdout, /close\s+Close a leaked descriptor/);
    assert.match(runLimbo(['close', '--help']).stdout, /The risk: the process is not told/);
  });

  it('reclaims a held deleted file with --yes, in valid limbo.reclaim/1', async () => {
    const holder = await holdDeleted('reclaim-me', 300_000, 'append');
    const truth = kernelStat(`/proc/${holder.pid}/fd/3`);
    const run = runLimbo(['reclaim', `${holder.pid}:3`, '--yes', '--json']);
    assert.equal(run.code, 0, run.stderr);
    const json = JSON.parse(run.stdout) as ReclaimJson;
    assertMatchesSchema('limbo.reclaim-1', json);
    assert.equal(json.results[0]?.freedBytes, truth.allocated);
    assert.equal(kernelStat(`/proc/${holder.pid}/fd/3`).size, 0);
  });

  it('recovers a held deleted file, in valid limbo.recover/1', async () => {
    const holder = await holdDeleted('recover-me', 100_000);
    const dest = join(dir, 'recovered');
    const run = runLimbo(['recover', `${holder.pid}:3`, dest, '--json']);
    assert.equal(run.code, 0, run.stderr);
    const json = JSON.parse(run.stdout) as RecoverJson;
    assertMatchesSchema('limbo.recover-1', json);
    assert.deepEqual(readFileSync(dest), readFileSync(`/proc/${holder.pid}/fd/3`));
  });

  const usage: [string[], RegExp][] = [
    [['reclaim'], /nothing to reclaim/],
    [['reclaim', '1:3'], /no terminal to confirm on/],
    [['recover', '1:3'], /give exactly a TARGET/],
    [['close', '1:3'], /needs --force/],
    [['close', '1:2:3', '--force'], /give exactly one descriptor, as PID:FD/],
  ];
  for (const [args, message] of usage) {
    it(`exits 2 with a clear message for: limbo ${args.join(' ')}`, () => {
      const run = runLimbo(args);
      assert.equal(run.code, 2);
      assert.match(run.stderr, message);
    });
  }
});
