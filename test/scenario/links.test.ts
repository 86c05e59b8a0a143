// `limbo links` on real files, real directories and real holder processes; every expectation is
// what stat and /proc say about the same inode. The library tests run as they are; the CLI tests
// skip themselves until `links` is wired into src/cli/main.ts.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { analyzeLinks } from '../../src/analyses/links.js';
import { linksReportToJson, type LinksJson } from '../../src/analyses/links-json.js';
import { renderLinks } from '../../src/cli/links-command.js';
import { paletteFor } from '../../src/format/color.js';
import { observeLinks, type LinksRequest } from '../../src/walk/find-links.js';
import { startHolder, type Holder } from '../helpers/holder.js';
import { runLimbo } from '../helpers/limbo.js';
import { assertMatchesSchema } from '../helpers/schema.js';

const isRoot = process.geteuid?.() === 0;
let dir: string;
const holders: Holder[] = [];
const mounts: string[] = [];

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'limbo-links-'));
});

after(async () => {
  await Promise.all(holders.map((holder) => holder.stop()));
  for (const mountPoint of mounts.reverse()) execFileSync('umount', ['-l', mountPoint]);
  rmSync(dir, { recursive: true, force: true });
});

async function hold(ops: string[]): Promise<Holder> {
  const holder = await startHolder(ops);
  holders.push(holder);
  return holder;
}

/** What `limbo links --json` prints for `request`, computed through the library. */
async function links(request: LinksRequest): Promise<LinksJson> {
  const { observation, problems } = await observeLinks(request);
  assert.deepEqual(problems, []);
  return linksReportToJson(analyzeLinks(observation));
}

async function table(request: LinksRequest): Promise<string> {
  const { observation } = await observeLinks(request);
  return renderLinks(analyzeLinks(observation), paletteFor({ isTTY: false }));
}

function inodeOf(path: string | Buffer): number {
  return Number(statSync(path, { bigint: true }).ino);
}

function allocatedOf(path: string | Buffer): number {
  return statSync(path).blocks * 512;
}

/** A fresh tmpfs of our own: df deltas and whole-filesystem walks are exact and quick there. */
function mountTmpfs(name: string): string {
  const mountPoint = join(dir, name);
  mkdirSync(mountPoint);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'limbo-links', mountPoint]);
  mounts.push(mountPoint);
  return mountPoint;
}

