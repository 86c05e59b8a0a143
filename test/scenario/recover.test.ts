// `limbo recover` against real processes: the copy is compared with what the holder still
// reads through /proc, byte for byte, and its blocks with the source's.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  ftruncateSync,
  lstatSync,
  openSync,
  readFileSync,
  readlinkSync,
  readSync,
  statSync,
  symlinkSync,
  unlinkSync,
  utimesSync,
  writeFileSync,
  writeSync,
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
} from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { recoverFile } from '../../src/actions/recover.js';
import type { RecoverJson } from '../../src/actions/recover-json.js';
import { copySparse } from '../../src/actions/sparse-copy.js';
import { parseTarget, type Target } from '../../src/actions/target.js';
import { nativeAddon } from '../../src/native.js';
import { runAction } from '../helpers/action-commands.js';
import { kernelStat, startHolder, type Holder } from '../helpers/holder.js';
import { repoRoot } from '../helpers/paths.js';
import { isRoot, makeScratch, type Scratch } from '../helpers/scratch.js';
import { assertMatchesSchema } from '../helpers/schema.js';
import { inspectSqlite, PYTHON, run, startSqliteHolder } from '../helpers/services.js';

let scratch: Scratch;
const holders: Holder[] = [];
let counter = 0;
const stops: (() => Promise<void>)[] = [];
const NOBODY = 65534;
const sqliteMissing = existsSync(PYTHON) ? false : `needs ${PYTHON} (.ci/run installs python3)`;
const GiB = 1024 ** 3;

async function hold(ops: string[]): Promise<Holder> {
  const holder = await startHolder(ops);
  holders.push(holder);
  return holder;
}

function fresh(name: string): string {
  return join(scratch.dir, `${name}-${++counter}`);
}

