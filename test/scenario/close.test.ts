// `limbo close` against real processes: a leaked descriptor closed through gdb, checked
// through /proc afterwards, and the space it held measured with statfs; and processes caught
// in a system call, spinning, or running several threads, which must carry on correctly.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  statSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { closeDescriptor, planClose } from '../../src/actions/close.js';
import type { CloseJson } from '../../src/actions/close-json.js';
import { findGdb, readOutcome, runGdbCall } from '../../src/actions/gdb.js';
import { takeSnapshot } from '../../src/snapshot/take-snapshot.js';
import { runAction } from '../helpers/action-commands.js';
import { kernelStat, startHolder, type Holder } from '../helpers/holder.js';
import { repoRoot } from '../helpers/paths.js';
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

interface Target {
  readonly pid: number;
  readonly fd: number;
  readonly child: ChildProcess;
  /** Its DONE line, parsed: `ret`, `errno`, `elapsed`, `fd`, `spins`, `naps`, `data`. */
  readonly done: Promise<Record<string, string>>;
  /** True once it printed DONE. */
  finished(): boolean;
}

const targets: ChildProcess[] = [];
after(() => {
  for (const child of targets) child.kill('SIGKILL');
});

/** Starts test/fixtures/inject-target (see inject-target.c) on a deleted file; resolves when READY. */
async function startTarget(mode: string[], extra: string[] = []): Promise<Target> {
  const path = join(scratch.dir, `target-${++counter}.log`);
  writeFileSync(path, randomBytes(8192));
  const child = spawn(`${repoRoot}test/fixtures/bin/inject-target`, [...mode, path, ...extra], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  targets.push(child);
  let stdout = '';
  let finished = false;
  const done = new Promise<Record<string, string>>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const line = /^DONE (.*)$/m.exec(stdout);
      if (!line) return;
      finished = true;
      resolve(Object.fromEntries((line[1] as string).split(' ').map((kv) => kv.split('=', 2))));
    });
    child.on('exit', (code) => reject(new Error(`inject-target exited with ${code}: ${stdout}`)));
  });
  done.catch(() => undefined);
  const ready = await new Promise<{ pid: number; fd: number }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`inject-target did not get ready: ${stdout}`)), 10_000);
    const poll = setInterval(() => {
      const match = /^READY (\{.*\})$/m.exec(stdout);
      if (!match) return;
      clearTimeout(timer);
      clearInterval(poll);
      resolve(JSON.parse(match[1] as string) as { pid: number; fd: number });
    }, 10);
  });
  unlinkSync(path);
  // Give it a moment to enter its system call (or its loop).
  await new Promise((resolve) => setTimeout(resolve, 100));
  return { ...ready, child, done, finished: () => finished };
}

