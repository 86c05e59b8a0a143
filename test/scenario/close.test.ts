// `limbo close` against real processes: a leaked descriptor closed through gdb, checked
// through /proc afterwards, and the space it held measured with statfs.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, readlinkSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { closeDescriptor, planClose } from '../../src/actions/close.js';
import type { CloseJson } from '../../src/actions/close-json.js';
import { findGdb, runGdbCall } from '../../src/actions/gdb.js';
import { takeSnapshot } from '../../src/snapshot/take-snapshot.js';
import { runAction } from '../helpers/action-commands.js';
import { kernelStat, startHolder, type Holder } from '../helpers/holder.js';
import { availableBytes, isRoot, makeScratch, waitUntil, type Scratch } from '../helpers/scratch.js';
import { assertMatchesSchema } from '../helpers/schema.js';

let scratch: Scratch;
const holders: Holder[] = [];
let counter = 0;
const gdb = findGdb();
const needsGdb = gdb === null ? 'gdb is not installed' : false;
const needsRootAndGdb = !isRoot ? 'needs root to attach gdb to another process' : needsGdb;

async function holdDeleted(bytes: number, ops: string[] = []): Promise<Holder> {
  const path = join(scratch.dir, `leak-${++counter}.log`);
  writeFileSync(path, randomBytes(bytes));
  const holder = await startHolder(['open', path, ...ops]);
  holders.push(holder);
  unlinkSync(path);
  return holder;
}

function closeJson(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): { code: number; json: CloseJson; stderr: string } {
  const run = runAction(['close', '--json', ...args], env);
  assert.ok(run.stdout.startsWith('{'), `JSON expected, got: ${run.stdout}${run.stderr}`);
  const json = JSON.parse(run.stdout) as CloseJson;
  assertMatchesSchema('limbo.close-1', json);
  return { code: run.code, json, stderr: run.stderr };
}

function fdExists(pid: number, fd: number): boolean {
  try {
    readlinkSync(`/proc/${pid}/fd/${fd}`);
    return true;
  } catch {
    return false;
  }
}

before(() => {
  scratch = makeScratch('limbo-close-');
});

after(async () => {
  await Promise.all(holders.map((holder) => holder.stop()));
  scratch.remove();
});

