// `limbo watch` in a pipe (one view) and in a real terminal (tmux), where q quits.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { sparkline } from '../../src/cli/watch-command.js';
import { runLimbo } from '../helpers/limbo.js';
import { repoRoot } from '../helpers/paths.js';

const hasTmux = (() => {
  try {
    execFileSync('tmux', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

async function waitFor(what: string, probe: () => boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('limbo watch', () => {
  it('draws trends as sparklines', () => {
    assert.equal(sparkline([1, 1, 1]), '▁▁▁');
    assert.equal(sparkline([0, 7, 14]), '▁▅█');
    assert.equal(sparkline([]), '');
  });

  it('prints one plain view when its output is not a terminal', () => {
    const run = runLimbo(['watch']);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^limbo watch {2}(OK|WARNING|CRITICAL)/);
    assert.match(run.stdout, /top processes by fds/);
    assert.match(run.stdout, /leak suspects/);
    assert.ok(!run.stdout.includes('\x1b[H'), 'no screen control codes in a pipe');
  });

  it(
    'refreshes in place in a terminal, and q quits',
    { skip: !hasTmux && 'tmux is not installed' },
    async () => {
      const session = `limbo-watch-${process.pid}`;
      execFileSync('tmux', [
        'new-session',
        '-d',
        '-s',
        session,
        '-x',
        '120',
        '-y',
        '40',
        `${process.execPath} ${repoRoot}bin/limbo.js watch --interval 1`,
      ]);
      const screen = () => execFileSync('tmux', ['capture-pane', '-p', '-t', session], { encoding: 'utf8' });
      const alive = () => {
        try {
          execFileSync('tmux', ['has-session', '-t', session], { stdio: 'ignore' });
          return true;
        } catch {
          return false;
        }
      };
      try {
        await waitFor('the first view', () => screen().includes('top processes by fds'));
        assert.match(screen(), /q quits/);
        execFileSync('tmux', ['send-keys', '-t', session, 'q']);
        await waitFor('watch to quit', () => !alive());
      } finally {
        if (alive()) execFileSync('tmux', ['kill-session', '-t', session]);
      }
    },
  );
});
