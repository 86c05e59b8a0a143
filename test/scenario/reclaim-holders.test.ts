// Reclaim's decisions from the holder model, on real processes: who appends, who reads the data
// back, who maps it as code, which file is a program's durable state, which process family must
// let go and how. Programs are the holder fixture under the name of the program (a copy named
// nginx, redis-server or postgres): their comm is what limbo matches, as on a real host.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { executeReclaim, planReclaim } from '../../src/actions/reclaim.js';
import type { ReclaimJson } from '../../src/actions/reclaim-json.js';
import { parseTarget, type Target } from '../../src/actions/target.js';
import { takeSnapshot } from '../../src/snapshot/take-snapshot.js';
import { runAction } from '../helpers/action-commands.js';
import { holderBinary, kernelStat, startHolder, type Holder } from '../helpers/holder.js';
import { isRoot, makeScratch, waitUntil, type Scratch } from '../helpers/scratch.js';
import { assertMatchesSchema } from '../helpers/schema.js';

let scratch: Scratch;
const holders: Holder[] = [];
let counter = 0;

async function hold(ops: string[], program?: string): Promise<Holder> {
  const holder = await startHolder(ops, program ? { binary: programCopy(program) } : {});
  holders.push(holder);
  return holder;
}

/** The holder fixture under a program's name: its comm is that name. */
function programCopy(name: string): string {
  const dir = join(scratch.dir, 'bin');
  mkdirSync(dir, { recursive: true });
  const path = join(dir, name);
  try {
    statSync(path);
  } catch {
    copyFileSync(holderBinary, path);
    chmodSync(path, 0o755);
  }
  return path;
}

/** A file of random bytes at `name` under the scratch dir, for a holder to open. */
function makeFile(name: string, bytes: number): string {
  const path = join(scratch.dir, name);
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, randomBytes(bytes));
  return path;
}

function reclaimJson(args: string[]): { code: number; json: ReclaimJson } {
  const run = runAction(['reclaim', '--json', ...args]);
  assert.ok(run.stdout.startsWith('{'), `JSON expected, got: ${run.stdout}${run.stderr}`);
  const json = JSON.parse(run.stdout) as ReclaimJson;
  assertMatchesSchema('limbo.reclaim-1', json);
  return { code: run.code, json };
}

before(() => {
  scratch = makeScratch('limbo-reclaim-holders-');
});

after(async () => {
  await Promise.all(holders.map((holder) => holder.stop()));
  scratch.remove();
});