describe('limbo links on real files (library)', () => {
  it('finds all three names of a file, and says rm of one frees nothing', async () => {
    const tree = join(dir, 'three');
    mkdirSync(join(tree, 'sub'), { recursive: true });
    const a = join(tree, 'a');
    writeFileSync(a, Buffer.alloc(10000, 1));
    linkSync(a, join(tree, 'b'));
    linkSync(a, join(tree, 'sub', 'c'));
    const report = await links({ paths: [a], within: tree });
    const [file] = report.files;
    assert.ok(file);
    assert.equal(file.inode, inodeOf(a));
    assert.equal(file.nlink, 3);
    assert.deepEqual(file.names, [a, join(tree, 'b'), join(tree, 'sub', 'c')]);
    assert.equal(file.namesOutside, 0);
    assert.equal(file.searched, tree);
    assert.deepEqual(file.heldOpenBy, []);
    assert.equal(file.freedByRemoving, 0, 'two other names keep the inode');
    assert.equal(file.freedByRemovingAllNames, allocatedOf(a));
    assert.match(
      await table({ paths: [a], within: tree }),
      /rm .*\/three\/a frees nothing: 2 other names remain/,
    );
  });

  it('counts the five subdirectories of a directory that nlink 7 implies', async () => {
    const parent = join(dir, 'five');
    for (let i = 1; i <= 5; i++) mkdirSync(join(parent, `s${i}`), { recursive: true });
    writeFileSync(join(parent, 'not-a-directory'), '');
    const [directory] = (await links({ paths: [parent] })).directories;
    assert.ok(directory);
    assert.equal(directory.nlink, statSync(parent).nlink);
    assert.equal(directory.nlink, 7);
    assert.equal(directory.subdirectories, 5);
    assert.equal(directory.subdirectoriesImplied, 5);
    assert.equal(directory.nlinkReliable, true);
  });

  it('counts a name outside the walked directory, with --within and with --groups', async () => {
    const inside = join(dir, 'inside');
    const outside = join(dir, 'outside');
    mkdirSync(inside);
    mkdirSync(outside);
    const path = join(inside, 'kept');
    writeFileSync(path, Buffer.alloc(8192, 2));
    linkSync(path, join(inside, 'kept-too'));
    linkSync(path, join(outside, 'elsewhere'));
    const [file] = (await links({ paths: [path], within: inside })).files;
    assert.deepEqual(file?.names, [path, join(inside, 'kept-too')]);
    assert.equal(file?.namesOutside, 1);
    assert.equal(file?.freedByRemovingAllNames, 0, 'the name outside keeps it');

    const grouped = await links({ paths: [], groups: inside });
    assert.deepEqual(
      grouped.groups.map((g) => [g.inode, g.nlink, g.names, g.namesOutside, g.allocated]),
      [[inodeOf(path), 3, [path, join(inside, 'kept-too')], 1, allocatedOf(path)]],
    );
    const du = Number(execFileSync('du', ['-s', '-B1', inside], { encoding: 'utf8' }).split('\t')[0]);
    assert.equal(grouped.backup?.deduplicated, du, 'deduplicated is what du -s counts');
    assert.equal(grouped.backup?.withoutLinkDetection, du + allocatedOf(path));
  });

  it('names the process that holds a file open: rm of its only name frees nothing', async () => {
    const path = join(dir, 'held.log');
    writeFileSync(path, Buffer.alloc(20000, 3));
    const holder = await hold(['open', path]);
    const [file] = (await links({ paths: [path] })).files;
    assert.ok(file);
    assert.equal(file.nlink, 1);
    assert.deepEqual(file.heldOpenBy, [holder.pid]);
    assert.deepEqual(file.holders, [{ pid: holder.pid, comm: 'holder', fds: holder.fds, mappings: 0 }]);
    assert.equal(file.freedByRemoving, 0);
    assert.equal(file.searched, null, 'one link: nothing to search for');
    assert.match(
      await table({ paths: [path] }),
      new RegExp(`frees nothing: process ${holder.pid} holds it open`),
    );
  });

  it('counts a memory mapping whose fd was closed as a holder', async () => {
    const path = join(dir, 'mapped.dat');
    writeFileSync(path, Buffer.alloc(8192, 4));
    const holder = await hold(['open', path, 'mmap', 'close']);
    const [file] = (await links({ paths: [path] })).files;
    assert.deepEqual(file?.holders, [{ pid: holder.pid, comm: 'holder', fds: [], mappings: 1 }]);
    assert.equal(file?.freedByRemoving, 0);
  });

  it('finds a holder whose main thread exited, through its threads’ fd tables', async () => {
    const path = join(dir, 'thread-held');
    writeFileSync(path, 'u');
    const holder = await hold(['open', path, 'thread-exit']);
    const [file] = (await links({ paths: [path] })).files;
    assert.deepEqual(file?.heldOpenBy, [holder.pid]);
    assert.deepEqual(file?.holders[0]?.fds, [3]);
  });

  it('frees st_blocks × 512 when the only name of an unheld file is removed', async () => {
    const path = join(dir, 'sparse.img');
    writeFileSync(path, Buffer.alloc(4096, 5));
    execFileSync('truncate', ['-s', '1G', path]);
    const [file] = (await links({ paths: [path] })).files;
    assert.equal(file?.size, 1024 ** 3);
    assert.equal(file?.freedByRemoving, allocatedOf(path));
    assert.ok((file?.freedByRemoving ?? 0) < 1024 * 1024, 'the blocks, not the sparse size');
  });

  it('keeps names with a newline and invalid UTF-8 exact in JSON and escaped in the table', async () => {
    const tree = join(dir, 'odd');
    mkdirSync(tree);
    const plainName = join(tree, 'plain');
    const oddName = Buffer.concat([Buffer.from(`${tree}/line\nbreak-`), Buffer.from([0xff, 0xfe])]);
    writeFileSync(plainName, 'x');
    linkSync(plainName, oddName);
    const [file] = (await links({ paths: [plainName], within: tree })).files;
    assert.ok(file);
    assert.equal(file.names.length, 2);
    const index = file.names.indexOf(oddName.toString('utf8'));
    assert.ok(index >= 0);
    assert.ok(file.namesBytes);
    assert.ok(Buffer.from(file.namesBytes[index] as string, 'base64').equals(oddName));
    assert.equal(file.namesBytes[1 - index], null);

    const [byOddName] = (await links({ paths: [oddName], within: tree })).files;
    assert.ok(
      Buffer.from(byOddName?.pathBytes ?? '', 'base64').equals(oddName),
      'pathBytes for the name given',
    );

    const text = await table({ paths: [plainName], within: tree });
    assert.ok(text.includes(`${tree}/line\\nbreak-\\xff\\xfe`), text);
    assert.ok(!text.includes('line\nbreak'));
  });

  it(
    'walks a whole filesystem from its mount point when no --within is given, and says how long it took',
    { skip: !isRoot && 'needs root to mount tmpfs' },
    async () => {
      const mountPoint = mountTmpfs('whole');
      mkdirSync(join(mountPoint, 'deep', 'er'), { recursive: true });
      const path = join(mountPoint, 'top');
      writeFileSync(path, 'y');
      linkSync(path, join(mountPoint, 'deep', 'er', 'bottom'));
      const report = await links({ paths: [path, mountPoint] });
      const [file] = report.files;
      assert.equal(file?.searched, mountPoint);
      assert.deepEqual(file?.names, [join(mountPoint, 'deep', 'er', 'bottom'), path]);
      assert.equal(file?.fstype, 'tmpfs');
      assert.equal(file?.mount, mountPoint);
      assert.equal(file?.linkLimit, null);
      assert.match(file?.linkLimitSource ?? '', /none: tmpfs/);
      assert.deepEqual(
        report.walks.map((w) => [w.root, w.purpose, w.files, w.directories]),
        [[mountPoint, 'names', 2, 3]],
      );
      assert.ok((report.walks[0]?.milliseconds ?? -1) >= 0);
      const [root] = report.directories;
      assert.deepEqual([root?.nlink, root?.subdirectories, root?.nlinkReliable], [3, 1, true]);
    },
  );

  it(
    'reads dir_nlink from an ext4 superblock: a directory there has no subdirectory limit',
    { skip: (!isRoot || !hasCommand('mkfs.ext4')) && 'needs root and mkfs.ext4' },
    async () => {
      const image = join(dir, 'ext4.img');
      execFileSync('truncate', ['-s', '32M', image]);
      execFileSync('mkfs.ext4', ['-q', '-F', image]);
      const mountPoint = join(dir, 'ext4');
      mkdirSync(mountPoint);
      execFileSync('mount', ['-o', 'loop', image, mountPoint]);
      mounts.push(mountPoint);
      const path = join(mountPoint, 'f');
      writeFileSync(path, 'z');
      const report = await links({ paths: [path, mountPoint] });
      assert.equal(report.files[0]?.linkLimit, 65000);
      assert.equal(report.directories[0]?.fstype, 'ext4');
      assert.equal(report.directories[0]?.linkLimit, null);
      assert.match(report.directories[0]?.linkLimitSource ?? '', /none: with dir_nlink/);
    },
  );

  it(
    'on btrfs: a directory reports nlink 1, and a mapping is matched although maps prints another device',
    {
      skip:
        (!isRoot || !hasCommand('mkfs.btrfs') || !hasFilesystem('btrfs')) &&
        'needs root, btrfs and mkfs.btrfs',
    },
    async () => {
      const image = join(dir, 'btrfs.img');
      execFileSync('truncate', ['-s', '200M', image]);
      execFileSync('mkfs.btrfs', ['-q', '-f', image], { stdio: 'ignore' });
      const mountPoint = join(dir, 'btrfs');
      mkdirSync(mountPoint);
      execFileSync('mount', ['-o', 'loop', image, mountPoint]);
      mounts.push(mountPoint);
      for (let i = 1; i <= 5; i++) mkdirSync(join(mountPoint, 'five', `s${i}`), { recursive: true });
      const path = join(mountPoint, 'mapped');
      writeFileSync(path, Buffer.alloc(4096, 6));
      linkSync(path, join(mountPoint, 'five', 'other-name'));
      const holder = await hold(['open', path, 'mmap', 'close']);
      const report = await links({ paths: [path, join(mountPoint, 'five')] });
      const [file] = report.files;
      assert.equal(file?.fstype, 'btrfs', 'found by path: btrfs st_dev is not the one mountinfo shows');
      assert.equal(file?.searched, mountPoint);
      assert.deepEqual(file?.names, [join(mountPoint, 'five', 'other-name'), path]);
      assert.deepEqual(file?.holders, [{ pid: holder.pid, comm: 'holder', fds: [], mappings: 1 }]);
      assert.equal(file?.linkLimit, 65535);
      const [five] = report.directories;
      assert.deepEqual([five?.nlink, five?.subdirectories, five?.nlinkReliable], [1, 5, false]);
      assert.match(five?.nlinkRule ?? '', /btrfs/);
    },
  );

  it('produces JSON valid against docs/schemas/limbo.links-1.schema.json', async () => {
    const tree = join(dir, 'schema');
    mkdirSync(join(tree, 'd'), { recursive: true });
    const path = join(tree, 'f');
    writeFileSync(path, 'w');
    linkSync(path, Buffer.concat([Buffer.from(`${tree}/g-`), Buffer.from([0xc3])]));
    const holder = await hold(['open', path]);
    const report = await links({ paths: [path, join(tree, 'd')], within: tree, groups: tree });
    assert.equal(report.files[0]?.heldOpenBy[0], holder.pid);
    assert.ok(report.groups[0]?.namesBytes);
    assertMatchesSchema('limbo.links-1', report);
  });
});

