// A real LXC container (Debian's lxc with its busybox template, no network): a process in it
// holds a deleted file, and the restart limbo advises for it is pasted as printed. It must
// restart the container, and free the file, as it says. The LXD and Incus commands need their
// daemons, which Debian does not ship: containers-lxc.test.ts checks those against a stand-in monitor.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ReclaimJson } from '../../src/actions/reclaim-json.js';
import { limboDeleted, runLimbo } from '../helpers/limbo.js';

const name = 'limbo-lxc';
const skip =
  process.geteuid?.() !== 0
    ? 'needs root (lxc-start)'
    : !existsSync('/usr/bin/lxc-create') || !existsSync('/usr/share/lxc/templates/lxc-busybox')
      ? 'lxc is not installed'
      : !existsSync('/bin/busybox')
        ? 'busybox is not installed (the template copies it)'
        : false;

let lxcPath = '';

function lxc(command: string, ...args: string[]): string {
  return execFileSync(command, ['-P', lxcPath, '-n', name, ...args], { encoding: 'utf8', timeout: 60_000 });
}

/** The pid of the container's init, as the host sees it; null when it is not running. */
function initPid(): number | null {
  const info = spawnSync('lxc-info', ['-P', lxcPath, '-n', name, '-p', '-s'], { encoding: 'utf8' });
  if (!/State:\s+RUNNING/.test(info.stdout)) return null;
  const pid = /PID:\s+(\d+)/.exec(info.stdout)?.[1];
  return pid ? Number(pid) : null;
}

/** Waits for `probe` to give a value, for at most `seconds`. */
async function until<T>(what: string, probe: () => T | null, seconds = 30): Promise<T> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const value = probe();
    if (value !== null) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

before(() => {
  if (skip) return;
  lxcPath = mkdtempSync(join(tmpdir(), 'limbo-lxcpath-'));
  lxc('lxc-create', '-t', 'busybox');
  // No bridge on a test machine, and no AppArmor profile to generate: a container of its own, unconfined.
  const config = join(lxcPath, name, 'config');
  const lines = readFileSync(config, 'utf8')
    .split('\n')
    .filter((line) => !/^lxc\.(net\.0\.|apparmor\.)/.test(line));
  writeFileSync(
    config,
    [...lines, 'lxc.net.0.type = empty', 'lxc.apparmor.profile = unconfined', ''].join('\n'),
  );
  lxc('lxc-start');
});

after(() => {
  if (!lxcPath) return;
  spawnSync('lxc-stop', ['-P', lxcPath, '-n', name, '-k'], { timeout: 60_000 });
  spawnSync('lxc-destroy', ['-P', lxcPath, '-n', name], { timeout: 60_000 });
  rmSync(lxcPath, { recursive: true, force: true });
});

describe('a real LXC container', { skip }, () => {
  it('restarts with the command limbo gives for its holder, and the file is freed', async () => {
    const firstInit = await until('the container to run', initPid);
    // A holder inside it: writes 4 MiB to its /tmp, keeps fd 3 on the file, unlinks it and sleeps.
    lxc(
      'lxc-attach',
      '--',
      'sh',
      '-c',
      'dd if=/dev/zero of=/tmp/held.bin bs=1M count=4 2>/dev/null; (exec 3</tmp/held.bin; rm /tmp/held.bin; exec sleep 100000) >/dev/null 2>&1 &',
    );
    const file = await until(
      'limbo to see the held file',
      () => limboDeleted(['--container', name]).files.find((f) => f.path === '/tmp/held.bin') ?? null,
    );
    const holder = file.holders[0];
    assert.equal(holder?.container, name);
    assert.equal(holder?.containerRuntime, 'lxc');

    // Refused without --force (exit 1): the holder opened it for reading. Its release steps stand.
    const run = runLimbo(['reclaim', `${file.dev}:${file.inode}`, '--dry-run', '--json']);
    assert.equal(run.code, 1, run.stderr);
    const report = JSON.parse(run.stdout) as ReclaimJson;
    assert.equal(report.results[0]?.status, 'refused');
    const release = report.results[0]?.release?.find((step) => step.kind === 'restart');
    assert.equal(release?.command, `lxc-stop -P ${lxcPath} -n ${name} -r`);

    // Pasted as printed.
    const pasted = spawnSync('sh', ['-c', release.command as string], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(pasted.status, 0, pasted.stderr);
    const secondInit = await until('the container to run again', () => {
      const pid = initPid();
      return pid !== null && pid !== firstInit ? pid : null;
    });
    assert.notEqual(secondInit, firstInit, 'a new init: the container restarted');
    assert.equal(existsSync(`/proc/${holder?.pid}`), false, 'the holder is gone');
    await until('the file to be freed', () =>
      limboDeleted().files.some((f) => f.dev === file.dev && f.inode === file.inode) ? null : true,
    );
  });
});
