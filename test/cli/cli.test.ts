// The built binary as a user meets it: help, exit codes, and clear errors for bad input.
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
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
    [['deleted', 'extra'], /unexpected argument 'extra'/],
    [['deleted', '--limit', '0'], /--limit takes a positive number/],
    [['frobnicate'], /unknown command 'frobnicate'/],
    [['restart', '--pid', '1'], /--pid/],
    [['deleted', '--pid', '-1'], /--pid takes a process id, not '-1'/],
    [['deleted', '--bogus\x1b[2J'], /unknown option '--bogus\\e\[2J'/],
    [['frob\x1b[2J'], /unknown command 'frob\\e\[2J'/],
    [
      ['serve', '--token-file', '/no/such/\x1b[2Jtoken'],
      /cannot read --token-file '\/no\/such\/\\e\[2Jtoken': ENOENT/,
    ],
    [['deleted', '--all', '--limit', '3'], /--all and --limit contradict each other/],
    [['--warn-held', '10G', '--crit-held', '1G'], /--warn-held is above --crit-held/],
    [['--check', '--warn-percent', '99', '--crit-percent', '90'], /--warn-percent is above --crit-percent/],
    [['serve', '--interval', '0'], /--interval takes a positive number, not '0'/],
    [['deleted', '--mount-timeout', '0'], /--mount-timeout takes a number from 0\.1 to 600, not '0'/],
    [['df', '--mount-timeout', '601'], /--mount-timeout takes a number from 0\.1 to 600, not '601'/],
    [['serve', '--mount-timeout', '-1'], /--mount-timeout takes a number from 0\.1 to 600, not '-1'/],
    [['serve', '--listen', '70000'], /--listen takes HOST:PORT/],
    [['watch', '--from', 'snapshot.json'], /unknown option '--from'/],
    [['watch', '--json'], /unknown option '--json'/],
    [['serve', '--from', 'snapshot.json'], /unknown option '--from'/],
  ];
  for (const [args, message] of usageErrors) {
    it(`exits 2 with a clear message for: limbo ${args.join(' ')}`, () => {
      const run = runLimbo(args);
      assert.equal(run.code, 2);
      assert.match(run.stderr, message);
      assert.equal(run.stdout, '');
      assert.ok(!run.stderr.includes('\x1b'), 'no raw escape reaches the terminal');
    });
  }

  const missing: [string[], RegExp][] = [
    [['deleted', '--pid', '99999999'], /^limbo deleted: no process 99999999\n/],
    [['deleted', '--user', 'no-such-user-limbo'], /^limbo deleted: no user 'no-such-user-limbo'\n/],
    [['deleted', '--mount', '/no/such/dir'], /--mount: cannot stat '\/no\/such\/dir': ENOENT/],
    [['reclaim', '--pid', '99999999', '--yes'], /^limbo reclaim: no process 99999999\n/],
    [['df', '/no/such/path'], /cannot stat '\/no\/such\/path': ENOENT/],
    [['links', '/no/such/path'], /cannot stat '\/no\/such\/path': ENOENT/],
    [
      ['snapshot', '--output', '/no/such/\x1b[2Jdir/x.json'],
      /^limbo snapshot: cannot write '\/no\/such\/\\e\[2Jdir\/x\.json': ENOENT/,
    ],
  ];
  for (const [args, message] of missing) {
    it(`exits 1 for what does not exist: limbo ${args.join(' ')}`, () => {
      const run = runLimbo(args);
      assert.equal(run.code, 1, run.stderr);
      assert.match(run.stderr, message);
      assert.ok(!run.stderr.includes('\x1b'), 'no raw escape reaches the terminal');
    });
  }

  it('exits 1 when the descriptor to act on does not exist, and says no dry run took place', () => {
    const reclaim = runLimbo(['reclaim', '99999999:3', '--yes', '--json']);
    assert.equal(reclaim.code, 1, reclaim.stderr);
    const report = JSON.parse(reclaim.stdout) as { dryRun: boolean; results: { status: string }[] };
    assert.equal(report.dryRun, false);
    assert.deepEqual(
      report.results.map((r) => r.status),
      ['skipped'],
    );
    assert.equal(runLimbo(['reclaim', '99999999:3', '--dry-run', '--json']).code, 1);
    assert.equal(runLimbo(['close', '99999999:3', '--force', '--yes']).code, 1);
  });

  it('exits 1 when a snapshot file cannot be read', () => {
    const run = runLimbo(['deleted', '--from', '/no/such/snapshot.json']);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /cannot read snapshot \/no\/such\/snapshot.json/);
  });

  it('refuses a snapshot taken without its deleted files where they are needed, and not for handles', () => {
    // What limbo handles scans (the library's files: false): fds, mappings and files were not read.
    const taken = runLimbo(['snapshot', '--handles']);
    assert.equal(taken.code, 0, taken.stderr);
    const snapshot = JSON.parse(taken.stdout) as Record<string, unknown> & { processes: object[] };
    const withoutFiles = {
      ...snapshot,
      filesCollected: false,
      files: [],
      processes: snapshot.processes.map((p) => ({ ...p, fds: [], mappings: [], deletedExe: null })),
    };
    const path = join(mkdtempSync(join(tmpdir(), 'limbo-nofiles-')), 'snapshot.json');
    writeFileSync(path, JSON.stringify(withoutFiles));
    try {
      for (const command of ['deleted', 'restart', 'shm', 'report']) {
        const run = runLimbo([command, '--from', path]);
        assert.equal(run.code, 1, `${command}: ${run.stderr}`);
        assert.match(run.stderr, /taken without its deleted files \(filesCollected: false/);
        assert.equal(run.stdout, '', `${command} printed no answer`);
      }
      assert.equal(runLimbo(['handles', '--from', path]).code, 0);
    } finally {
      rmSync(dirname(path), { recursive: true, force: true });
    }
  });

  it('exits 1 with a clear message when --proc is not a proc filesystem', () => {
    const run = runLimbo(['deleted', '--proc', '/no/such/proc']);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /cannot scan \/no\/such\/proc/);
  });

  it('exits 2 when --scanner bpf cannot run (as nobody: not root), naming the reason', (t) => {
    if (process.geteuid?.() !== 0) return t.skip('needs root to run as nobody');
    // CI's later Node versions live under a private temporary directory nobody cannot enter.
    if (!othersCanRun(process.execPath)) return t.skip(`nobody cannot run ${process.execPath}`);
    for (const command of ['deleted', 'handles']) {
      const run = runLimbo([command, '--scanner', 'bpf'], { uid: 65534 });
      assert.equal(run.code, 2, run.stderr);
      assert.match(run.stderr, /--scanner bpf/);
      assert.doesNotMatch(run.stderr, /cannot scan/);
    }
  });

  it('writes no colour codes to a pipe', () => {
    const run = runLimbo(['deleted']);
    assert.equal(run.code, 0);
    assert.ok(!run.stdout.includes('\x1b'));
  });
});

/** Whether a user with no rights but "others" can execute `file`: x for others on it and every directory above. */
function othersCanRun(file: string): boolean {
  for (let path = file; ; path = dirname(path)) {
    if ((statSync(path).mode & 0o001) === 0) return false;
    if (path === dirname(path)) return true;
  }
}
