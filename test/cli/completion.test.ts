// `limbo completion SHELL`, loaded into the real shell: bash through its completion function with
// COMP_WORDS, fish through `complete -C`, zsh checked for syntax and for what it hands _arguments.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { runLimbo } from '../helpers/limbo.js';

const scratch = mkdtempSync(join(tmpdir(), 'limbo-completion-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

function script(shell: string): string {
  const run = runLimbo(['completion', shell]);
  assert.equal(run.code, 0, run.stderr);
  const file = join(scratch, `limbo.${shell}`);
  writeFileSync(file, run.stdout);
  return file;
}

function has(shell: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${shell}`]).status === 0;
}

describe('limbo completion bash', () => {
  const file = script('bash');
  /** COMPREPLY for the words typed so far; the last one is the word being completed. */
  function complete(...words: string[]): string[] {
    const quoted = words.map((w) => `'${w}'`).join(' ');
    const program = `source '${file}'; COMP_WORDS=(${quoted}); COMP_CWORD=${words.length - 1}; _limbo; printf '%s\\n' "\${COMPREPLY[@]}"`;
    const run = spawnSync('bash', ['-c', program], { encoding: 'utf8', cwd: scratch });
    assert.equal(run.status, 0, run.stderr);
    return run.stdout.split('\n').filter((line) => line !== '');
  }

  const cases: [string[], string[]][] = [
    [['limbo', 'de'], ['deleted']],
    [['limbo', 'co'], ['completion']],
    [['limbo', 'deleted', '--ki'], ['--kind']],
    [
      ['limbo', 'deleted', '--kind', ''],
      ['file', 'tmpfile', 'memfd', 'silly-renamed', 'mqueue'],
    ],
    [
      ['limbo', 'deleted', '--color', '=', 'a'],
      ['auto', 'always'],
    ],
    [['limbo', 'shm', '--status', 'o'], ['orphaned']],
    [['limbo', '--warn-h'], ['--warn-held']],
    [['limbo', '--vers'], ['--version']],
    [
      ['limbo', 'help', 're'],
      ['report', 'restart', 'reclaim', 'recover'],
    ],
    [
      ['limbo', 'completion', ''],
      ['bash', 'zsh', 'fish'],
    ],
    [['limbo', 'deleted', '--pid', ''], []],
    [['limbo', 'snapshot', '--output', 'limbo.b'], ['limbo.bash']],
    [['limbo', 'df', 'limbo.b'], ['limbo.bash']],
    [['limbo', 'df', '--wa'], ['--walk']],
  ];
  for (const [words, expected] of cases) {
    it(`${words.join(' ')}<TAB> offers ${expected.join(' ') || 'nothing'}`, () => {
      assert.deepEqual(complete(...words), expected);
    });
  }
});

describe('limbo completion fish', () => {
  it('completes commands, flags and choices in fish itself', (t) => {
    if (!has('fish')) return t.skip('fish is not installed (.ci/run installs it)');
    const file = script('fish');
    const lines = (line: string) => {
      const run = spawnSync('fish', ['-c', `source '${file}'; complete -C '${line}'`], { encoding: 'utf8' });
      assert.equal(run.status, 0, run.stderr);
      return run.stdout
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => l.split('\t')[0]);
    };
    assert.deepEqual(lines('limbo del'), ['deleted']);
    assert.deepEqual(lines('limbo deleted --kind ').sort(), [
      'file',
      'memfd',
      'mqueue',
      'silly-renamed',
      'tmpfile',
    ]);
    assert.deepEqual(lines('limbo deleted --color=n'), ['--color=never']);
    assert.deepEqual(lines('limbo --crit-h'), ['--crit-held']);
  });
});

describe('limbo completion zsh', () => {
  it('is valid zsh and hands each command its declared flags', (t) => {
    if (!has('zsh')) return t.skip('zsh is not installed (.ci/run installs it)');
    const file = script('zsh');
    const syntax = spawnSync('zsh', ['-n', file], { encoding: 'utf8' });
    assert.equal(syntax.status, 0, syntax.stderr);
    // zsh's completion system needs a terminal; stand-ins for its functions show what reaches them.
    const program = [
      'compdef() { :; }',
      `_arguments() { print -rl -- "$@"; }`,
      `_describe() { print -r -- describe "$@"; }`,
      `compadd() { print -r -- compadd "$@"; }`,
      `source '${file}'`,
      'words=(limbo deleted --ki); CURRENT=3; PREFIX=--ki; _limbo',
      'words=(limbo completion ""); CURRENT=3; PREFIX=; _limbo',
    ].join('\n');
    const run = spawnSync('zsh', ['-f', '-c', program], { encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    const out = run.stdout.split('\n');
    assert.ok(
      out.includes('--kind=[only this kind]:KIND:(file tmpfile memfd silly-renamed mqueue)'),
      run.stdout,
    );
    assert.ok(
      out.includes(
        '--from=[analyse a snapshot saved by `limbo snapshot` instead of this machine]:FROM:_files',
      ),
    );
    assert.ok(out.includes('compadd bash zsh fish'), run.stdout);
  });
});

describe('limbo completion, misused', () => {
  it('exits 2 and names the shells it knows', () => {
    const run = runLimbo(['completion', 'tcsh']);
    assert.equal(run.code, 2);
    assert.equal(run.stderr, 'limbo completion: takes one of bash, zsh, fish\n');
    assert.equal(run.stdout, '');
  });
});