describe('limbo reclaim decides from how each holder holds the file', () => {
  for (const [how, access] of [
    ['open', 'O_RDONLY'],
    ['rdwr', 'O_RDWR'],
  ] as const) {
    it(`refuses without --force a file a holder reads back (${access}), naming it and what it will see`, async () => {
      const path = makeFile(`read-${++counter}.bin`, 64 * 1024);
      const holder = await hold([how, path, 'unlink', path]);
      const link = `/proc/${holder.pid}/fd/3`;
      const { code, json } = reclaimJson([`${holder.pid}:3`, '--yes']);
      assert.equal(code, 1);
      const [result] = json.results;
      assert.equal(result?.status, 'refused');
      assert.equal(result?.decision?.verdict, 'needs-force');
      assert.deepEqual(
        result?.decision?.reasons.map((r) => [r.code, r.pid, r.fd]),
        [['reads-data', holder.pid, 3]],
      );
      assert.match(
        result?.reason ?? '',
        new RegExp(`^needs --force: ${holder.pid} holder reads it back through fd 3`),
      );
      assert.match(result?.reason ?? '', /short \(end of file\) or fail/);
      assert.match(result?.recoverFirst ?? '', /^limbo recover \d+:\d+:\d+ \.\/read-\d+\.bin\.recovered$/);
      assert.equal(kernelStat(link).size, 64 * 1024, 'untouched without --force');

      const forced = reclaimJson([`${holder.pid}:3`, '--yes', '--force']);
      assert.equal(forced.code, 0);
      assert.equal(forced.json.results[0]?.status, 'truncated');
      assert.equal(kernelStat(link).size, 0);
    });
  }

  it('never truncates a file mapped as code, even with --force, and says to restart', async () => {
    const path = makeFile('plugin.so', 16384);
    const holder = await hold(['open', path, 'mmapx', 'unlink', path]);
    const { code, json } = reclaimJson([`${holder.pid}:3`, '--yes', '--force']);
    assert.equal(code, 1);
    const [result] = json.results;
    assert.equal(result?.status, 'refused');
    assert.equal(result?.decision?.verdict, 'never');
    assert.equal(result?.decision?.reasons[0]?.code, 'mapped-code');
    assert.match(result?.reason ?? '', /^never truncated: .*maps it as code/);
    assert.deepEqual(
      result?.release?.map((step) => [step.kind, step.pids]),
      [['restart', [holder.pid]]],
    );
    assert.doesNotMatch(JSON.stringify(result?.release), /kill -/, 'no signal releases a mapping');
    assert.equal(kernelStat(`/proc/${holder.pid}/fd/3`).size, 16384);
  });

  it('names a Redis append-only file as its durability log, with BGREWRITEAOF, and needs --force though it is O_APPEND', async () => {
    const path = makeFile('redis/appendonly.aof', 32 * 1024);
    const holder = await hold(['append', path, 'unlink', path], 'redis-server');
    const { code, json } = reclaimJson([`${holder.pid}:3`, '--yes']);
    assert.equal(code, 1);
    const [result] = json.results;
    assert.equal(result?.status, 'refused');
    assert.equal(result?.decision?.verdict, 'needs-force');
    assert.equal(result?.decision?.durableState?.program, 'Redis');
    assert.match(result?.decision?.durableState?.safeStep ?? '', /redis-cli BGREWRITEAOF/);
    assert.match(result?.reason ?? '', /append-only file \(its durability log\)/);
    assert.ok(result?.recoverFirst, 'durable state is offered a copy first');
    assert.equal(kernelStat(`/proc/${holder.pid}/fd/3`).size, 32 * 1024);
  });

  it('truncates an nginx log that master and workers append to, and sends the reopen to the master', async () => {
    const path = makeFile('log/access.log', 128 * 1024);
    const nginx = await hold(['append', path, 'fork', 'fork', 'unlink', path], 'nginx');
    const dry = runAction(['reclaim', `${nginx.pid}:3`, '--dry-run']);
    assert.equal(dry.code, 0, dry.stderr);
    const [w1, w2] = nginx.children;
    assert.ok(
      dry.stdout.includes(
        `held by nginx master ${nginx.pid} and 2 workers (${w1}, ${w2}): ${nginx.pid} fd 3, ${w1} fd 3, ${w2} fd 3`,
      ),
      dry.stdout,
    );
    assert.ok(dry.stdout.includes(`kill -USR1 ${nginx.pid}`), dry.stdout);
    assert.doesNotMatch(dry.stdout, new RegExp(`kill -USR1 (${w1}|${w2})\\b`), 'never to a worker');
    assert.doesNotMatch(dry.stdout, /to keep a copy first/, 'a log is not offered a recovery');

    const { code, json } = reclaimJson([`${nginx.pid}:3`, '--yes']);
    assert.equal(code, 0);
    const [result] = json.results;
    assert.equal(result?.status, 'truncated');
    assert.equal(result?.recoverFirst, null);
    assert.deepEqual(
      result?.release?.map((step) => [step.kind, step.command, step.pids]),
      [['reopen', `kill -USR1 ${nginx.pid}`, [nginx.pid, ...nginx.children]]],
    );
    for (const pid of [nginx.pid, ...nginx.children]) assert.equal(kernelStat(`/proc/${pid}/fd/3`).size, 0);
  });

  it("names a PostgreSQL backend's temporary file, what its query will see, and pg_terminate_backend for that backend", async () => {
    const path = makeFile('pgdata/base/pgsql_tmp/pgsql_tmp4242.0', 96 * 1024);
    // The postmaster forks a backend that keeps the file; the postmaster itself closes it.
    const postgres = await hold(['rdwr', path, 'fork', 'close', 'unlink', path], 'postgres');
    const backend = postgres.children[0] as number;
    const { code, json } = reclaimJson([`${backend}:3`, '--yes']);
    assert.equal(code, 1);
    const [result] = json.results;
    assert.equal(result?.status, 'refused');
    assert.match(result?.reason ?? '', /PostgreSQL temporary file .* its next read fails/);
    assert.deepEqual(
      result?.release?.map((step) => [step.kind, step.pids, step.command]),
      [
        [
          'terminate',
          [backend],
          `runuser -u root -- psql -d postgres -c 'SELECT pg_terminate_backend(${backend})'`,
        ],
      ],
    );
    assert.match(result?.release?.[0]?.loses ?? '', /open cursors are lost/);
  });
});

