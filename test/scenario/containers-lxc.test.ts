// LXC, LXD and Incus put a container in the same cgroups (lxc.payload.NAME, its monitor in
// lxc.monitor.NAME beside it) but restart it with different commands. Here the cgroups are made
// for real, a holder in the payload one holds a deleted file, and a stand-in monitor sits in the
// monitor one: a copy of cat named as the program that would have started the container (its comm),
// its argv set to liblxc's title "[lxc monitor] LXCPATH NAME". limbo must give that program's
// restart, and none (saying why) when no monitor is there to tell.
import assert from 'node:assert/strict';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseMountinfo } from '../../src/proc/mountinfo.js';
import { startHolder, type Holder } from '../helpers/holder.js';
import { runLimbo } from '../helpers/limbo.js';

const isRoot = process.geteuid?.() === 0;
let skip: string | false = isRoot ? false : 'needs root (cgroups)';
const name = 'limbo-web';

let scratch: string;
let slice: string | null = null;
let holder: Holder | null = null;
let monitor: ChildProcess | null = null;

function cgroup2Root(): string | null {
  const mounts = parseMountinfo(readFileSync('/proc/self/mountinfo', 'latin1'));
  return mounts.find((mount) => mount.fstype === 'cgroup2')?.mountPoint ?? null;
}

/** Starts a stand-in monitor: `program` (a copy of cat, for its comm) titled like liblxc's monitor. */
async function startMonitor(program: string, lxcPath: string): Promise<ChildProcess> {
  const binary = join(scratch, program);
  copyFileSync('/bin/cat', binary);
  const child = spawn(binary, [], {
    argv0: `[lxc monitor] ${lxcPath} ${name}`,
    stdio: ['pipe', 'ignore', 'ignore'],
  });
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  writeFileSync(join(slice as string, `lxc.monitor.${name}`, 'cgroup.procs'), String(child.pid));
  // What the kernel now shows of it: the comm of its file, liblxc's title, the monitor cgroup.
  assert.equal(readFileSync(`/proc/${child.pid}/comm`, 'utf8'), `${program}\n`);
  assert.equal(readFileSync(`/proc/${child.pid}/cmdline`, 'utf8'), `[lxc monitor] ${lxcPath} ${name}\0`);
  return child;
}

async function stopMonitor(): Promise<void> {
  const child = monitor;
  monitor = null;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

/** The next steps `limbo deleted --container NAME` prints for the holder. */
function nextSteps(): string {
  const run = runLimbo(['deleted', '--container', name]);
  assert.equal(run.code, 0, run.stderr);
  const steps = run.stdout.slice(run.stdout.indexOf('Next:'));
  assert.ok(steps.length > 0, run.stdout);
  return steps;
}

before(async () => {
  if (skip) return;
  const cgroups = cgroup2Root();
  if (cgroups === null) {
    skip = 'no cgroup v2 hierarchy mounted';
    return;
  }
  scratch = mkdtempSync(join(tmpdir(), 'limbo-lxc-'));
  slice = join(cgroups, 'limbo-test-lxc.slice');
  mkdirSync(join(slice, `lxc.payload.${name}`), { recursive: true });
  mkdirSync(join(slice, `lxc.monitor.${name}`), { recursive: true });
  const file = join(scratch, 'cache.bin');
  holder = await startHolder(['create', file, '1048576', 'unlink', file], {
    wrapper: ['sh', '-c', `echo $$ > ${slice}/lxc.payload.${name}/cgroup.procs && exec "$0" "$@"`],
  });
});

after(async () => {
  await stopMonitor();
  await holder?.stop();
  if (slice !== null) {
    for (const dir of [`lxc.payload.${name}`, `lxc.monitor.${name}`, '']) {
      const path = join(slice, dir);
      // A cgroup can be removed once its last process has left.
      for (let i = 0; i < 100 && existsSync(path); i++) {
        try {
          rmdirSync(path);
        } catch {
          execFileSync('sleep', ['0.05']);
        }
      }
    }
  }
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

describe('an LXC container restarted by the program its monitor runs', () => {
  it('LXD (monitor comm lxd): lxc restart local:NAME', { skip }, async () => {
    monitor = await startMonitor('lxd', '/var/snap/lxd/common/lxd/containers');
    assert.match(nextSteps(), new RegExp(`restart holder ${holder?.pid}: lxc restart local:${name}\\n`));
    await stopMonitor();
  });

  it('Incus (monitor comm incusd): incus restart local:NAME', { skip }, async () => {
    monitor = await startMonitor('incusd', '/var/lib/incus/containers');
    assert.match(nextSteps(), new RegExp(`restart holder ${holder?.pid}: incus restart local:${name}\\n`));
    await stopMonitor();
  });

  it('LXC (monitor comm lxc-start): lxc-stop -P LXCPATH -n NAME -r', { skip }, async () => {
    monitor = await startMonitor('lxc-start', '/var/lib/lxc');
    assert.match(
      nextSteps(),
      new RegExp(`restart holder ${holder?.pid}: lxc-stop -P /var/lib/lxc -n ${name} -r\\n`),
    );
    await stopMonitor();
  });

  it('no monitor: no command, and why', { skip }, () => {
    assert.match(
      nextSteps(),
      new RegExp(
        `restart holder ${holder?.pid}; limbo saw no monitor of LXC container ${name} \\(lxc\\.monitor\\.${name}\\), ` +
          'so it cannot tell LXC from LXD or Incus, whose restart commands differ\\n',
      ),
    );
  });
});
