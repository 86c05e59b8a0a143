// The incidents of issue 10, staged with the real programs an operator runs (nginx, rsyslogd and
// logrotate, PostgreSQL 15, Redis 7, SQLite through python3): limbo must list each held file with
// the processes the kernel says hold it and the bytes the kernel accounts, and each program's own
// release step must free it. Every service runs on loopback with its data on a tmpfs of its own,
// so free space there moves only with that service's files.
import assert from 'node:assert/strict';
import {
  closeSync,
  copyFileSync,
  ftruncateSync,
  openSync,
  lstatSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  statSync,
  unlinkSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ReclaimJson } from '../../src/actions/reclaim-json.js';
import { formatDev } from '../../src/proc/file-stat.js';
import { kernelStat } from '../helpers/holder.js';
import { findFile, limboDeleted, runLimbo, type DeletedFileJson } from '../helpers/limbo.js';
import { assertMatchesSchema } from '../helpers/schema.js';
import { availableBytes, makeScratch, waitUntil, type Scratch } from '../helpers/scratch.js';
import {
  childrenOf,
  isAlive,
  missingForServices,
  run,
  startNginx,
  startPostgres,
  startRedis,
  startRsyslog,
  startSqliteHolder,
  type Nginx,
  type Postgres,
  type PsqlSession,
  type Redis,
  type Rsyslog,
} from '../helpers/services.js';

const missing = missingForServices();
const scratches: Scratch[] = [];
const stops: (() => Promise<void>)[] = [];

function scratch(name: string, size = '64m'): string {
  const made = makeScratch(`limbo-${name}-`, size);
  scratches.push(made);
  return made.dir;
}

/** The fds of `pid` that refer to the file `dev`:`ino` (stat through each link: the kernel's word). */
function fdsOn(pid: number, dev: string, ino: number): number[] {
  const fds: number[] = [];
  for (const entry of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const st = statSync(`/proc/${pid}/fd/${entry}`, { bigint: true });
      if (formatDev(st.dev) === dev && Number(st.ino) === ino) fds.push(Number(entry));
    } catch {
      // closed meanwhile
    }
  }
  return fds.sort((a, b) => a - b);
}