describe('limbo links through the CLI (needs the wiring in src/cli/main.ts)', () => {
  const wired = runLimbo(['links', '--help']).code === 0;
  const skip = !wired && 'limbo links is not wired into src/cli/main.ts yet';

  it('prints limbo.links/1 for a file with three names', { skip }, () => {
    const tree = join(dir, 'cli-three');
    mkdirSync(tree);
    const a = join(tree, 'a');
    writeFileSync(a, 'v');
    linkSync(a, join(tree, 'b'));
    linkSync(a, join(tree, 'c'));
    const run = runLimbo(['links', '--json', a, '--within', tree]);
    assert.equal(run.code, 0, run.stderr);
    const report = JSON.parse(run.stdout) as LinksJson;
    assert.equal(report.schema, 'limbo.links/1');
    assert.deepEqual(report.files[0]?.names, [a, join(tree, 'b'), join(tree, 'c')]);
    assertMatchesSchema('limbo.links-1', report);
  });

  it('prints a table that escapes names, and the backup sizes for --groups', { skip }, () => {
    const tree = join(dir, 'cli-table');
    mkdirSync(tree);
    const a = join(tree, 'a');
    writeFileSync(a, Buffer.alloc(4096, 7));
    linkSync(a, join(tree, 'new\nline'));
    const run = runLimbo(['links', a, '--within', tree]);
    assert.equal(run.code, 0, run.stderr);
    assert.ok(run.stdout.includes(`${tree}/new\\nline`), run.stdout);
    assert.match(run.stdout, /frees nothing: 1 other name remains/);
    const groups = runLimbo(['links', '--groups', tree]);
    assert.equal(groups.code, 0, groups.stderr);
    assert.match(groups.stdout, /1 hard-link group under/);
    assert.match(groups.stdout, /A backup of .* needs .* with hard links kept/);
  });

  it(
    'as a normal user never says no process holds a file: one it could not read may',
    { skip: skip || (!isRoot && 'needs root to switch users') },
    async () => {
      const open = mkdtempSync(join(tmpdir(), 'limbo-links-public-'));
      chmodSync(open, 0o755);
      const path = join(open, 'held-by-root');
      writeFileSync(path, Buffer.alloc(4096, 1));
      chmodSync(path, 0o644);
      await hold(['open', path]);
      try {
        const run = runLimbo(['links', path], { uid: 65534 });
        assert.equal(run.code, 0, run.stderr);
        assert.doesNotMatch(run.stdout, /no process holds it open/);
        assert.match(
          run.stdout,
          /no process limbo could read holds it open \(\d+ process(es)? could not be read\)/,
        );
        assert.match(run.stdout, /frees 4\.0 KiB, unless a process limbo could not read holds it/);
      } finally {
        rmSync(open, { recursive: true, force: true });
      }
    },
  );

  it('exits 2 without a PATH or with --from, and 1 for a path that does not exist', { skip }, () => {
    assert.equal(runLimbo(['links']).code, 2);
    assert.equal(runLimbo(['links', '--from', '/dev/null', dir]).code, 2);
    assert.equal(runLimbo(['links', '--groups', join(dir, 'nowhere')]).code, 2);
    const missing = runLimbo(['links', join(dir, 'nowhere'), dir]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /cannot stat .*nowhere.*ENOENT/);
    assert.match(missing.stdout, /directory, inode/, 'the paths that exist are still explained');
  });
});

function hasCommand(name: string): boolean {
  return ['/usr/sbin', '/sbin', '/usr/bin', '/bin'].some((d) => existsSync(`${d}/${name}`));
}

function hasFilesystem(name: string): boolean {
  return readFileSync('/proc/filesystems', 'utf8')
    .split('\n')
    .some((line) => line.split('\t').pop() === name);
}
