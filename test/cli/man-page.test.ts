// man/limbo.1 comes from the option declarations that make --help: the committed page is what
// `npm run man` writes, and every flag --help shows is in it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { runLimbo } from '../helpers/limbo.js';
import { repoRoot } from '../helpers/paths.js';

describe('man/limbo.1', () => {
  const page = readFileSync(`${repoRoot}man/limbo.1`, 'utf8');

  it('is what `npm run man` would write from the declarations', () => {
    const run = spawnSync(process.execPath, [`${repoRoot}scripts/man.mjs`, '--check'], { encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
  });

  it('documents every flag of every command, as --help lists them', () => {
    const commands = [...runLimbo(['--help']).stdout.matchAll(/^ {2}([a-z]+) {2,}/gm)].map(
      (m) => m[1] as string,
    );
    assert.ok(commands.length >= 10);
    for (const command of commands) {
      assert.ok(page.includes(`.SS ${command}\n`), `${command} has a section`);
      for (const [, flag] of runLimbo([command, '--help']).stdout.matchAll(/^ {2}--([a-z-]+)/gm)) {
        assert.ok(
          page.includes(`.B \\-\\-${(flag as string).replace(/-/g, '\\-')}`),
          `--${flag} of ${command}`,
        );
      }
    }
  });

  it('renders without a roff warning where man is installed', (t) => {
    if (spawnSync('sh', ['-c', 'command -v groff']).status !== 0) return t.skip('groff is not installed');
    const run = spawnSync('groff', ['-man', '-Tutf8', '-ww', '-z', `${repoRoot}man/limbo.1`], {
      encoding: 'utf8',
    });
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stderr, '');
  });
});
