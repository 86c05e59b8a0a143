// Help and usage errors come from the declarations alone: they load no command, and they show
// each flag's choices and default as the declaration states them.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runLimbo } from '../helpers/limbo.js';
import { repoRoot } from '../helpers/paths.js';

/** Modules reachable from `entry` through static imports (and, if asked, dynamic ones too). */
function reachable(entry: URL, dynamic: boolean): Set<string> {
  const seen = new Set<string>();
  const pending = [entry];
  for (let url = pending.pop(); url; url = pending.pop()) {
    const path = fileURLToPath(url);
    if (seen.has(path)) continue;
    seen.add(path);
    const code = readFileSync(path, 'utf8');
    const statics = [...code.matchAll(/^(?:import|export)\b[^;]*?\bfrom\s*'(\.[^']+)'/gms)];
    const dynamics = dynamic ? [...code.matchAll(/\bimport\('(\.[^']+)'\)/g)] : [];
    for (const match of [...statics, ...dynamics]) pending.push(new URL(match[1] as string, url));
  }
  return seen;
}

/** What `limbo --help` must not pay for: the commands and the layers under them. */
const HEAVY = /\/(analyses|actions|serve|walk|snapshot)\/|-command\.js$/;

describe('limbo --help', () => {
  const main = new URL('../../src/cli/main.js', import.meta.url);

  it('loads no command module, analysis, action, server or walker', () => {
    const loaded = [...reachable(main, false)].filter((path) => HEAVY.test(path));
    // Two exceptions: analyses/choices.js, the filter words, with no imports of its own; and
    // snapshot/bpf-start.js, the start of a kernel walk (node:fs and the addon's loader only).
    assert.deepEqual(
      loaded.filter((path) => !/\/(analyses\/choices|snapshot\/bpf-start)\.js$/.test(path)),
      [],
    );
  });

  it('still reaches every command when one runs (the check above sees imports at all)', () => {
    const all = [...reachable(main, true)];
    for (const name of ['deleted', 'serve', 'reclaim', 'df']) {
      assert.ok(
        all.some((path) => path.endsWith(`/cli/${name}-command.js`)),
        `${name}-command.js is loaded to run it`,
      );
    }
    assert.ok(all.some((path) => path.endsWith('/analyses/deleted.js')));
  });
});

describe('limbo COMMAND --help', () => {
  const cases: [string, RegExp][] = [
    ['deleted', /^ {2}--kind K +only this kind \(one of file, tmpfile, memfd, silly-renamed, mqueue\)$/m],
    [
      'deleted',
      /^ {2}--sort KEY +order by KEY \(one of allocated, size, holders, path; default allocated\)$/m,
    ],
    [
      'deleted',
      /^ {2}--limit N +show at most N files; totals count all \(default 20 in the table, all in --json\)$/m,
    ],
    [
      'shm',
      /^ {2}--status STATUS +only segments in this state \(one of orphaned, removed-attached, attached\)$/m,
    ],
    ['report', /^ {2}--warn-held SIZE +warn when deleted files hold SIZE on a filesystem \(default 1G\)$/m],
    ['report', /^ {2}--crit-percent P +critical from P% of a limit \(default 95\)$/m],
    [
      'serve',
      /^ {2}--listen HOST:PORT +where to listen; \[::1\]:9469 for IPv6 \(default 127\.0\.0\.1:9469\)$/m,
    ],
    ['watch', /^ {2}--interval SECONDS +time between scans \(default 2\)$/m],
    ['reclaim', /^ {2}--pid N +every deleted file process N holds$/m],
    ['reclaim', /^ {2}--dry-run +show what would be truncated and freed; change nothing$/m],
    ['close', /^ {2}--dry-run +show what would be closed and freed; change nothing$/m],
    [
      'snapshot',
      /^ {2}--proc DIR +the \/proc to read: a proc filesystem, or a tree with PID\/status and sys\/fs\/file-nr \(default \/proc\)$/m,
    ],
  ];
  for (const [command, line] of cases) {
    it(`${command}: ${line.source}`, () => {
      const run = runLimbo([command, '--help']);
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, line);
    });
  }

  it('shows the help even beside a bad value', () => {
    const run = runLimbo(['deleted', '--pid', 'abc', '--help']);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^Usage: limbo deleted/m);
  });
});

describe('bad values of each kind, through the binary', () => {
  const cases: [string[], RegExp][] = [
    [['handles', '--top', '0'], /^limbo handles: --top takes a positive number, not '0'$/m],
    [['handles', '--warn-percent', 'x'], /^limbo handles: --warn-percent takes a positive number, not 'x'$/m],
    [['report', '--warn-held', 'lots'], /^limbo report: --warn-held takes a size such as 1G, not 'lots'$/m],
    [['report', '--crit-percent', '101'], /^limbo report: --crit-percent takes a percentage from 0 to 100/m],
    [
      ['serve', '--listen', 'nowhere'],
      /^limbo serve: --listen takes HOST:PORT \(e\.g\. 127\.0\.0\.1:9469\)/m,
    ],
    [['serve', '--interval', '0'], /^limbo serve: --interval takes a positive number, not '0'$/m],
    [['watch', '--interval', '0'], /^limbo watch: --interval takes a positive number of seconds/m],
    [['reclaim', '--min-size', 'lots'], /^limbo reclaim: --min-size takes a size such as 10M or 1G/m],
    [['close', '1:3', '--yes', '--dry-run=1'], /^limbo close: .*--dry-run/m],
  ];
  for (const [args, message] of cases) {
    it(`exits 2 for: limbo ${args.join(' ')}`, () => {
      const run = runLimbo(args);
      assert.equal(run.code, 2, run.stderr);
      assert.match(run.stderr, message);
      assert.equal(run.stdout, '');
    });
  }
});

describe('limbo --version and limbo help COMMAND', () => {
  it('prints the version of package.json', () => {
    const { version } = JSON.parse(readFileSync(`${repoRoot}package.json`, 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) {
      const run = runLimbo([flag]);
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.stdout, `limbo ${version}\n`);
    }
  });

  it('shows the same help as limbo COMMAND --help', () => {
    for (const command of ['deleted', 'serve', 'snapshot']) {
      const run = runLimbo(['help', command]);
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.stdout, runLimbo([command, '--help']).stdout);
    }
  });

  it('exits 2 for a command that does not exist, and lists those that do', () => {
    const run = runLimbo(['help', 'nope']);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /^limbo help: no command 'nope'$/m);
    assert.match(run.stderr, /^ {2}deleted {2,}List deleted files/m);
    assert.equal(run.stdout, '');
  });
});
