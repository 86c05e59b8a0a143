// Colour through the binary: on a terminal unless NO_COLOR, never down a pipe, and --color
// (or FORCE_COLOR) to say otherwise. A real holder gives `limbo deleted` a table to colour.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startHolder, type Holder } from '../helpers/holder.js';
import { runLimbo } from '../helpers/limbo.js';
import { repoRoot } from '../helpers/paths.js';

/** An SGR escape, as the palette writes it. */
const SGR = new RegExp(`${String.fromCharCode(0x1b)}\\[\\d+m`);

describe('limbo --color and NO_COLOR', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'limbo-color-'));
  let holder: Holder;
  before(async () => {
    const path = join(scratch, 'held');
    holder = await startHolder(['create', path, '4096', 'unlink', path]);
  });
  after(async () => {
    await holder.stop();
    rmSync(scratch, { recursive: true, force: true });
  });

  /** `limbo deleted --pid HOLDER` down a pipe, with these flags and this environment. */
  function piped(flags: string[], env: NodeJS.ProcessEnv = {}): string {
    const run = runLimbo(['deleted', '--pid', String(holder.pid), ...flags], { env });
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /1 deleted file still held/);
    return run.stdout;
  }

  /** The same on a terminal: script(1) gives it a pseudo-terminal for stdout. */
  function onTerminal(env: NodeJS.ProcessEnv): string {
    const command = `'${process.execPath}' '${repoRoot}bin/limbo.js' deleted --pid ${holder.pid}`;
    const run = spawnSync('script', ['-qec', command, '/dev/null'], {
      encoding: 'utf8',
      env: { ...process.env, FORCE_COLOR: undefined, TERM: 'xterm', ...env },
    });
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /1 deleted file still held/);
    return run.stdout;
  }

  const cases: [string, () => string, boolean][] = [
    ['a terminal gets colour', () => onTerminal({ NO_COLOR: undefined }), true],
    ['NO_COLOR turns it off on a terminal', () => onTerminal({ NO_COLOR: '1' }), false],
    ['a pipe gets none', () => piped([]), false],
    ['--color=always colours a pipe', () => piped(['--color=always']), true],
    ['--color=always beats NO_COLOR', () => piped(['--color', 'always'], { NO_COLOR: '1' }), true],
    ['FORCE_COLOR colours a pipe', () => piped([], { FORCE_COLOR: '1' }), true],
    ['--color=never beats FORCE_COLOR', () => piped(['--color=never'], { FORCE_COLOR: '1' }), false],
  ];
  for (const [name, output, coloured] of cases) {
    it(name, () => {
      assert.equal(SGR.test(output()), coloured);
    });
  }

  it('refuses a word --color does not take', () => {
    const run = runLimbo(['deleted', '--color=sometimes']);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /^limbo deleted: --color takes one of auto, always, never$/m);
  });
});