describe('limbo reclaim --mount and --filesystem-of', () => {
  it('refuses a PATH that is not a mount point, naming the real mount point', () => {
    const inside = join(scratch.dir, 'sub');
    mkdirSync(inside, { recursive: true });
    const run = runAction(['reclaim', '--mount', inside, '--dry-run']);
    assert.equal(run.code, 2);
    const mountPoint = execFileSync('findmnt', ['-n', '-o', 'TARGET', '-T', inside], {
      encoding: 'utf8',
    }).trim();
    assert.ok(
      run.stderr.includes(
        `--mount ${inside}: not a mount point: it is on the filesystem mounted at ${mountPoint} (`,
      ),
      run.stderr,
    );
    assert.ok(run.stderr.includes(`--filesystem-of ${inside}`), run.stderr);
  });

  it('--filesystem-of names the whole filesystem every dry run covers', () => {
    const inside = join(scratch.dir, 'sub');
    mkdirSync(inside, { recursive: true });
    const [mountPoint, fstype] = execFileSync('findmnt', ['-n', '-o', 'TARGET,FSTYPE', '-T', inside], {
      encoding: 'utf8',
    })
      .trim()
      .split(/\s+/);
    const run = runAction(['reclaim', '--filesystem-of', inside, '--min-size', '1T', '--dry-run']);
    assert.equal(run.code, 0, run.stderr);
    assert.ok(
      run.stdout.startsWith(
        `Covers every deleted file on the filesystem mounted at ${mountPoint} (${fstype}, device `,
      ),
      run.stdout,
    );
    const { json } = reclaimJson(['--filesystem-of', inside, '--min-size', '1T', '--dry-run']);
    assert.equal(json.covers?.mount, mountPoint);
    assert.equal(json.covers?.fstype, fstype);
  });
});

