// deploy/systemd/limbo.service: systemd accepts it, and the capabilities it grants are the ones
// limbo needs. The second part runs limbo as an unprivileged user holding exactly the unit's
// AmbientCapabilities (setpriv, as systemd would start it) against a root process's deleted file.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { DeletedJson } from '../../src/analyses/deleted-json.js';
import { startHolder, type Holder } from '../helpers/holder.js';
import { publicCopy, repoRoot } from '../helpers/paths.js';
import { isRoot } from '../helpers/scratch.js';

const unitPath = `${repoRoot}deploy/systemd/limbo.service`;
const unit = readFileSync(unitPath, 'utf8');
const has = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;

/** A setting of the unit's [Service] section. */
function setting(name: string): string {
  const match = new RegExp(`^${name}=(.*)$`, 'm').exec(unit);
  assert.ok(match, `the unit sets ${name}=`);
  return match[1] as string;
}

describe('deploy/systemd/limbo.service', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'limbo-unit-'));
  after(() => rmSync(scratch, { recursive: true, force: true }));

  it('passes systemd-analyze verify', (t) => {
    if (!has('systemd-analyze')) return t.skip('systemd-analyze is not installed (.ci/run installs systemd)');
    // verify checks that ExecStart's binary exists: point it at this checkout's instead of the
    // /usr/local/bin/limbo a global install makes. --man=no: the man page is not installed here.
    const copy = join(scratch, 'limbo.service');
    writeFileSync(copy, unit.replace('/usr/local/bin/limbo ', `${repoRoot}bin/limbo.js `));
    const run = spawnSync('systemd-analyze', ['verify', '--man=no', copy], { encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    // Warnings about this unit (an unknown setting, a bad system call name) do not fail verify.
    const ours = run.stderr.split('\n').filter((line) => line.includes('limbo.service'));
    assert.deepEqual(ours, []);
  });

  it('writes only its state directory, with no privilege beyond two capabilities', () => {
    assert.equal(setting('ProtectSystem'), 'strict');
    assert.equal(setting('ProtectHome'), 'read-only');
    assert.equal(setting('NoNewPrivileges'), 'yes');
    assert.equal(setting('DynamicUser'), 'yes');
    assert.equal(setting('StateDirectory'), 'limbo');
    assert.doesNotMatch(unit, /^ReadWritePaths=/m);
    assert.equal(setting('CapabilityBoundingSet'), setting('AmbientCapabilities'));
    assert.match(setting('ExecStart'), / serve .*--state-dir %S\/limbo\b/);
  });

  describe("limbo as the unit's user with the unit's capabilities", { skip: !isRoot && 'needs root' }, () => {
    let holder: Holder;
    const held = join(scratch, 'held-by-root');
    before(async () => {
      holder = await startHolder(['create', held, '8192', 'unlink', held]);
    });
    after(() => holder.stop());

    /** `limbo deleted --json --pid HOLDER` as nobody with these capabilities (cap_x names). */
    function asNobody(caps: readonly string[]): DeletedJson {
      const set = ['-all', ...caps.map((cap) => `+${cap}`)].join(',');
      const run = spawnSync(
        'setpriv',
        [
          '--reuid=65534',
          '--regid=65534',
          '--clear-groups',
          '--no-new-privs',
          `--inh-caps=${set}`,
          `--ambient-caps=${set}`,
          `--bounding-set=${set}`,
          '--',
          process.execPath,
          `${publicCopy()}bin/limbo.js`,
          'deleted',
          '--json',
          '--pid',
          String(holder.pid),
        ],
        { encoding: 'utf8' },
      );
      assert.equal(run.status, 0, run.stderr);
      return JSON.parse(run.stdout) as DeletedJson;
    }
    const unitCaps = () =>
      setting('AmbientCapabilities')
        .split(/\s+/)
        .map((cap) => cap.replace(/^CAP_/, '').toLowerCase());

    it('sees a root process hold a deleted file', (t) => {
      if (!has('setpriv')) return t.skip('setpriv is not installed (util-linux)');
      const report = asNobody(unitCaps());
      assert.deepEqual(
        report.files.map((file) => file.path),
        [held],
      );
    });

    it('needs each of them: without either one, the file is out of sight', (t) => {
      if (!has('setpriv')) return t.skip('setpriv is not installed (util-linux)');
      const caps = unitCaps();
      for (const dropped of caps) {
        const report = asNobody(caps.filter((cap) => cap !== dropped));
        assert.deepEqual(report.files, [], `without cap_${dropped}`);
      }
    });
  });
});
