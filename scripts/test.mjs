// The whole test suite, as CI and the README run it: build (the native addon too, so its tests
// never run a stale one), type-check, lint, compile the C fixtures, then every *.test.js under
// .test-build/test with node's own test runner.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const only = process.argv.slice(2);

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit', ...options });
  if (result.status !== 0) {
    console.error(`test: '${command} ${args.join(' ')}' failed`);
    process.exit(result.status ?? 1);
  }
}

const bin = join(root, 'node_modules/.bin');
// A failed addon build is only a warning (limbo falls back to JavaScript): show just limbo's own words.
const native = spawnSync(process.execPath, ['scripts/build-native.mjs'], { cwd: root, encoding: 'utf8' });
for (const line of `${native.stdout}${native.stderr}`.split('\n')) {
  if (line.startsWith('limbo:')) console.warn(line);
}
run(join(bin, 'tsc'), ['-p', 'tsconfig.build.json']);
run(process.execPath, ['scripts/copy-assets.mjs']);
rmSync(join(root, '.test-build'), { recursive: true, force: true });
run(join(bin, 'tsc'), ['-p', 'tsconfig.json']);
run(join(bin, 'eslint'), ['.']);
run(join(bin, 'prettier'), ['--check', '.', '--log-level', 'warn']);

mkdirSync(join(root, 'test/fixtures/bin'), { recursive: true });
for (const source of readdirSync(join(root, 'test/fixtures')).filter((f) => f.endsWith('.c'))) {
  const name = source.slice(0, -2);
  run('cc', [
    '-O2',
    '-Wall',
    '-Wextra',
    '-pthread',
    '-o',
    `test/fixtures/bin/${name}`,
    `test/fixtures/${source}`,
    '-ldl',
    '-lrt',
  ]);
}

function findTests(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return findTests(path);
    return entry.name.endsWith('.test.js') ? [path] : [];
  });
}
const tests = findTests(join(root, '.test-build/test'))
  .filter((path) => only.length === 0 || only.some((word) => path.includes(word)))
  .sort();
run(process.execPath, ['--test', '--test-reporter=spec', ...tests]);