describe('identity without birth time (ext4 with 128-byte inodes)', () => {
  let mountPoint: string | null = null;

  before(() => {
    if (!isRoot) return;
    const image = join(scratch.dir, '..', 'nobtime.img');
    mountPoint = join(scratch.dir, '..', 'nobtime');
    execFileSync('truncate', ['-s', '32M', image]);
    execFileSync('mkfs.ext4', ['-q', '-F', '-I', '128', image]);
    mkdirSync(mountPoint);
    execFileSync('mount', ['-o', 'loop', image, mountPoint]);
  });

  after(() => {
    if (mountPoint !== null) execFileSync('umount', ['-l', mountPoint]);
  });

  it('refuses when the inode number was reused between the preview and the act', async (t) => {
    if (mountPoint === null) return t.skip('needs root to mount an ext4 image');
    const path = join(mountPoint, 'first.log');
    writeFileSync(path, randomBytes(64 * 1024));
    const holder = await hold(['append', path, 'unlink', path, 'swap-on-usr2', join(mountPoint, 'second')]);
    const link = `/proc/${holder.pid}/fd/3`;
    const birth = statSync(link, { bigint: true }).birthtimeNs;
    assert.equal(birth, 0n, 'this filesystem keeps no birth time');
    const old = kernelStat(link);
    const target = parseTarget(`${old.dev}:${old.inode}`) as Target;
    const plan = planReclaim(takeSnapshot(), { targets: [target], filter: null });
    assert.equal(plan.candidates[0]?.verdict, 'ready');
    assert.equal(plan.candidates[0]?.bornNs, null);

    process.kill(holder.pid, 'SIGUSR2'); // close it, create another file: ext4 gives it the freed inode
    // Mid-swap fd 3 is closed for a moment: wait until it holds the new file's 4096 bytes.
    const sizeNow = (): number | null => {
      try {
        return kernelStat(link).size;
      } catch {
        return null;
      }
    };
    await waitUntil(() => sizeNow() === 4096, 'the holder to swap in its second file');
    const now = kernelStat(link);
    if (now.inode !== old.inode) return t.skip(`ext4 gave inode ${now.inode}, not the freed ${old.inode}`);

    const [result] = executeReclaim(plan).results;
    assert.equal(result?.status, 'refused');
    assert.match(result?.reason ?? '', /keeps no birth time/);
    assert.equal(kernelStat(link).size, 4096, 'the other file keeps its bytes');
  });

  it('truncates when nothing changed since the preview', async (t) => {
    if (mountPoint === null) return t.skip('needs root to mount an ext4 image');
    const path = join(mountPoint, 'quiet.log');
    writeFileSync(path, randomBytes(64 * 1024));
    const holder = await hold(['append', path, 'unlink', path]);
    const link = `/proc/${holder.pid}/fd/3`;
    const truth = kernelStat(link);
    const plan = planReclaim(takeSnapshot(), {
      targets: [parseTarget(`${truth.dev}:${truth.inode}`) as Target],
      filter: null,
    });
    assert.equal(plan.candidates[0]?.seen?.bornNs, null);
    const [result] = executeReclaim(plan).results;
    assert.equal(result?.status, 'truncated', result?.reason ?? '');
    assert.equal(kernelStat(link).size, 0);
  });
});

describe('the same advice in limbo deleted and the report (and so watch and serve)', () => {
  it('names the nginx family and sends the reopen to its master', async (t) => {
    if (!scratch.exact)
      return t.skip('needs root: the report finding is per filesystem, and ours must be our own tmpfs');
    // The biggest file on this tmpfs: the report's finding names the holders of the biggest.
    const path = makeFile('log/error.log', 1024 * 1024);
    const nginx = await hold(['append', path, 'fork', 'fork', 'unlink', path], 'nginx');
    const [w1, w2] = nginx.children;

    const deleted = runAction(['deleted', '--pid', String(w2)]);
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.ok(
      deleted.stdout.includes(`one family: nginx master ${nginx.pid} and 2 workers (${w1}, ${w2})`),
      deleted.stdout,
    );
    assert.ok(deleted.stdout.includes(`: kill -USR1 ${nginx.pid}\n`), deleted.stdout);
    assert.doesNotMatch(deleted.stdout, /SIGHUP/);

    const report = JSON.parse(runAction(['report', '--json']).stdout) as {
      findings: { kind: string; message: string; command: string | null }[];
    };
    const finding = report.findings.find(
      (f) => f.kind === 'deleted-held' && f.message.startsWith(`${scratch.dir}:`),
    );
    assert.ok(finding, JSON.stringify(report.findings));
    assert.equal(finding.command, `kill -USR1 ${nginx.pid}`);
    assert.match(
      finding.message,
      new RegExp(`the biggest by nginx \\(pid ${nginx.pid}\\) and 2 more processes`),
    );
  });
});