describe('limbo close on real processes', () => {
  it(
    "closes a live process's leaked fd, and its deleted file's space comes back",
    { skip: needsRootAndGdb },
    async (t) => {
      const holder = await holdDeleted(2_500_000);
      const truth = kernelStat(`/proc/${holder.pid}/fd/3`);
      const before = availableBytes(scratch.dir);
      const { code, json, stderr } = closeJson([`${holder.pid}:3`, '--force', '--yes']);
      const after = availableBytes(scratch.dir);
      assert.equal(code, 0, `${json.reason} ${stderr}`);
      assert.equal(json.status, 'closed');
      assert.equal(json.verified, true);
      assert.equal(fdExists(holder.pid, 3), false, 'the descriptor is gone');
      process.kill(holder.pid, 0); // and the process lives on
      assert.equal(json.expectedBytes, truth.allocated, 'it was the last holder');
      if (!scratch.exact) return t.skip('free space is exact only on our own tmpfs');
      assert.equal(after - before, truth.allocated);
      assert.equal(json.freedBytes, truth.allocated);
      assert.equal(json.filesystem?.mount, scratch.dir);
    },
  );

  it(
    'says closing one of two fds gives nothing back, and gives nothing back',
    { skip: needsRootAndGdb },
    async (t) => {
      const holder = await holdDeleted(1_000_000, ['dup', '1']);
      const before = availableBytes(scratch.dir);
      const { code, json } = closeJson([`${holder.pid}:3`, '--force', '--yes']);
      assert.equal(code, 0, json.reason ?? '');
      assert.equal(json.expectedBytes, 0);
      assert.deepEqual(
        json.otherHolders.map((h) => [h.pid, h.fds.map((f) => f.fd)]),
        [[holder.pid, [4]]],
      );
      if (scratch.exact) assert.equal(availableBytes(scratch.dir) - before, 0);
      else t.diagnostic('not on our own tmpfs: free space not compared');
      assert.equal(kernelStat(`/proc/${holder.pid}/fd/4`).size, 1_000_000, 'the file lives on through fd 4');
    },
  );

  it('closes nothing when the fd was replaced after the plan', { skip: needsRootAndGdb }, async () => {
    const holder = await holdDeleted(100_000, ['swap-on-usr2', join(scratch.dir, 'swapped-in')]);
    const link = `/proc/${holder.pid}/fd/3`;
    const plan = planClose({ pid: holder.pid, fd: 3 }, takeSnapshot());
    assert.equal(plan.verdict, 'ready');
    const first = statSync(link, { bigint: true });
    process.kill(holder.pid, 'SIGUSR2');
    await waitUntil(() => {
      try {
        const now = statSync(link, { bigint: true });
        return now.ino !== first.ino || now.birthtimeNs !== first.birthtimeNs;
      } catch {
        return false;
      }
    }, 'the holder to replace fd 3');
    const result = closeDescriptor(plan);
    assert.equal(result.status, 'refused');
    assert.match(result.reason ?? '', /now refers to another file.*nothing was (closed|touched)/);
    assert.equal(kernelStat(link).size, 4096, 'the new fd 3 is still open');
  });

  it(
    'has gdb check the identity while the process is stopped: a mismatch closes nothing',
    { skip: needsRootAndGdb },
    async () => {
      const holder = await holdDeleted(4096);
      const st = statSync(`/proc/${holder.pid}/fd/3`, { bigint: true });
      const outcome = runGdbCall(gdb as string, {
        pid: holder.pid,
        fd: 3,
        dev: st.dev,
        ino: st.ino + 1n, // what the fd would show had its number been reused
        bornSeconds: null,
        how: 'close',
        procRoot: '/proc',
      });
      assert.equal(outcome.kind, 'changed', outcome.output);
      assert.equal(fdExists(holder.pid, 3), true);
      process.kill(holder.pid, 0);
    },
  );

  it(
    'redirects standard output to /dev/null with --devnull, and refuses to close it outright',
    { skip: needsRootAndGdb },
    async () => {
      const holder = await holdDeleted(4096);
      const refused = closeJson([`${holder.pid}:1`, '--force', '--yes']);
      assert.equal(refused.code, 1);
      assert.match(
        refused.json.reason ?? '',
        /standard output: once closed, the next file it opens gets number 1/,
      );
      const redirected = closeJson([`${holder.pid}:1`, '--force', '--yes', '--devnull']);
      assert.equal(redirected.code, 0, redirected.json.reason ?? '');
      assert.equal(redirected.json.verified, true);
      assert.equal(readlinkSync(`/proc/${holder.pid}/fd/1`), '/dev/null');
    },
  );

  it('refuses pid 1, limbo itself and kernel threads', () => {
    const snapshot = takeSnapshot();
    const cases: [number, RegExp][] = [
      [1, /pid 1 is init/],
      [process.pid, /limbo itself/],
    ];
    // kthreadd is pid 2 outside containers; inside one, pid 2 is an ordinary process.
    if (/^Name:\s+kthreadd$/m.test(readFileSync('/proc/2/status', { encoding: 'utf8', flag: 'r' }))) {
      cases.push([2, /kernel thread/]);
    }
    for (const [pid, message] of cases) {
      const plan = planClose({ pid, fd: 3 }, snapshot, { gdb: '/usr/bin/gdb' });
      assert.equal(plan.verdict, 'refused', `pid ${pid}`);
      assert.match(plan.reason ?? '', message);
    }
  });

  it('says clearly when gdb is not installed', async () => {
    const holder = await holdDeleted(4096);
    const { code, json } = closeJson([`${holder.pid}:3`, '--force', '--yes'], { PATH: '/nonexistent' });
    assert.equal(code, 1);
    assert.match(json.reason ?? '', /gdb is not installed/);
    assert.equal(fdExists(holder.pid, 3), true);
  });

  it('needs --force, and without a terminal --yes (exit 2); --dry-run touches nothing', async () => {
    const holder = await holdDeleted(4096);
    const noForce = runAction(['close', `${holder.pid}:3`]);
    assert.equal(noForce.code, 2);
    assert.match(noForce.stderr, /needs --force/);
    const noYes = runAction(['close', `${holder.pid}:3`, '--force']);
    assert.equal(noYes.code, 2);
    assert.match(noYes.stderr, /no terminal to confirm on/);
    const dry = runAction(['close', `${holder.pid}:3`, '--dry-run']);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /its last holder: closing it gives back 4\.0 KiB/);
    assert.match(dry.stdout, /The process is not told/);
    assert.equal(fdExists(holder.pid, 3), true);
    const help = runAction(['close', '--help']);
    assert.match(help.stdout, /The risk: the process is not told/);
  });
});
