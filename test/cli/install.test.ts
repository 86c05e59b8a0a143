// Installed by name, as a user does: pack the tarball npm would publish, install it globally into
// an empty prefix without the registry, and run the `limbo` that install puts on the PATH.
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startHolder, type Holder } from '../helpers/holder.js';
import { repoRoot } from '../helpers/paths.js';

const pkg = JSON.parse(readFileSync(`${repoRoot}package.json`, 'utf8')) as { name: string; version: string };

/** What the tarball may hold: what runs, the addon's sources, the docs and the man page. */
const ALLOWED =
  /^(package\.json|README\.md|LICENSE|binding\.gyp|scripts\/build-native\.mjs|bin\/limbo\.js|man\/limbo\.1|native\/[^/]+\.[ch]|dist\/.+\.(js|d\.ts)|dist\/serve\/assets\/[^/]+|docs\/.+\.(md|json))$/;

function npm(args: readonly string[], cwd: string): SpawnSyncReturns<string> {
  const run = spawnSync('npm', ['--no-fund', '--no-audit', '--no-update-notifier', ...args], {
    cwd,
    encoding: 'utf8',
  });
  assert.equal(run.status, 0, `npm ${args.join(' ')}: ${run.stderr}`);
  return run;
}

describe('npm pack, then npm install -g of the tarball', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'limbo-install-'));
  const prefix = join(scratch, 'prefix');
  let files: string[] = [];

  before(() => {
    // The suite has just built dist/ (scripts/test.mjs): pack it as it is, without running
    // `prepare` (the build) a second time.
    const packed = npm(['pack', '--ignore-scripts', '--json', '--pack-destination', scratch], repoRoot);
    const [entry] = JSON.parse(packed.stdout) as { filename: string; files: { path: string }[] }[];
    assert.ok(entry);
    files = entry.files.map((file) => file.path);
    // --offline: limbo has no runtime dependencies, so the install needs nothing from the
    // registry. npm 11 skips a package's install script unless allowed by name; older npm
    // warns about the unknown flag and runs it.
    npm(
      [
        'install',
        '-g',
        '--offline',
        `--prefix=${prefix}`,
        `--allow-scripts=${pkg.name}`,
        join(scratch, entry.filename),
      ],
      scratch,
    );
  });
  after(() => rmSync(scratch, { recursive: true, force: true }));

  it('packs what runs and its docs, nothing else', () => {
    const stray = files.filter((path) => !ALLOWED.test(path));
    assert.deepEqual(stray, []);
    for (const needed of ['bin/limbo.js', 'dist/cli.js', 'dist/index.d.ts', 'man/limbo.1', 'README.md']) {
      assert.ok(files.includes(needed), `${needed} is in the tarball`);
    }
    assert.ok(!files.some((path) => path.startsWith('test/') || path.startsWith('src/')));
  });

  it('puts `limbo` on the prefix PATH and reports its version', () => {
    const run = limbo(prefix, ['--version']);
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stdout, `limbo ${pkg.version}\n`);
  });

  it('installs the man page where man looks under the prefix', () => {
    assert.ok(existsSync(join(prefix, 'share/man/man1/limbo.1')));
  });

  it('builds the native addon at install wherever the checkout built it', (t) => {
    if (!existsSync(`${repoRoot}build/Release/limbo_native.node`)) {
      t.skip('the checkout has no native addon either (no compiler or node-gyp): both use JavaScript');
      return;
    }
    assert.ok(existsSync(join(prefix, `lib/node_modules/${pkg.name}/build/Release/limbo_native.node`)));
  });

  it('is importable as a library by its package name', () => {
    // ES modules resolve through node_modules of the importing file's directories.
    const script = join(prefix, 'lib', 'imports.mjs');
    writeFileSync(script, `const m = await import('${pkg.name}'); console.log(typeof m.takeSnapshot);\n`);
    const run = spawnSync(process.execPath, [script], { encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stdout, 'function\n');
  });

  describe('limbo deleted', () => {
    let holder: Holder;
    const held = join(scratch, 'held.log');
    before(async () => {
      holder = await startHolder(['create', held, '65536', 'unlink', held]);
    });
    after(() => holder.stop());

    it('finds a deleted file a real process holds', () => {
      const run = limbo(prefix, ['deleted', '--pid', String(holder.pid)]);
      assert.equal(run.status, 0, run.stderr);
      assert.match(run.stdout, /^1 deleted file still held/m);
      assert.ok(run.stdout.includes(held), run.stdout);
    });
  });
});

describe('npx limbo in the clone', () => {
  it("runs this checkout's limbo, not the npm package named limbo", () => {
    // --offline: were npx to look for a package named limbo, it would fail here, not fetch it.
    const run = spawnSync('npx', ['--offline', 'limbo', '--version'], { cwd: repoRoot, encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stdout, `limbo ${pkg.version}\n`);
  });
});

/** Runs the installed `limbo` through its bin link, as a shell would find it on PATH. */
function limbo(prefix: string, args: readonly string[]): SpawnSyncReturns<string> {
  return spawnSync(join(prefix, 'bin/limbo'), args, {
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '' },
  });
}