function closeTarget(target: Target, extra: string[] = [], env: NodeJS.ProcessEnv = {}): CloseJson {
  const { code, json, stderr } = closeJson([`${target.pid}:${target.fd}`, '--force', '--yes', ...extra], env);
  assert.equal(code, 0, `${json.reason} ${stderr}`);
  assert.equal(json.verified, true);
  assert.equal(target.finished(), false, 'it is still in the state it was caught in');
  return json;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('limbo close on processes caught in a system call, spinning, or threaded', () => {
  it(
    'closes the fd of a process blocked in read(2); the read resumes and returns the data',
    { skip: needsRootAndGdb },
    async () => {
      const target = await startTarget(['read']);
      closeTarget(target);
      await sleep(200);
      assert.equal(target.finished(), false, 'the read was restarted, not ended');
      target.child.stdin?.write('hello\n');
      const done = await target.done;
      assert.deepEqual(
        [done['ret'], done['errno'], done['fd'], done['data']],
        ['6', '77', 'closed', 'hello'],
        'read returned the line, errno untouched, fd gone',
      );
    },
  );

  it(
    'closes the fd of a process in nanosleep; the sleep lasts its full time and succeeds',
    { skip: needsRootAndGdb },
    async () => {
      const target = await startTarget(['sleep', '6000']);
      closeTarget(target);
      const done = await target.done;
      assert.equal(done['ret'], '0', 'nanosleep was restarted, not cut short');
      assert.equal(done['errno'], '77');
      assert.equal(done['fd'], 'closed');
      assert.ok(Number(done['elapsed']) >= 6000, `slept ${done['elapsed']} ms`);
    },
  );

  it(
    'closes the fd of a process in pause(); it keeps waiting, and a signal still ends it',
    { skip: needsRootAndGdb },
    async () => {
      const target = await startTarget(['pause']);
      closeTarget(target);
      await sleep(300);
      assert.equal(target.finished(), false, 'pause did not return on its own');
      process.kill(target.pid, 'SIGUSR1');
      const done = await target.done;
      assert.deepEqual([done['ret'], done['errno'], done['fd']], ['-1', '4', 'closed']);
    },
  );

  it('closes the fd of a process spinning outside any system call', { skip: needsRootAndGdb }, async () => {
    const target = await startTarget(['busy']);
    closeTarget(target);
    process.kill(target.pid, 'SIGUSR1');
    const done = await target.done;
    assert.deepEqual([done['errno'], done['fd']], ['77', 'closed']);
  });

  it(
    'points the fd of a spinning process at /dev/null (--devnull), leaving its stack and errno as they were',
    { skip: needsRootAndGdb },
    async () => {
      const target = await startTarget(['busy']);
      const fds = () => readdirSync(`/proc/${target.pid}/fd`).sort();
      const before = fds();
      closeTarget(target, ['--devnull']);
      assert.equal(readlinkSync(`/proc/${target.pid}/fd/${target.fd}`), '/dev/null');
      assert.deepEqual(fds(), before, 'the temporary /dev/null descriptor was closed');
      process.kill(target.pid, 'SIGUSR1');
      const done = await target.done;
      assert.deepEqual([done['errno'], done['fd']], ['77', 'devnull']);
    },
  );

  it(
    'closes the fd of a multi-threaded process; every thread carries on afterwards',
    { skip: needsRootAndGdb },
    async () => {
      const target = await startTarget(['read'], ['threads']);
      closeTarget(target);
      target.child.stdin?.write('after\n');
      const done = await target.done;
      assert.deepEqual(
        [done['ret'], done['errno'], done['fd'], done['spins'], done['naps'], done['data']],
        ['6', '77', 'closed', '1', '1', 'after'],
      );
    },
  );

  it(
    'passes a --proc path with spaces, quotes, a newline and $(...) to the check as data, never as code',
    { skip: needsRootAndGdb },
    async () => {
      const pwned = join(scratch.dir, 'pwned');
      const weird = join(scratch.dir, `p q 'r'\n$(touch ${pwned})`);
      mkdirSync(weird, { recursive: true });
      const procRoot = join(weird, 'proc');
      symlinkSync('/proc', procRoot);
      const target = await startTarget(['pause']);
      const json = closeTarget(target, ['--proc', procRoot]);
      assert.equal(json.status, 'closed');
      assert.equal(existsSync(pwned), false, 'the $(...) in the path did not run');
      process.kill(target.pid, 'SIGUSR1');
      assert.equal((await target.done)['fd'], 'closed');
    },
  );

  it(
    'changes nothing in a process a signal reaches every millisecond, says why, and it carries on',
    { skip: needsRootAndGdb },
    async () => {
      const target = await startTarget(['busy'], ['ticking']);
      const { code, json } = closeJson([`${target.pid}:${target.fd}`, '--force', '--yes']);
      assert.equal(code, 1);
      assert.equal(json.status, 'failed');
      assert.match(
        json.reason ?? '',
        /a signal \(SIGALRM\) reached the process before its close ran.*nothing was changed/,
      );
      assert.equal(fdExists(target.pid, target.fd), true);
      process.kill(target.pid, 'SIGUSR1');
      const done = await target.done;
      assert.deepEqual([done['errno'], done['fd']], ['77', 'open']);
    },
  );

  it(
    'refuses a stopped process (SIGSTOP), which stays stopped and keeps its fd',
    { skip: needsRootAndGdb },
    async () => {
      const target = await startTarget(['pause']);
      process.kill(target.pid, 'SIGSTOP');
      const state = () => /^State:\s+(\S)/m.exec(readFileSync(`/proc/${target.pid}/status`, 'utf8'))?.[1];
      await waitUntil(() => state() === 'T', 'the target to stop');
      const { code, json } = closeJson([`${target.pid}:${target.fd}`, '--force', '--yes']);
      assert.equal(code, 1);
      assert.equal(json.status, 'refused');
      assert.match(json.reason ?? '', /is stopped \(SIGSTOP.*kill -CONT/);
      assert.equal(state(), 'T');
      process.kill(target.pid, 'SIGCONT');
      process.kill(target.pid, 'SIGUSR1');
      assert.equal((await target.done)['fd'], 'open');
    },
  );

  it('says why when the injected call was interrupted or found no instruction to run with', () => {
    const interrupted = readOutcome(
      'devnull',
      'limbo-result open 5\nProgram received signal SIGALRM, Alarm clock.\nlimbo-interrupted dup2\n',
    );
    assert.equal(interrupted.kind, 'gdb-failed');
    assert.match(
      interrupted.kind === 'gdb-failed' ? (interrupted.reason ?? '') : '',
      /a signal \(SIGALRM\) reached the process before its dup2 ran.*fd 5, on \/dev\/null.*stays open/,
    );
    const none = readOutcome('close', 'limbo-no-syscall\n');
    assert.match(none.kind === 'gdb-failed' ? (none.reason ?? '') : '', /no system call instruction/);
    assert.deepEqual(readOutcome('devnull', 'limbo-result open -24\n'), {
      kind: 'call-failed',
      call: 'open',
      errno: 24,
      output: 'limbo-result open -24\n',
    });
    assert.equal(readOutcome('close', 'limbo-result close 0\n').kind, 'done');
  });
});