/** The fd of `pid` whose link reads "PATH (deleted)". */
function deletedFd(pid: number, path: string): number {
  for (const entry of readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${entry}`) === `${path} (deleted)`) return Number(entry);
    } catch {
      // closed meanwhile
    }
  }
  throw new Error(`pid ${pid} holds no deleted ${path}`);
}

/** "rw" from fdinfo flags: the access mode, and whether O_APPEND is set. */
function fdFlags(pid: number, fd: number): { access: 'r' | 'w' | 'rw'; append: boolean; pos: number } {
  const text = readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
  const flags = parseInt(/^flags:\s+([0-7]+)$/m.exec(text)?.[1] ?? '0', 8);
  const pos = Number(/^pos:\s+(\d+)$/m.exec(text)?.[1]);
  return { access: (['r', 'w', 'rw'] as const)[flags & 3] ?? 'r', append: (flags & 0o2000) !== 0, pos };
}

/**
 * Asserts that `limbo deleted --json` lists the file `pid` holds as deleted PATH, held by exactly
 * `holders` (each with the fds the kernel shows), with the kernel's size and allocated bytes.
 */
function assertLimboSees(
  path: string,
  holders: readonly number[],
  pid = holders[0] as number,
): DeletedFileJson {
  const truth = kernelStat(`/proc/${pid}/fd/${deletedFd(pid, path)}`);
  assert.equal(truth.nlink, 0);
  const file = findFile(limboDeleted(), truth.dev, truth.inode);
  assert.ok(file, `limbo does not list ${path} (${truth.dev}:${truth.inode})`);
  assert.equal(file.path, path);
  assert.equal(file.size, truth.size);
  assert.equal(file.allocated, truth.allocated);
  assert.deepEqual(
    file.holders.map((h) => ({ pid: h.pid, fds: h.fds })).sort((a, b) => a.pid - b.pid),
    [...holders].sort((a, b) => a - b).map((h) => ({ pid: h, fds: fdsOn(h, truth.dev, truth.inode) })),
  );
  return file;
}

type ReclaimPlan = ReclaimJson['results'][number];

/** What `limbo reclaim DEV:INODE --dry-run --json` plans for `file`: its verdict and its advice. */
function reclaimPlan(file: DeletedFileJson): ReclaimPlan {
  const run = runLimbo(['reclaim', `${file.dev}:${file.inode}`, '--dry-run', '--json']);
  assert.ok(run.stdout.startsWith('{'), `JSON expected, got: ${run.stdout}${run.stderr}`);
  const json = JSON.parse(run.stdout) as ReclaimJson;
  assertMatchesSchema('limbo.reclaim-1', json);
  assert.equal(json.results.length, 1);
  return json.results[0] as ReclaimPlan;
}

/** The reason codes of a plan's verdict, with the pid each is about. */
function reasonCodes(plan: ReclaimPlan): { code: string; pid: number | null }[] {
  return (plan.decision?.reasons ?? []).map(({ code, pid }) => ({ code, pid }));
}

/** True when some fd of `pid` names a deleted file. */
function holdsDeleted(pid: number): boolean {
  return readdirSync(`/proc/${pid}/fd`).some((entry) => {
    try {
      return readlinkSync(`/proc/${pid}/fd/${entry}`).endsWith(' (deleted)');
    } catch {
      return false;
    }
  });
}

/** True while signal `signo` is pending for `pid` (SigPnd or ShdPnd): not yet delivered. */
function signalPending(pid: number, signo: number): boolean {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const bit = 1n << BigInt(signo - 1);
  return ['SigPnd', 'ShdPnd'].some((field) => {
    const mask = BigInt(`0x${new RegExp(`^${field}:\\s+([0-9a-f]+)$`, 'm').exec(status)?.[1] ?? '0'}`);
    return (mask & bit) !== 0n;
  });
}

function limboLists(file: DeletedFileJson): boolean {
  return findFile(limboDeleted(), file.dev, file.inode as number) !== undefined;
}

/** Bytes the files under `dir` take (st_blocks × 512), not following links. */
function allocatedUnder(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += allocatedUnder(path);
    else total += Number(lstatSync(path, { bigint: true }).blocks) * 512;
  }
  return total;
}

/**
 * What `act` freed on the tmpfs at `dir` that was not a file with a name there: the rise in free
 * space plus whatever the named files grew by meanwhile (a reopened log, a rewritten AOF).
 */
async function freedBeyondNamedFiles(dir: string, act: () => Promise<void> | void): Promise<number> {
  const availBefore = availableBytes(dir);
  const namedBefore = allocatedUnder(dir);
  await act();
  return availableBytes(dir) - availBefore + (allocatedUnder(dir) - namedBefore);
}

describe('real programs: what limbo sees, and what frees it', { skip: missing ?? false }, () => {
  let nginx: Nginx;
  let nginxDir: string;
  let libDir: string;
  let library: string;
  let rsyslog: Rsyslog;
  let rsyslogDir: string;
  let pg: Postgres;
  let redis: Redis;
  let redisDir: string;
  /** Where psql finds this instance: libpq's own variables, as an operator would set them. */
  const pgEnv = () => ({ PGHOST: pg.socketDir, PGPORT: String(pg.port) });
  /**
   * A session whose WITH HOLD cursor spilled its tuplestore to base/pgsql_tmp, that file then
   * removed. PostgreSQL keeps the spill file by name (pgsql_tmpPID.N) and removes it itself on
   * CLOSE: deleted-while-held happens only when someone else removes it (a cleanup job, an operator).
   */
  const spillRemovedCursor = async (): Promise<{ session: PsqlSession; path: string }> => {
    const session = await pg.session();
    stops.push(() => session.close());
    const tmpDir = join(pg.dataDir, 'base', 'pgsql_tmp');
    await session.query(
      "BEGIN; DECLARE c CURSOR WITH HOLD FOR SELECT g, repeat('x', 100) FROM generate_series(1, 100000) g; COMMIT;",
    );
    const [name] = readdirSync(tmpDir).filter((entry) => entry.startsWith(`pgsql_tmp${session.backend}.`));
    assert.ok(name, 'the cursor spilled to base/pgsql_tmp');
    const path = join(tmpDir, name);
    unlinkSync(path);
    return { session, path };
  };

  before(async () => {
    nginxDir = scratch('nginx');
    libDir = scratch('lib');
    rsyslogDir = scratch('rsyslog');
    redisDir = scratch('redis');
    const pgDir = scratch('pg', '256m');
    // nginx preloads its own copy of libz (which it links anyway), so the test can replace it.
    const libz = /libz\.so\.1 => (\S+)/.exec(run('ldd', ['/usr/sbin/nginx']))?.[1];
    assert.ok(libz, 'nginx links libz');
    library = join(libDir, 'libz.so.1');
    copyFileSync(libz, library);
    [nginx, rsyslog, pg, redis] = await Promise.all([
      startNginx(nginxDir, { LD_PRELOAD: library }),
      startRsyslog(rsyslogDir),
      startPostgres(pgDir),
      startRedis(redisDir),
    ]);
    stops.push(
      () => nginx.stop(),
      () => rsyslog.stop(),
      () => pg.stop(),
      () => redis.stop(),
    );
  });

  after(async () => {
    await Promise.all(stops.map((stop) => stop().catch(() => undefined)));
    for (const made of scratches) made.remove();
  });

  it('nginx: master and workers share a rotated-away access log; HUP to the workers frees nothing; limbo allows truncating it, and its USR1 to the master frees it', async () => {
    for (let i = 0; i < 50; i++) await nginx.request();
    unlinkSync(nginx.accessLog);
    const holders = [nginx.master, ...nginx.workers];
    const file = assertLimboSees(nginx.accessLog, holders);
    const fd = file.holders[0]?.fds[0] as number;
    assert.deepEqual(
      fdFlags(nginx.master, fd),
      { access: 'w', append: true, pos: file.size },
      'nginx appends',
    );

    // limbo's verdict: every holder only appends, nothing maps it: truncated without --force.
    const plan = reclaimPlan(file);
    assert.equal(plan.decision?.verdict, 'truncate');
    assert.deepEqual(reasonCodes(plan), [{ code: 'appenders-only', pid: null }]);
    assert.equal(plan.decision?.durableState, null);
    // Its advice: the reopen goes to the master (USR1), and names every process that must let go.
    assert.equal(plan.release?.length, 1);
    const [step] = plan.release ?? [];
    assert.equal(step?.kind, 'reopen');
    assert.equal(step?.command, `kill -USR1 ${nginx.master}`, 'USR1 to the master, never the workers');
    assert.deepEqual(
      [...(step?.pids ?? [])].sort((a, b) => a - b),
      [...holders].sort((a, b) => a - b),
    );
    assert.equal(step?.loses, null);

    for (const worker of nginx.workers) process.kill(worker, 'SIGHUP');
    await waitUntil(
      () => nginx.workers.every((pid) => !signalPending(pid, 1)),
      'the workers to take the HUP',
      30_000,
    );
    assert.ok(limboLists(file), 'HUP to the workers did not free it');
    assert.deepEqual(childrenOf(nginx.master), holders.slice(1), 'and the workers did not even restart');

    const freed = await freedBeyondNamedFiles(nginxDir, async () => {
      run('sh', ['-c', step?.command as string]); // exactly what limbo printed
      await waitUntil(
        () => holders.every((pid) => fdsOn(pid, file.dev, file.inode as number).length === 0),
        'nginx to reopen its logs',
        30_000,
      );
    });
    assert.equal(limboLists(file), false);
    assert.equal(freed, file.allocated, 'statfs: the space came back');
  });

  it('nginx: a replaced library stays mapped through USR1 and HUP; only a restart frees it', async () => {
    const holders = [nginx.master, ...nginx.workers];
    const replacement = `${library}.new`;
    copyFileSync(library, replacement);
    const old = statSync(library, { bigint: true });
    renameSync(replacement, library); // how dpkg replaces a library
    const file = findFile(limboDeleted(), formatDev(old.dev), Number(old.ino));
    assert.ok(file, 'limbo lists the replaced library');
    assert.equal(file.allocated, Number(old.blocks) * 512);
    assert.deepEqual(
      file.holders.map((h) => h.pid).sort((a, b) => a - b),
      holders,
    );
    for (const holder of file.holders) {
      assert.deepEqual(holder.fds, [], 'mapped, not open');
      assert.ok(holder.mappings > 0);
    }

    // limbo's verdict: mapped as code, never truncated; its advice: a restart, no signal.
    const plan = reclaimPlan(file);
    assert.equal(plan.decision?.verdict, 'never');
    assert.deepEqual(
      reasonCodes(plan).filter((r) => r.code === 'mapped-code'),
      holders.map((pid) => ({ code: 'mapped-code', pid })),
    );
    assert.ok((plan.release?.length ?? 0) > 0);
    for (const step of plan.release ?? []) {
      assert.equal(step.kind, 'restart');
      assert.doesNotMatch(`${step.command ?? ''} ${step.message}`, /\bkill\b|SIG|USR1|HUP|-s reopen/);
    }
    assert.deepEqual(
      (plan.release ?? []).flatMap((step) => step.pids).sort((a, b) => a - b),
      holders,
      'every holder is named',
    );

    process.kill(nginx.master, 'SIGUSR1'); // reopen logs
    for (const worker of nginx.workers) process.kill(worker, 'SIGHUP');
    await waitUntil(
      () => holders.every((pid) => !signalPending(pid, 1) && !signalPending(pid, 10)),
      'the signals to be taken',
      30_000,
    );
    process.kill(nginx.master, 'SIGHUP'); // reload: new workers, forked from the same master
    await waitUntil(
      () =>
        nginx.workers.every((pid) => !isAlive(pid)) && childrenOf(nginx.master).filter(isAlive).length === 2,
      'nginx to reload',
      30_000,
    );
    const still = findFile(limboDeleted(), file.dev, file.inode as number);
    assert.ok(still, 'no signal releases a mapping');
    assert.ok(still.holders.some((h) => h.pid === nginx.master));

    const freed = await freedBeyondNamedFiles(libDir, async () => {
      await nginx.stop();
      nginx = await startNginx(nginxDir, { LD_PRELOAD: library });
    });
    assert.equal(limboLists(file), false);
    assert.equal(freed, file.allocated, 'statfs: the restart gave the old library back');
  });

  it('rsyslogd: holds the log logrotate removed; limbo allows truncating it, and its `kill -HUP` frees it', async () => {
    for (let i = 0; i < 20; i++) await rsyslog.send(`line ${'x'.repeat(200)}`);
    rsyslog.rotate(); // rotate 0: renamed to messages.1, then removed
    const rotated = `${rsyslog.log}.1`;
    const file = assertLimboSees(rotated, [rsyslog.pid]);
    const fd = file.holders[0]?.fds[0] as number;
    assert.equal(fdFlags(rsyslog.pid, fd).append, true);
    assert.equal(fdFlags(rsyslog.pid, fd).access, 'w');

    const plan = reclaimPlan(file);
    assert.equal(plan.decision?.verdict, 'truncate');
    assert.deepEqual(reasonCodes(plan), [{ code: 'appenders-only', pid: null }]);
    assert.deepEqual(
      plan.release?.map(({ kind, command, pids }) => ({ kind, command, pids })),
      [{ kind: 'reopen', command: `kill -HUP ${rsyslog.pid}`, pids: [rsyslog.pid] }],
    );

    const freed = await freedBeyondNamedFiles(rsyslogDir, async () => {
      run('sh', ['-c', plan.release?.[0]?.command as string]); // exactly what limbo printed
      await waitUntil(
        () => fdsOn(rsyslog.pid, file.dev, file.inode as number).length === 0,
        'rsyslogd to close it',
        30_000,
      );
    });
    assert.equal(limboLists(file), false);
    assert.equal(freed, file.allocated, 'statfs: the space came back');
    await rsyslog.send('after HUP'); // and it logs on, to a new file
  });

  it('PostgreSQL: the logger holds its removed log; HUP does not free it, the pg_rotate_logfile() limbo advises does', async () => {
    pg.sql("DO $$ BEGIN FOR i IN 1..200 LOOP RAISE LOG 'limbo test line %', i; END LOOP; END $$;");
    await waitUntil(
      () => readFileSync(pg.log, 'utf8').includes('limbo test line 200'),
      'the log lines',
      30_000,
    );
    unlinkSync(pg.log);
    const file = assertLimboSees(pg.log, [pg.logger]);
    const fd = file.holders[0]?.fds[0] as number;
    assert.deepEqual(
      { ...fdFlags(pg.logger, fd), pos: 0 },
      { access: 'w', append: true, pos: 0 },
      'the logger appends',
    );

    // limbo's advice: PostgreSQL's own rotation, not a signal. The command connects where libpq's
    // defaults say: this instance, on a port and socket of its own, is named through PGHOST and
    // PGPORT (which runuser passes on), and the command runs exactly as printed.
    const plan = reclaimPlan(file);
    assert.equal(plan.decision?.verdict, 'truncate');
    assert.equal(plan.release?.length, 1);
    const [step] = plan.release ?? [];
    assert.equal(step?.kind, 'reopen');
    assert.deepEqual(step?.pids, [pg.logger]);
    assert.match(
      step?.command ?? '',
      /^runuser -u postgres -- psql -d postgres -c 'SELECT pg_rotate_logfile\(\)'$/,
    );
    assert.match(step?.message ?? '', /pg_ctl logrotate/);
    assert.doesNotMatch(`${step?.command}`, /kill|HUP/);

    process.kill(pg.postmaster, 'SIGHUP'); // reload the configuration (the postmaster passes it on)
    process.kill(pg.logger, 'SIGHUP');
    // The logger handles a reload at the top of its loop: once two lines sent one after the other
    // have reached the removed file, it has been round that loop since the signal.
    const link = `/proc/${pg.logger}/fd/${fd}`;
    for (const line of ['after HUP one', 'after HUP two']) {
      pg.sql(`DO $$ BEGIN RAISE LOG '${line}'; END $$;`);
      await waitUntil(
        () => readFileSync(link, 'utf8').includes(line),
        `"${line}" in the removed log`,
        30_000,
      );
    }
    assert.equal(fdsOn(pg.logger, file.dev, file.inode as number).length, 1, 'HUP did not free it');

    run('sh', ['-c', step?.command as string], { env: pgEnv() }); // exactly what limbo printed
    await waitUntil(
      () => fdsOn(pg.logger, file.dev, file.inode as number).length === 0,
      'the logger to let go',
      30_000,
    );
    assert.equal(limboLists(file), false);
    assert.ok(statSync(pg.log).isFile(), 'it opened a new log under the same name');
  });

  it("PostgreSQL: a WITH HOLD cursor's spilled tuplestore, removed while held, is read back with pread; limbo asks for --force and its pg_terminate_backend frees it", async () => {
    const { session, path } = await spillRemovedCursor();
    const file = assertLimboSees(path, [session.backend]);
    const fd = file.holders[0]?.fds[0] as number;
    assert.ok(file.allocated > 5 * 1024 * 1024, `${file.allocated} bytes`);
    assert.deepEqual(
      fdFlags(session.backend, fd),
      { access: 'rw', append: false, pos: 0 },
      'read and written with pread/pwrite',
    );

    // The backend still reads the removed file: every row is there.
    assert.equal((await session.query('FETCH ABSOLUTE 99999 FROM c;')).split('|')[0]?.trim(), '99999');
    assert.equal(fdFlags(session.backend, fd).pos, 0, 'pread: the offset never moves');

    // limbo's verdict: the backend reads it back, so truncating loses data: --force only, and
    // not PostgreSQL's data or WAL (a temporary file). Its advice: end that backend.
    const plan = reclaimPlan(file);
    assert.equal(plan.decision?.verdict, 'needs-force');
    assert.deepEqual(reasonCodes(plan), [{ code: 'reads-data', pid: session.backend }]);
    assert.match(
      plan.decision?.reasons[0]?.message ?? '',
      /temporary file.*could not read.*fewer rows without an error/,
    );
    assert.equal(plan.decision?.durableState, null);
    assert.equal(plan.release?.length, 1);
    const [step] = plan.release ?? [];
    assert.equal(step?.kind, 'terminate');
    assert.deepEqual(step?.pids, [session.backend]);
    assert.match(step?.loses ?? '', /session ends/);
    assert.equal(
      step?.command,
      `runuser -u postgres -- psql -d postgres -c 'SELECT pg_terminate_backend(${session.backend})'`,
    );

    run('sh', ['-c', step?.command as string], { env: pgEnv() }); // exactly what limbo printed
    await waitUntil(() => !isAlive(session.backend), 'the backend to exit', 30_000);
    assert.equal(limboLists(file), false);
    await session.close();
  });

  it('PostgreSQL: truncating that file under the backend (what reclaim does) loses the rows: an error, or no rows and no error', async () => {
    const { session, path } = await spillRemovedCursor();
    assert.equal((await session.query('FETCH ABSOLUTE 10 FROM c;')).split('|')[0], '10');
    const fd = openSync(`/proc/${session.backend}/fd/${deletedFd(session.backend, path)}`, 'r+');
    ftruncateSync(fd, 0);
    closeSync(fd);
    // Rows beyond the block it has in its buffer are gone: PostgreSQL 15 either fails ("read only
    // 96 of 111 bytes", when a tuple was cut) or takes end-of-file for the end of the result and
    // returns no rows, without a word. Which one depends on where the last read left off; after
    // the error the cursor cannot be used at all.
    assert.match(
      await session.query('FETCH ABSOLUTE 99999 FROM c;'),
      /^(|ERROR: {2}could not read from tuplestore temporary file: read only \d+ of \d+ bytes\n)$/,
    );
    await session.query('CLOSE c;');
    await session.close();
  });

  it('Redis: a removed AOF stays open for appending; limbo asks for --force and its BGREWRITEAOF frees it', async () => {
    redis.cli('eval', "for i=1,20000 do redis.call('set','key'..i,string.rep('v',200)) end", '0');
    const aofDir = join(redis.dir, 'appendonlydir');
    const [incr] = readdirSync(aofDir).filter((entry) => entry.endsWith('.incr.aof'));
    assert.ok(incr);
    const path = join(aofDir, incr);
    unlinkSync(path);
    const file = assertLimboSees(path, [redis.pid]);
    const fd = file.holders[0]?.fds[0] as number;
    assert.deepEqual({ ...fdFlags(redis.pid, fd), pos: 0 }, { access: 'w', append: true, pos: 0 });
    assert.ok(file.allocated > 4 * 1024 * 1024, `${file.allocated} bytes`);

    // limbo's verdict: it only appends, but it is Redis's durability log: --force only. Its
    // advice: BGREWRITEAOF (the command assumes the default port; this instance has its own).
    const plan = reclaimPlan(file);
    assert.equal(plan.decision?.verdict, 'needs-force');
    assert.deepEqual(reasonCodes(plan), [{ code: 'durable-state', pid: null }]);
    assert.equal(plan.decision?.durableState?.program, 'Redis');
    assert.match(plan.decision?.durableState?.what ?? '', /append-only file/);
    assert.match(plan.decision?.durableState?.safeStep ?? '', /BGREWRITEAOF/);
    assert.deepEqual(
      plan.release?.map(({ kind, command, pids }) => ({ kind, command, pids })),
      [{ kind: 'reopen', command: 'redis-cli BGREWRITEAOF', pids: [redis.pid] }],
    );
    assert.ok(plan.recoverFirst, 'recover offered first');

    const freed = await freedBeyondNamedFiles(redisDir, async () => {
      assert.match(redis.cli(...(plan.release?.[0]?.command ?? '').split(' ').slice(1)), /rewriting started/);
      // The parent closes the old incremental file (in a background thread) when the rewrite
      // starts; the rewrite's forked child inherited it and holds it until it exits. Once the
      // rewrite is done the old base file is unlinked and closed in the background too: ask
      // Redis first, then look for what it still holds, in that order.
      await waitUntil(
        () =>
          /^aof_rewrite_in_progress:0\r?$/m.test(redis.cli('info', 'persistence')) &&
          childrenOf(redis.pid).filter(isAlive).length === 0 &&
          !holdsDeleted(redis.pid),
        'the rewrite to finish and the old AOF to be closed',
        60_000,
      );
    });
    assert.equal(limboLists(file), false);
    assert.equal(freed, file.allocated, 'statfs: the space came back');
  });

  it('SQLite in WAL mode: the database, its -wal and its -shm, removed while open, are all listed with their holder; limbo asks for --force and offers recover', async () => {
    const dir = scratch('sqlite');
    const db = join(dir, 'app.db');
    const holder = await startSqliteHolder(db, 2000);
    stops.push(() => holder.stop());
    for (const suffix of ['', '-wal', '-shm']) unlinkSync(`${db}${suffix}`);
    const main = assertLimboSees(db, [holder.pid]);
    const wal = assertLimboSees(`${db}-wal`, [holder.pid]);
    const shm = assertLimboSees(`${db}-shm`, [holder.pid]);
    assert.ok(
      wal.allocated > main.allocated,
      'the committed rows live in the -wal: nothing was checkpointed',
    );
    assert.ok((shm.holders[0]?.mappings ?? 0) > 0, 'the -shm is mapped shared');
    for (const file of [main, wal]) {
      assert.equal(fdFlags(holder.pid, file.holders[0]?.fds[0] as number).access, 'rw');
    }
    // limbo's verdict on the database and its -wal: read back, SQLite's state: --force only,
    // with `limbo recover` offered first.
    for (const file of [main, wal]) {
      const plan = reclaimPlan(file);
      assert.equal(plan.decision?.verdict, 'needs-force', String(file.path));
      assert.deepEqual(
        reasonCodes(plan).sort((a, b) => a.code.localeCompare(b.code)),
        [
          { code: 'durable-state', pid: null },
          { code: 'reads-data', pid: holder.pid },
        ],
        String(file.path),
      );
      assert.match(plan.decision?.durableState?.what ?? '', /SQLite/, String(file.path));
      assert.match(plan.recoverFirst ?? '', /^limbo recover /, String(file.path));
    }
    await holder.stop();
    assert.equal(limboLists(wal), false, 'exit frees them all');
  });
});
