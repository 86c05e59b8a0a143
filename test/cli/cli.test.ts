// The built binary as a user meets it: help, exit codes, and clear errors for bad input.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runLimbo } from '../helpers/limbo.js';

describe('limbo CLI', () => {
  it('runs the report when given no command', () => {
    const bare = runLimbo(['--json']);
    assert.equal(bare.code, 0, bare.stderr);
    assert.equal((JSON.parse(bare.stdout) as { schema: string }).schema, 'limbo.report/1');
  });

  it('prints help listing every command, and per-command help listing every flag', () => {
    const help = runLimbo(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /deleted\s+List deleted files/);
    assert.match(help.stdout, /snapshot\s+Scan this machine/);
    assert.match(help.stdout, /restart\s+List processes still running deleted or replaced code/);
    const deleted = runLimbo(['deleted', '--help']);
    assert.equal(deleted.code, 0);
    for (const flag of [
      '--pid N',
      '--user NAME',
      '--mount PATH',
      '--min-size SIZE',
      '--kind K',
      '--sort KEY',
      '--json',
      '--from FILE',
    ]) {
      assert.ok(deleted.stdout.includes(flag), `help mentions ${flag}`);
    }
  });

  it('loads every listed command under its own name, each with its own --help', () => {
    const names = [...runLimbo(['--help']).stdout.matchAll(/^ {2}([a-z]+) {2,}/gm)].map(
      (m) => m[1] as string,
    );
    assert.ok(names.length >= 13, `commands listed: ${names.join(' ')}`);
    for (const name of names) {
      const help = runLimbo([name, '--help']);
      assert.equal(help.code, 0, `${name} --help`);
      assert.match(help.stdout, new RegExp(`Usage: limbo \\[?${name}`), `${name} --help shows its own usage`);
    }
  });

  it('prints its version', () => {
    const run = runLimbo(['--version']);
    assert.equal(run.code, 0);
    assert.match(run.stdout, /^limbo \d+\.\d+\.\d+\n$/);
  });

  const usageErrors: [string[], RegExp][] = [
    [['deleted', '--bogus'], /--bogus/],
    [['deleted', '--min-size', 'lots'], /--min-size/],
    [['deleted', '--pid', 'abc'], /--pid/],
    [['deleted', '--kind', 'socket'], /--kind takes one of file, tmpfile, memfd/],
    [['deleted', '--sort', 'age'], /--sort/],
    [['deleted', '--mount', '/no/such/dir'], /--mount: cannot stat '\/no\/such\/dir'/],
    [['deleted', 'extra'], /unexpected argument 'extra'/],
    [['deleted', '--limit', '0'], /--limit takes a positive number/],
    [['frobnicate'], /unknown command 'frobnicate'/],
    [['restart', '--pid', '1'], /--pid/],
  ];
  for (const [args, message] of usageErrors) {
    it(`exits 2 with a clear message for: limbo ${args.join(' ')}`, () => {
      const run = runLimbo(args);
      assert.equal(run.code, 2);
      assert.match(run.stderr, message);
      assert.equal(run.stdout, '');
    });
  }

  it('exits 1 when a snapshot file cannot be read', () => {
    const run = runLimbo(['deleted', '--from', '/no/such/snapshot.json']);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /cannot read snapshot \/no\/such\/snapshot.json/);
  });

  it('exits 1 with a clear message when --proc is not a proc filesystem', () => {
    const run = runLimbo(['deleted', '--proc', '/no/such/proc']);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /cannot scan \/no\/such\/proc/);
  });

  it('writes no colour codes to a pipe', () => {
    const run = runLimbo(['deleted']);
    assert.equal(run.code, 0);
    assert.ok(!run.stdout.includes('\x1b'));
  });
});