function sha256(path: string): string {
  const hash = createHash('sha256');
  const fd = openSync(path, 'r');
  const buffer = Buffer.alloc(16 * 1024 * 1024);
  try {
    for (let read; (read = readSync(fd, buffer, 0, buffer.length, null)) > 0;) {
      hash.update(buffer.subarray(0, read));
    }
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}

function recoverJson(args: string[], env: NodeJS.ProcessEnv = {}): { code: number; json: RecoverJson } {
  const run = runAction(['recover', '--json', ...args], env);
  assert.ok(run.stdout.startsWith('{'), `JSON expected, got: ${run.stdout}${run.stderr}`);
  const json = JSON.parse(run.stdout) as RecoverJson;
  assertMatchesSchema('limbo.recover-1', json);
  return { code: run.code, json };
}

/** A 1 GiB sparse file with 8 KiB of data at its start, middle and end, held and unlinked. */
async function holdSparse(): Promise<{ holder: Holder; link: string }> {
  const path = fresh('sparse.img');
  const fd = openSync(path, 'w');
  ftruncateSync(fd, GiB);
  for (const at of [0, GiB / 2 + 12345, GiB - 8192]) writeSync(fd, randomBytes(8192), 0, 8192, at);
  closeSync(fd);
  const holder = await hold(['open', path]);
  unlinkSync(path);
  return { holder, link: `/proc/${holder.pid}/fd/3` };
}

before(() => {
  scratch = makeScratch('limbo-recover-');
});

after(async () => {
  await Promise.all([...holders.map((holder) => holder.stop()), ...stops.map((stop) => stop())]);
  scratch.remove();
});

describe('limbo recover on real processes', () => {
  it('copies a deleted file out: identical content (sha256), mode and times kept, size verified', async () => {
    const path = fresh('app.log');
    writeFileSync(path, randomBytes(5_000_003));
    chmodSync(path, 0o640);
    utimesSync(path, new Date('2024-01-02T03:04:05.678Z'), new Date('2023-06-07T08:09:10.111Z'));
    const holder = await hold(['open', path]);
    unlinkSync(path);
    const link = `/proc/${holder.pid}/fd/3`;
    const dest = fresh('recovered.log');
    const { code, json } = recoverJson([`${holder.pid}:3`, dest]);
    assert.equal(code, 0, json.reason ?? '');
    assert.equal(json.status, 'copied');
    assert.equal(json.size, 5_000_003);
    assert.equal(json.mode, '0640');
    const st = statSync(dest);
    assert.equal(st.mode & 0o7777, 0o640);
    assert.equal(st.mtime.toISOString(), '2023-06-07T08:09:10.111Z');
    assert.equal(st.atime.toISOString(), '2024-01-02T03:04:05.678Z');
    // Reading DEST moves its atime (relatime): compare the times first.
    assert.equal(sha256(dest), sha256(link), 'the same bytes the holder still reads');
    assert.deepEqual(json.via, { pid: holder.pid, fd: 3, mapping: null });
  });

  for (const method of ['native', 'javascript'] as const) {
    it(`keeps a 1 GiB sparse file sparse (${method === 'native' ? 'SEEK_DATA/SEEK_HOLE' : 'zero blocks, LIMBO_NO_NATIVE=1'})`, async (t) => {
      if (method === 'native' && typeof nativeAddon()?.seekData !== 'function') {
        return t.skip('the native addon is not built');
      }
      const { holder, link } = await holdSparse();
      const source = kernelStat(link);
      const dest = fresh('sparse-copy.img');
      const env = method === 'javascript' ? { LIMBO_NO_NATIVE: '1' } : {};
      const { code, json } = recoverJson([`${holder.pid}:3`, dest], env);
      assert.equal(code, 0, json.reason ?? '');
      assert.equal(json.holes, method === 'native' ? 'seek-data' : 'zero-blocks');
      const copy = kernelStat(dest);
      assert.equal(copy.size, GiB);
      assert.ok(
        copy.allocated <= source.allocated + 8192,
        `the copy holds ${copy.allocated} bytes, the source ${source.allocated}: the holes stayed holes`,
      );
      assert.equal(json.destAllocated, copy.allocated);
      assert.equal(sha256(dest), sha256(link));
    });
  }

  it('refuses a DEST that exists, and one that is a symlink (even a dangling one), touching neither', async () => {
    const path = fresh('victim.log');
    writeFileSync(path, 'held\n');
    const holder = await hold(['open', path]);
    unlinkSync(path);
    const existing = fresh('existing');
    writeFileSync(existing, 'keep me\n');
    const precious = fresh('precious');
    writeFileSync(precious, 'do not overwrite\n');
    const symlink = fresh('symlink');
    symlinkSync(precious, symlink);
    const dangling = fresh('dangling');
    const danglingTarget = fresh('nowhere');
    symlinkSync(danglingTarget, dangling);

    const cases: [string, RegExp][] = [
      [existing, /exists: limbo never overwrites anything/],
      [symlink, /is a symbolic link: limbo never writes through one/],
      [dangling, /is a symbolic link: limbo never writes through one/],
    ];
    for (const [dest, message] of cases) {
      const { code, json } = recoverJson([`${holder.pid}:3`, dest]);
      assert.equal(code, 1);
      assert.equal(json.status, 'refused');
      assert.match(json.reason ?? '', message);
    }
    assert.equal(readFileSync(existing, 'utf8'), 'keep me\n');
    assert.equal(readFileSync(precious, 'utf8'), 'do not overwrite\n');
    assert.equal(readlinkSync(dangling), danglingTarget);
    assert.throws(() => lstatSync(danglingTarget), /ENOENT/, 'nothing was created through the dangling link');
  });

  it(
    'recovers a file held only by a memory mapping, through map_files',
    { skip: !isRoot && 'map_files needs CAP_SYS_ADMIN' },
    async () => {
      const path = fresh('mapped.bin');
      writeFileSync(path, randomBytes(40_000));
      const expected = sha256(path);
      const holder = await hold(['open', path, 'mmap', 'close']);
      unlinkSync(path);
      const line = readFileSync(`/proc/${holder.pid}/maps`, 'utf8')
        .split('\n')
        .find((l) => l.endsWith(`${path} (deleted)`));
      assert.ok(line, 'the mapping is there');
      const range = line.split(' ')[0] as string;
      const truth = kernelStat(`/proc/${holder.pid}/map_files/${range}`);
      const dest = fresh('from-mapping.bin');
      const { code, json } = recoverJson([`${truth.dev}:${truth.inode}`, dest]);
      assert.equal(code, 0, json.reason ?? '');
      assert.deepEqual(json.via, { pid: holder.pid, fd: null, mapping: range });
      assert.equal(sha256(dest), expected);
    },
  );

  it('gives an O_TMPFILE file a name with --link (no copy), and refuses --link for any other deleted file', async () => {
    const holder = await hold(['tmpfile', scratch.dir, '12288']);
    const truth = kernelStat(`/proc/${holder.pid}/fd/3`);
    const dest = fresh('named');
    const { code, json } = recoverJson([`${truth.dev}:${truth.inode}`, dest, '--link']);
    assert.equal(code, 0, json.reason ?? '');
    assert.equal(json.status, 'linked');
    const named = kernelStat(dest);
    assert.equal(named.inode, truth.inode, 'the very inode the process holds');
    assert.equal(named.nlink, 1);

    const path = fresh('plain-deleted');
    writeFileSync(path, 'x');
    const plain = await hold(['open', path]);
    unlinkSync(path);
    const refused = recoverJson([`${plain.pid}:3`, fresh('cannot-link'), '--link']);
    assert.equal(refused.code, 1);
    assert.match(refused.json.reason ?? '', /only to an O_TMPFILE file opened without O_EXCL/);
  });

  it('warns when the holder writes to the file during the copy', async () => {
    const path = fresh('busy.log');
    const holder = await hold([
      'create',
      path,
      String(8 * 1024 * 1024),
      'unlink',
      path,
      'write-on-usr1',
      '4096',
    ]);
    const link = `/proc/${holder.pid}/fd/3`;
    let signalled = false;
    const result = recoverFile(
      { target: parseTarget(`${holder.pid}:3`) as Target, dest: fresh('busy-copy.log') },
      {
        onProgress: () => {
          if (signalled) return;
          signalled = true;
          process.kill(holder.pid, 'SIGUSR1');
          const deadline = Date.now() + 5000;
          while (kernelStat(link).size === 8 * 1024 * 1024 && Date.now() < deadline);
        },
      },
    );
    assert.equal(result.status, 'copied', result.reason ?? '');
    assert.equal(result.sizeBytes, 8 * 1024 * 1024, 'the copy holds the size it started with');
    assert.ok(
      result.warnings.some((w) =>
        /the holder wrote to it during the copy \(size 8388608 → 8392704 bytes\)/.test(w),
      ),
      result.warnings.join('\n'),
    );
  });

  it('refuses a target nobody holds, and one that is not a regular file', async () => {
    const gone = recoverJson(['0:0:1', fresh('nothing')]);
    assert.equal(gone.code, 1);
    assert.match(gone.json.reason ?? '', /no process holds 0:0:1/);
    const holder = await hold(['memfd', 'x', '1']);
    const pipe = recoverJson([`${holder.pid}:0`, fresh('pipe')]);
    assert.equal(pipe.code, 1);
    assert.match(pipe.json.reason ?? '', /not a regular file/);
  });

  it('exits 2 without exactly TARGET and DEST', () => {
    const run = runAction(['recover', '1:3']);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /give exactly a TARGET .* and a DEST/);
  });
});

