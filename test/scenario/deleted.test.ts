// `limbo deleted` against real processes in real kernel states; every expectation is what
// the kernel itself reports through /proc for the same file.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { kernelStat, startHolder, type Holder, type HolderOptions } from '../helpers/holder.js';
import type { DeletedJson } from '../../src/analyses/deleted-json.js';
import { findFile, limboDeleted, runLimbo } from '../helpers/limbo.js';
import { assertMatchesSchema } from '../helpers/schema.js';

const isRoot = process.geteuid?.() === 0;
let dir: string;
const holders: Holder[] = [];

async function hold(ops: string[], options: HolderOptions = {}): Promise<Holder> {
  const holder = await startHolder(ops, options);
  holders.push(holder);
  return holder;
}

function hex(text: string | Buffer): string {
  return `hex:${Buffer.from(text).toString('hex')}`;
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'limbo-deleted-'));
  chmodSync(dir, 0o755); // the unprivileged holder must reach its own subdirectory
});

after(async () => {
  await Promise.all(holders.map((holder) => holder.stop()));
  rmSync(dir, { recursive: true, force: true });
});

describe('limbo deleted on real processes', () => {
  it('lists a plain deleted file with the blocks it really holds', async () => {
    const path = join(dir, 'plain.log');
    const holder = await hold(['create', path, '65536', 'unlink', path]);
    const truth = kernelStat(`/proc/${holder.pid}/fd/3`);
    assert.equal(truth.nlink, 0);
    const file = findFile(limboDeleted(['--pid', String(holder.pid)]), truth.dev, truth.inode);
    assert.ok(file, 'the deleted file is listed');
    assert.equal(file.path, path);
    assert.equal(file.kind, 'file');
    assert.equal(file.size, 65536);
    assert.equal(file.allocated, truth.allocated);
    assert.deepEqual(
      file.holders.map((h) => [h.pid, h.comm, h.fds, h.mappings]),
      [[holder.pid, 'holder', [3], 0]],
    );
    const mountPoint = execFileSync('findmnt', ['-n', '-o', 'TARGET', '--target', dir], {
      encoding: 'utf8',
    }).trim();
    assert.equal(file.mount, mountPoint);
  });

  it('merges dup’d fds and a forked child into one entry that names both processes', async () => {
    const path = join(dir, 'shared.dat');
    const holder = await hold(['create', path, '8192', 'unlink', path, 'dup', '3', 'fork']);
    const truth = kernelStat(`/proc/${holder.pid}/fd/3`);
    const report = limboDeleted(['--pid', String(holder.pid)]);
    const entries = report.files.filter((f) => f.dev === truth.dev && f.inode === truth.inode);
    assert.equal(entries.length, 1, 'one entry per inode');
    const child = holder.children[0] as number;
    assert.deepEqual(
      entries[0]?.holders.map((h) => [h.pid, h.fds]),
      [
        [holder.pid, [3, 4, 5, 6]],
        [child, [3, 4, 5, 6]],
      ].sort((a, b) => (a[0] as number) - (b[0] as number)),
    );
    assert.equal(entries[0]?.allocated, truth.allocated, 'counted once, not once per fd');
  });

  it('leaves out a file unlinked under its name while another hard link remains', async () => {
    const path = join(dir, 'linked-a');
    const holder = await hold(['create', path, '4096', 'link', path, join(dir, 'linked-b'), 'unlink', path]);
    const truth = kernelStat(`/proc/${holder.pid}/fd/3`);
    assert.equal(truth.nlink, 1, 'the kernel still counts the other name');
    assert.equal(findFile(limboDeleted(), truth.dev, truth.inode), undefined);
  });

  it('leaves out a live file whose real name ends in " (deleted)"', async () => {
    const path = join(dir, 'x (deleted)');
    const holder = await hold(['create', path, '4096']);
    const truth = kernelStat(`/proc/${holder.pid}/fd/3`);
    assert.equal(truth.nlink, 1);
    assert.equal(findFile(limboDeleted(), truth.dev, truth.inode), undefined);
  });

  it('spends no next step on a held file that holds no blocks', async () => {
    const empty = join(dir, 'empty.log');
    const holder = await hold(['create', empty, '0', 'unlink', empty]);
    const table = runLimbo(['deleted', '--pid', String(holder.pid)]);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /empty\.log/);
    assert.match(table.stdout, /\nNothing to free: these files hold no blocks\.\n/);
    assert.doesNotMatch(table.stdout, /For the biggest|restart|kill /i);
  });

  it('tells size from allocated space for a sparse file', async () => {
    const path = join(dir, 'sparse.img');
    const holder = await hold(['sparse', path, String(1024 ** 3), '8192', 'unlink', path]);
    const truth = kernelStat(`/proc/${holder.pid}/fd/3`);
    const file = findFile(limboDeleted(['--pid', String(holder.pid)]), truth.dev, truth.inode);
    assert.ok(file);
    assert.equal(file.size, 1024 ** 3);
    assert.equal(file.allocated, truth.allocated);
    assert.ok(
      file.allocated < 1024 * 1024,
      `a sparse file holds only what was written, not ${file.allocated}`,
    );
  });

  it('lists a memfd as RAM with no mount', async () => {
    const holder = await hold(['memfd', 'limbo-test-cache', '100000']);
    const truth = kernelStat(`/proc/${holder.pid}/fd/3`);
    const file = findFile(limboDeleted(['--pid', String(holder.pid)]), truth.dev, truth.inode);
    assert.ok(file);
    assert.equal(file.kind, 'memfd');
    assert.equal(file.path, '/memfd:limbo-test-cache');
    assert.equal(file.mount, null);
    assert.equal(file.ramBacked, true);
    assert.equal(file.allocated, truth.allocated);
  });

  it(
    'places a deleted file on its own tmpfs mount and totals it there',
    { skip: !isRoot && 'needs root to mount tmpfs' },
    async () => {
      const mountPoint = join(dir, 'tmpfs');
      mkdirSync(mountPoint);
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'limbo-test', mountPoint]);
      try {
        const path = join(mountPoint, 'in-ram.tmp');
        const holder = await hold(['create', path, '200000', 'unlink', path]);
        const truth = kernelStat(`/proc/${holder.pid}/fd/3`);
        const report = limboDeleted(['--mount', mountPoint]);
        const file = findFile(report, truth.dev, truth.inode);
        assert.ok(file);
        assert.equal(file.mount, mountPoint);
        assert.equal(file.fstype, 'tmpfs');
        assert.equal(file.ramBacked, true);
        assert.equal(file.reclaimable, truth.allocated);
        assert.deepEqual(report.totals.byMount, [
          {
            mount: mountPoint,
            // limbo's own mount namespace, and the mount point names it on the host.
            mountNamespace: readlinkSync('/proc/self/ns/mnt'),
            mountPath: mountPoint,
            fstype: 'tmpfs',
            ramBacked: true,
            files: 1,
            size: 200000,
            allocated: truth.allocated,
            // tmpfs shares no blocks between files: closing frees all it holds.
            reclaimable: truth.allocated,
            reclaimableUnknown: 0,
          },
        ]);
        await holder.stop();
      } finally {
        execFileSync('umount', ['-l', mountPoint]);
      }
    },
  );

  it('finds a file held only by a memory mapping whose fd was closed', async () => {
    const path = join(dir, 'mapped.bin');
    const holder = await hold(['create', path, '16384', 'mmap', 'close', 'unlink', path]);
    assert.ok(!readdirSync(`/proc/${holder.pid}/fd`).includes('3'), 'the fd is closed');
    const report = limboDeleted(['--pid', String(holder.pid)]);
    const file = report.files.find((f) => f.path === path);
    assert.ok(file, 'the mapping keeps the file alive');
    assert.deepEqual(
      file.holders.map((h) => [h.pid, h.fds, h.mappings]),
      [[holder.pid, [], 1]],
    );
    assert.equal(file.allocated, 16384);
  });

  it('sees fds of a process whose main thread exited, through the live worker thread', async () => {
    const path = join(dir, 'thread.log');
    const holder = await hold(['create', path, '4096', 'unlink', path, 'thread-exit']);
    const tids = readdirSync(`/proc/${holder.pid}/task`).map(Number);
    const worker = tids.find((tid) => tid !== holder.pid) as number;
    assert.deepEqual(readdirSync(`/proc/${holder.pid}/fd`), [], 'the main fd dir is empty, as lsof sees it');
    const truth = kernelStat(`/proc/${holder.pid}/task/${worker}/fd/3`);
    const file = findFile(limboDeleted(['--pid', String(holder.pid)]), truth.dev, truth.inode);
    assert.ok(file, 'the hidden fd is found');
    assert.deepEqual(
      file.holders.map((h) => [h.pid, h.fds, h.tids]),
      [[holder.pid, [3], [worker]]],
    );
  });

  it('keeps names with newlines, escape sequences and invalid UTF-8 exact in JSON and escaped in the table', async () => {
    const names = [
      Buffer.from('line\nbreak.log'),
      Buffer.from('\x1b[31mred\x1b[0m.log'),
      Buffer.from([0x62, 0xff, 0xfe, 0x2e, 0x6c]),
    ];
    const ops = names.flatMap((name) => {
      const path = Buffer.concat([Buffer.from(`${dir}/`), name]);
      return ['create', hex(path), '4096', 'unlink', hex(path)];
    });
    const holder = await hold(ops);
    const report = limboDeleted(['--pid', String(holder.pid)]);
    const byFd = (fd: number) => {
      const truth = kernelStat(`/proc/${holder.pid}/fd/${fd}`);
      return findFile(report, truth.dev, truth.inode);
    };
    assert.equal(byFd(3)?.path, `${dir}/line\nbreak.log`);
    assert.equal(byFd(4)?.path, `${dir}/\x1b[31mred\x1b[0m.log`);
    const invalid = byFd(5);
    assert.ok(invalid?.pathBytes, 'invalid UTF-8 carries its exact bytes');
    assert.deepEqual(
      Buffer.from(invalid.pathBytes, 'base64'),
      Buffer.concat([Buffer.from(`${dir}/`), names[2] as Buffer]),
    );
    assert.equal(byFd(3)?.pathBytes, undefined, 'valid UTF-8 needs no pathBytes');

    const table = runLimbo(['deleted', '--pid', String(holder.pid)]);
    assert.equal(table.code, 0);
    assert.ok(!table.stdout.includes('\x1b'), 'no raw escape byte reaches the terminal');
    assert.ok(table.stdout.includes('line\\nbreak.log'));
    assert.ok(table.stdout.includes('\\e[31mred\\e[0m.log'));
    assert.ok(table.stdout.includes('b\\xff\\xfe.l'));
  });

  it(
    "places a file of a process in another mount namespace on that namespace's own mount",
    { skip: !isRoot && 'needs root to create a mount namespace' },
    async () => {
      const mountPoint = join(dir, 'private-mount');
      mkdirSync(mountPoint);
      const path = join(mountPoint, 'inside.log');
      const holder = await hold(['create', path, '8192', 'unlink', path], {
        wrapper: [
          'unshare',
          '--mount',
          '--propagation',
          'private',
          'sh',
          '-c',
          `mount -t tmpfs limbo-ns "${mountPoint}" && exec "$0" "$@"`,
        ],
      });
      const hostView = execFileSync('findmnt', ['-n', '-o', 'TARGET', '--target', mountPoint], {
        encoding: 'utf8',
      }).trim();
      assert.notEqual(hostView, mountPoint, "the mount is invisible from limbo's namespace");
      const truth = kernelStat(`/proc/${holder.pid}/fd/3`);
      const file = findFile(limboDeleted(['--pid', String(holder.pid)]), truth.dev, truth.inode);
      assert.ok(file);
      assert.equal(file.mount, mountPoint);
      assert.equal(file.fstype, 'tmpfs');
      const ownNamespace = execFileSync('readlink', [`/proc/${holder.pid}/ns/mnt`], {
        encoding: 'utf8',
      }).trim();
      assert.equal(file.holders[0]?.mountNamespace, ownNamespace);
    },
  );

  it('recognises an O_TMPFILE file by its #inode name', async () => {
    const holder = await hold(['tmpfile', dir, '12288']);
    const truth = kernelStat(`/proc/${holder.pid}/fd/3`);
    const file = findFile(limboDeleted(['--pid', String(holder.pid)]), truth.dev, truth.inode);
    assert.ok(file);
    assert.equal(file.kind, 'tmpfile');
    assert.equal(file.path, `${dir}/#${truth.inode}`);
    assert.equal(file.allocated, truth.allocated);
  });

  it(
    'as an unprivileged user shows its own files and counts the processes it cannot read',
    { skip: !isRoot && 'needs root to switch users' },
    async () => {
      const nobody = 65534;
      const shared = join(dir, 'nobody');
      mkdirSync(shared);
      chmodSync(shared, 0o777);
      const own = join(shared, 'own.log');
      const rootFile = join(dir, 'root-only.log');
      const ownHolder = await hold(['create', own, '4096', 'unlink', own], { uid: nobody });
      const rootHolder = await hold(['create', rootFile, '4096', 'unlink', rootFile]);
      const ownTruth = kernelStat(`/proc/${ownHolder.pid}/fd/3`);
      const rootTruth = kernelStat(`/proc/${rootHolder.pid}/fd/3`);

      const report = limboDeleted([], { uid: nobody });
      assert.ok(findFile(report, ownTruth.dev, ownTruth.inode), 'its own deleted file is listed');
      assert.equal(findFile(report, rootTruth.dev, rootTruth.inode), undefined, "root's file is not visible");
      assert.ok(report.incomplete.unreadableProcesses >= 1);
      assert.ok(report.incomplete.unreadablePids.includes(rootHolder.pid));
      const named = report.incomplete.processes?.find((p) => p.pid === rootHolder.pid);
      assert.deepEqual(named?.why, ['fd-directory', 'maps'], 'named, with what was refused');

      const table = runLimbo(['deleted'], { uid: nobody });
      assert.match(
        table.stdout,
        /Partial view: \d+ process(es)? could not be read \(run as root to see them\)/,
      );
    },
  );

  it('says when a filter matches nothing while others are held', async () => {
    const path = join(dir, 'plain.log');
    const holder = await hold(['create', path, '4096', 'unlink', path]);
    const run = runLimbo(['deleted', '--pid', String(holder.pid), '--kind', 'tmpfile']);
    assert.equal(run.code, 0, run.stderr);
    assert.match(
      run.stdout,
      new RegExp(
        `^No deleted file matches --pid ${holder.pid} --kind tmpfile; [\\d,]+ others? (is|are) held\\.\n`,
      ),
    );
  });

  it('calls the files it left out "more", not "smaller", when sorted by path', async () => {
    const a = join(dir, 'a-small.bin');
    const b = join(dir, 'b-big.bin');
    const holder = await hold([
      'create',
      a,
      '4096',
      'unlink',
      a,
      'create',
      b,
      String(1024 * 1024),
      'unlink',
      b,
    ]);
    const table = runLimbo(['deleted', '--pid', String(holder.pid), '--sort', 'path', '--limit', '1']);
    assert.match(table.stdout, /a-small\.bin/);
    assert.match(table.stdout, /\.\.\. 1 more file \(1\.0 MiB\) not shown: --all shows every file/);
  });

  it('sums totals from the files it lists and applies the filters', async () => {
    const big = join(dir, 'big.bin');
    const small = join(dir, 'small.bin');
    const holder = await hold([
      'create',
      big,
      String(2 * 1024 * 1024),
      'unlink',
      big,
      'create',
      small,
      '4096',
      'unlink',
      small,
    ]);
    const all = limboDeleted(['--pid', String(holder.pid)]);
    assert.equal(all.totals.files, all.files.length);
    assert.equal(
      all.totals.allocated,
      all.files.reduce((sum, f) => sum + f.allocated, 0),
    );
    assert.deepEqual(
      all.files.map((f) => f.path),
      [big, small],
      'biggest first',
    );
    const filtered = limboDeleted(['--pid', String(holder.pid), '--min-size', '1M']);
    assert.deepEqual(
      filtered.files.map((f) => f.path),
      [big],
    );
    const byPath = limboDeleted(['--pid', String(holder.pid), '--sort', 'path']);
    assert.deepEqual(
      byPath.files.map((f) => f.path),
      [big, small].sort(),
    );
    assert.deepEqual(limboDeleted(['--pid', String(holder.pid), '--kind', 'memfd']).files, []);
    const limited = limboDeleted(['--pid', String(holder.pid), '--limit', '1']);
    assert.deepEqual(
      limited.files.map((f) => f.path),
      [big],
    );
    assert.equal(limited.totals.allocated, limited.files[0]?.allocated, 'totals cover the files listed');
    const table = runLimbo(['deleted', '--pid', String(holder.pid), '--limit', '1']);
    assert.match(table.stdout, /1 smaller file \(4\.0 KiB\) not shown: --all shows every file/);
    assert.match(runLimbo(['deleted', '--pid', String(holder.pid), '--all']).stdout, /small\.bin/);
  });

  it('replays a saved snapshot after the holder is gone', async () => {
    const path = join(dir, 'replayed.log');
    const holder = await hold(['create', path, '4096', 'unlink', path]);
    const saved = join(dir, 'snapshot.json');
    const run = runLimbo(['snapshot', '--output', saved]);
    assert.equal(run.code, 0, run.stderr);
    await holder.stop();
    const live = runLimbo(['deleted', '--json', '--pid', String(holder.pid)]);
    assert.equal(live.code, 1, 'the live system no longer has it');
    assert.match(live.stderr, new RegExp(`no process ${holder.pid}`));
    const table = runLimbo(['deleted', '--from', saved, '--pid', String(holder.pid)]).stdout;
    assert.match(
      table,
      new RegExp(`\\nFrom snapshot ${saved} taken \\d{4}-\\d\\d-\\d\\dT[0-9:.]+Z on .+\\.\\n$`),
    );
    const replayed = limboDeleted(['--from', saved, '--pid', String(holder.pid)]);
    assert.deepEqual(
      replayed.files.map((f) => f.path),
      [path],
    );
    const snapshot = JSON.parse(readFileSync(saved, 'utf8')) as { takenAt: string; hostname: string };
    assert.deepEqual(
      replayed.source,
      { kind: 'snapshot', file: saved, takenAt: snapshot.takenAt, hostname: snapshot.hostname },
      'the JSON names the snapshot it replays, as the table does',
    );
    assertMatchesSchema('limbo.deleted-1', replayed);
    const withHandles = join(dir, 'snapshot-handles.json');
    assert.equal(runLimbo(['snapshot', '--handles', '--output', withHandles]).code, 0);
    const handlesTakenAt = (JSON.parse(readFileSync(withHandles, 'utf8')) as { takenAt: string }).takenAt;
    for (const [command, file, takenAt] of [
      ['report', saved, snapshot.takenAt],
      ['restart', saved, snapshot.takenAt],
      ['shm', saved, snapshot.takenAt],
      ['handles', withHandles, handlesTakenAt],
    ] as const) {
      const other = runLimbo([command, '--json', '--from', file]);
      assert.equal(other.code, 0, other.stderr);
      const json = JSON.parse(other.stdout) as { schema: string; source?: { kind: string; takenAt: string } };
      assert.deepEqual(
        [json.source?.kind, json.source?.takenAt],
        ['snapshot', takenAt],
        `${command} --json --from names the snapshot`,
      );
      assertMatchesSchema(json.schema.replace('/', '-'), json);
    }
    // df always measures the live filesystems (it refuses --from): its source says so.
    const df = JSON.parse(runLimbo(['df', '--json', dir]).stdout) as { source?: { kind: string } };
    assert.equal(df.source?.kind, 'live');
    assert.equal((JSON.parse(runLimbo(['deleted', '--json']).stdout) as DeletedJson).source?.kind, 'live');
    writeFileSync(join(dir, 'not-a-snapshot.json'), '{"schema":"other"}');
    const bad = runLimbo(['deleted', '--from', join(dir, 'not-a-snapshot.json')]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /not a limbo snapshot/);
  });
});