describe('limbo recover of an SQLite database in WAL mode (python3 sqlite3)', { skip: sqliteMissing }, () => {
  const ROWS = 3000;

  /** The fd of `pid` whose link reads "PATH (deleted)". */
  function deletedFd(pid: number, path: string): number {
    const fd = readdirSync(`/proc/${pid}/fd`).find((entry) => {
      try {
        return readlinkSync(`/proc/${pid}/fd/${entry}`) === `${path} (deleted)`;
      } catch {
        return false;
      }
    });
    assert.ok(fd, `pid ${pid} holds no deleted ${path}`);
    return Number(fd);
  }

  it('brings back the -wal beside DEST, so every committed row is there; owner, mode and times kept', async (t) => {
    // The database belongs to another user, as a service's would: nobody.
    const dir = fresh('sqlite-owned');
    mkdirSync(dir);
    if (isRoot) chownSync(dir, NOBODY, NOBODY);
    const db = join(dir, 'app.db');
    const holder = await startSqliteHolder(db, ROWS, isRoot ? { uid: NOBODY, gid: NOBODY } : {});
    stops.push(() => holder.stop());
    const source = statSync(db);
    for (const suffix of ['', '-wal', '-shm']) unlinkSync(`${db}${suffix}`); // rm -rf of the directory's files
    const fd = deletedFd(holder.pid, db);
    const walFd = deletedFd(holder.pid, `${db}-wal`);
    const wal = kernelStat(`/proc/${holder.pid}/fd/${walFd}`);
    assert.ok(wal.size > kernelStat(`/proc/${holder.pid}/fd/${fd}`).size, 'the rows live in the -wal');

    const dest = fresh('recovered.db');
    const { code, json } = recoverJson([`${holder.pid}:${fd}`, dest]);
    assert.equal(code, 0, json.reason ?? '');
    assert.equal(json.status, 'copied');
    assert.deepEqual(json.missingSiblings, []);
    assert.deepEqual(
      json.siblings.map((s) => ({
        suffix: s.suffix,
        path: s.path,
        dest: s.dest,
        status: s.status,
        deleted: s.deleted,
        via: s.via,
      })),
      [
        {
          suffix: '-wal',
          path: `${db}-wal`,
          dest: `${dest}-wal`,
          status: 'copied',
          deleted: true,
          via: { pid: holder.pid, fd: walFd, mapping: null },
        },
      ],
      'the -wal is copied and the -shm is not (SQLite rebuilds it)',
    );
    assert.equal(json.siblings[0]?.size, wal.size);
    assert.equal(statSync(`${dest}-wal`).size, wal.size);
    assert.equal(existsSync(`${dest}-shm`), false);

    // Without its -wal the copy has nothing: not even the table (nothing was checkpointed).
    const lonely = fresh('lonely.db');
    copyFileSync(dest, lonely);
    assert.throws(() => inspectSqlite(lonely), /no such table/);

    const st = statSync(dest);
    assert.equal(st.mode & 0o7777, source.mode & 0o7777);
    assert.equal(st.mtime.toISOString(), source.mtime.toISOString());
    assert.deepEqual(inspectSqlite(dest), {
      rows: ROWS,
      ids: (ROWS * (ROWS - 1)) / 2,
      changed: 0,
      integrity: 'ok',
    });
    if (!isRoot) return t.skip('keeping the owner needs root');
    assert.deepEqual(json.owner, { uid: NOBODY, gid: NOBODY });
    assert.deepEqual([st.uid, st.gid], [NOBODY, NOBODY]);
    const run = runAction(['recover', `${holder.pid}:${fd}`, fresh('text.db')]);
    assert.match(run.stdout, /owner nobody \(uid 65534, gid 65534\)/);
    assert.match(
      run.stdout,
      /with its -wal: .*app\.db-wal \(deleted\) \(fd \d+ of pid \d+\) into .*text\.db-\d+-wal/,
    );
  });

  it('brings back the -journal of an unfinished transaction, so opening the copy rolls it back', async () => {
    const dir = fresh('sqlite-journal');
    mkdirSync(dir);
    const db = join(dir, 'app.db');
    const holder = await startSqliteHolder(db, ROWS, { mode: 'unfinished' });
    stops.push(() => holder.stop());
    for (const suffix of ['', '-journal']) unlinkSync(`${db}${suffix}`);
    const fd = deletedFd(holder.pid, db);
    const journalFd = deletedFd(holder.pid, `${db}-journal`);

    const dest = fresh('rolled-back.db');
    const { code, json } = recoverJson([`${holder.pid}:${fd}`, dest]);
    assert.equal(code, 0, json.reason ?? '');
    assert.deepEqual(
      json.siblings.map((s) => [s.suffix, s.status, s.via.fd]),
      [['-journal', 'copied', journalFd]],
    );
    assert.deepEqual(json.missingSiblings, []);
    // The main file alone holds half a transaction: rows it rewrote before it was removed.
    const lonely = fresh('half.db');
    copyFileSync(dest, lonely);
    assert.ok(inspectSqlite(lonely).changed > 0, 'pages of the unfinished transaction reached the main file');
    assert.deepEqual(inspectSqlite(dest), {
      rows: ROWS,
      ids: (ROWS * (ROWS - 1)) / 2,
      changed: 0,
      integrity: 'ok',
    });
  });

  it('says the -wal is gone for good when the holder has only the database open', async () => {
    const path = fresh('wal-mode.db');
    // A database left in WAL mode (header byte 18 = 2) by a clean close, which removes the -wal.
    run(PYTHON, [
      '-c',
      "import sqlite3, sys; db = sqlite3.connect(sys.argv[1]); db.execute('PRAGMA journal_mode=WAL'); db.execute('CREATE TABLE t (id)'); db.commit(); db.close()",
      path,
    ]);
    const holder = await hold(['open', path]);
    unlinkSync(path);
    const dest = fresh('no-wal.db');
    const { code, json } = recoverJson([`${holder.pid}:3`, dest]);
    assert.equal(code, 0, json.reason ?? '');
    assert.deepEqual(json.siblings, []);
    assert.deepEqual(json.missingSiblings, ['-wal']);
    assert.ok(
      json.warnings.some((w) =>
        /SQLite database in WAL mode .* holds no -wal beside it: .* are gone/.test(w),
      ),
      json.warnings.join('\n'),
    );

    // A -wal with that name on disk, which no process holds: limbo cannot tell it is this
    // database's, and says what to do with it instead of calling the rows gone.
    writeFileSync(`${path}-wal`, '');
    const again = recoverJson([`${holder.pid}:3`, fresh('maybe-wal.db')]).json;
    assert.deepEqual(again.missingSiblings, []);
    assert.ok(
      again.warnings.some((w) =>
        w.includes(`but ${path}-wal exists: if it belongs to this database, copy it to`),
      ),
      again.warnings.join('\n'),
    );
  });

  it("finds the -wal on disk beside a chrooted holder's database, in the holder's own root", async (t) => {
    if (sqliteMissing) return t.skip(sqliteMissing);
    if (!isRoot) return t.skip('chroot needs root');
    // A chrooted holder's fd link names the file from limbo's root (the chroot's path in front):
    // the -wal beside it is looked for in the holder's root under the holder's own name.
    const root = fresh('chroot');
    mkdirSync(root);
    const built = spawnSync(
      'cc',
      ['-O2', '-static', '-pthread', '-o', join(root, 'holder'), `${repoRoot}test/fixtures/holder.c`, '-ldl'],
      { encoding: 'utf8' },
    );
    if (built.status !== 0) return t.skip(`cannot link the holder statically: ${built.stderr.trim()}`);
    const path = join(root, 'wal-mode.db');
    run(PYTHON, [
      '-c',
      "import sqlite3, sys; db = sqlite3.connect(sys.argv[1]); db.execute('PRAGMA journal_mode=WAL'); db.execute('CREATE TABLE t (id)'); db.commit(); db.close()",
      path,
    ]);
    const holder = await startHolder(['open', '/wal-mode.db'], {
      binary: '/holder',
      wrapper: ['chroot', root],
    });
    holders.push(holder);
    assert.equal(readlinkSync(`/proc/${holder.pid}/root`), root);
    unlinkSync(path);
    writeFileSync(`${path}-wal`, '');
    const { code, json } = recoverJson([`${holder.pid}:3`, fresh('chrooted-wal.db')]);
    assert.equal(code, 0, json.reason ?? '');
    assert.deepEqual(json.missingSiblings, []);
    assert.ok(
      json.warnings.some((w) =>
        w.includes(`but ${path}-wal exists: if it belongs to this database, copy it to`),
      ),
      json.warnings.join('\n'),
    );
  });

  it("refuses when DEST-wal exists: SQLite would read it as the copy's own", async () => {
    const dir = fresh('sqlite-refuse');
    mkdirSync(dir);
    const db = join(dir, 'app.db');
    const holder = await startSqliteHolder(db, 10);
    stops.push(() => holder.stop());
    unlinkSync(db);
    const dest = fresh('taken.db');
    writeFileSync(`${dest}-wal`, "someone else's");
    const { code, json } = recoverJson([`${holder.pid}:${deletedFd(holder.pid, db)}`, dest]);
    assert.equal(code, 1);
    assert.equal(json.status, 'refused');
    assert.match(json.reason ?? '', /-wal exists.*SQLite would read it/);
    assert.equal(existsSync(dest), false, 'nothing written');
  });
});

describe('sparse copy', () => {
  for (const method of ['seek-data', 'zero-blocks'] as const) {
    it(`copies data ranges at their offsets and leaves the rest as holes (${method})`, (t) => {
      if (method === 'seek-data' && typeof nativeAddon()?.seekData !== 'function') {
        return t.skip('the native addon is not built');
      }
      const source = fresh('src');
      const fd = openSync(source, 'w+');
      ftruncateSync(fd, 10 * 1024 * 1024);
      const data = randomBytes(5000); // not a multiple of the block: the tail run must be written too
      writeSync(fd, data, 0, data.length, 3 * 1024 * 1024 + 100);
      const dest = fresh('dst');
      const out = openSync(dest, 'w');
      const outcome = copySparse(fd, out, 10 * 1024 * 1024, { method });
      ftruncateSync(out, 10 * 1024 * 1024);
      closeSync(out);
      closeSync(fd);
      assert.equal(outcome.method, method);
      assert.equal(sha256(dest), sha256(source));
      assert.ok(
        kernelStat(dest).allocated <= 16384,
        `only the data is allocated: ${kernelStat(dest).allocated}`,
      );
    });
  }
});
