// Every function of the native addon (native/limbo.c), run on real processes and real trees.
// The three with a JavaScript twin (scanFdDirs, scanFdDirsFull, walkTree) must give the same
// answer as the twin on the same input, errors included; the rest have no twin, because
// node:fs cannot make their syscalls at all, so they are held against what the kernel is known
// to answer for a state the test sets up. The addon is loaded even under LIMBO_NO_NATIVE: this
// file is about the addon itself.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  closeSync,
  fsyncSync,
  ftruncateSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { constants, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { loadNativeAddon, type NativeAddon } from '../../src/native.js';
import {
  readListedCandidates,
  scanFdTables,
  scanFdTablesFull,
  type SkipLink,
} from '../../src/proc/fd-table.js';
import { walkTree, walkTreeJs, type WalkOptions } from '../../src/walk/walk-tree.js';
import { kernelStat, startHolder, type Holder } from '../helpers/holder.js';
import { publicCopy, repoRoot } from '../helpers/paths.js';
import { isRoot, makeScratch, waitUntil, type Scratch } from '../helpers/scratch.js';

const addon = loadNativeAddon();
const { EBADF, EEXIST, EINVAL, ENOENT, ENXIO, EOPNOTSUPP, ESRCH, EXDEV } = constants.errno;
const SEEK_DATA = 3;
const SEEK_HOLE = 4;
const KCMP_FILE = 0;
const KCMP_FILES = 2;
const NOBODY = 65534;
/** Far above this sandbox's hard fd limit (20,000), so never an open fd. */
const NOT_AN_FD = 999_999;

let scratch: Scratch;
const holders: Holder[] = [];
const mounts: string[] = [];
const trees: string[] = [];

before(() => {
  scratch = makeScratch('limbo-parity-');
});

after(async () => {
  await Promise.all(holders.map((holder) => holder.stop()));
  for (const mount of mounts.reverse()) execFileSync('umount', ['-l', mount]);
  // GNU rm walks with openat, so it removes a tree deeper than PATH_MAX; rmSync cannot.
  execFileSync('chmod', ['-R', 'u+rwx', scratch.dir, ...trees]);
  execFileSync('rm', ['-rf', join(scratch.dir, 'fds'), ...trees]);
  scratch.remove();
});

async function hold(ops: readonly string[]): Promise<Holder> {
  const holder = await startHolder(ops);
  holders.push(holder);
  return holder;
}

/** The addon, or a skip: without a built addon there is nothing to compare. */
function needAddon(t: TestContext): NativeAddon | null {
  if (!addon) t.skip('the native addon is not built (npm ci builds it with node-gyp)');
  return addon;
}

/** Plain JSON of a result, so results from this process and from a child compare alike. */
function plain(value: unknown): unknown {
  return JSON.parse(
    JSON.stringify(value, (_key, v: unknown) => {
      if (typeof v === 'bigint') return `${v}n`;
      if (ArrayBuffer.isView(v) && !(v instanceof DataView) && !Buffer.isBuffer(v)) {
        return { [v.constructor.name]: Array.from(v as unknown as ArrayLike<number | bigint>, String) };
      }
      return v;
    }),
  );
}

/**
 * A walk with its order-free parts sorted: the C walk runs on several threads, so the order in
 * which it meets names (and fills linked and errorSamples) is not the JavaScript twin's.
 */
function sortedWalk(result: unknown): unknown {
  const walk = plain(result) as Record<string, unknown>;
  for (const key of ['linked', 'errorSamples']) {
    const list = walk[key];
    if (Array.isArray(list)) walk[key] = list.map((x) => JSON.stringify(x)).sort();
  }
  return walk;
}

/** The parity code, run in a child as `uid` (as root: nobody; otherwise as this very user). */
function runAsUser(uid: number | undefined, body: string): { native: unknown; js: unknown; raw?: unknown } {
  const dist = `${publicCopy()}dist`;
  const script = `
    const { loadNativeAddon } = await import(${JSON.stringify(`${dist}/native.js`)});
    const { scanFdTables, scanFdTablesFull } = await import(${JSON.stringify(`${dist}/proc/fd-table.js`)});
    const { walkTree, walkTreeJs } = await import(${JSON.stringify(`${dist}/walk/walk-tree.js`)});
    const addon = loadNativeAddon();
    if (!addon) throw new Error('the public copy has no addon');
    const out = await (async () => { ${body} })();
    const plain = (k, v) =>
      typeof v === 'bigint' ? v + 'n'
      : ArrayBuffer.isView(v) && !Buffer.isBuffer(v) ? { [v.constructor.name]: Array.from(v, String) }
      : v;
    process.stdout.write(JSON.stringify(out, plain));
  `;
  const stdout = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
    cwd: '/',
    encoding: 'utf8',
    ...(uid !== undefined ? { uid, gid: uid } : {}),
  });
  return JSON.parse(stdout) as { native: unknown; js: unknown; raw?: unknown };
}

/** As root the denial cases run as nobody; as anyone else they run as that user already. */
const unprivileged = isRoot ? NOBODY : undefined;

describe('native addon parity: scanFdDirs and scanFdDirsFull against their JavaScript twins', () => {
  let dirs: string[];
  let holder: Holder;
  let forked: Holder;

  before(async () => {
    const dir = join(scratch.dir, 'fds');
    mkdirSync(dir);
    const odd = Buffer.concat([
      Buffer.from(`${dir}/line\nbreak-`),
      Buffer.from([0xff, 0xfe]),
      Buffer.from('.log'),
    ]);
    const deep = Array.from({ length: 17 }, (_, i) => [
      'mkcd',
      `${String(i).padStart(2, '0')}${'d'.repeat(248)}`,
    ]);
    holder = await hold([
      'create', join(dir, 'a.log'), '4096', 'unlink', join(dir, 'a.log'), 'dup', '2',
      'create', join(dir, 'kept'), '10',
      'create', join(dir, 'named (deleted)'), '100',
      'create', join(dir, 'linked'), '8192', 'link', join(dir, 'linked'), join(dir, 'other-name'),
      'unlink', join(dir, 'linked'),
      'create', `hex:${odd.toString('hex')}`, '5000', 'unlink', `hex:${odd.toString('hex')}`,
      'memfd', 'cache', '65536',
      'tmpfile', dir, '3000',
      'open', '/dev/null',
      'pipe',
      'create', join(dir, '.fuse_hidden0000000200000001'), '10',
      'create', join(dir, '.nfs000000000123abcd00000001'), '10',
      'create', join(dir, '.nfs000000000123abcd0000001'), '10',
      'mkcd', dir, ...deep.flat(), 'create', 'deep.log', '8192', 'unlink', 'deep.log',
    ]); // prettier-ignore
    forked = await hold([
      'create',
      join(dir, 'shared.log'),
      '4096',
      'unlink',
      join(dir, 'shared.log'),
      'fork',
    ]);
    dirs = [
      `/proc/${holder.pid}/fd`,
      `/proc/${holder.pid}/task/${holder.pid}/fd`,
      `/proc/${forked.pid}/fd`,
      `/proc/${forked.children[0]}/fd`,
    ];
  });

  it('find the same deleted candidates, with the same stat, in every kind of fd', (t) => {
    const native = needAddon(t);
    if (!native) return;
    const fromC = scanFdTables(dirs, native);
    assert.deepEqual(fromC, scanFdTables(dirs, null));
    const [first] = fromC;
    assert.ok(first?.ok);
    // a.log and its 2 dups, "named (deleted)" (live, but its text says deleted), linked (unlinked
    // under the opened name, alive under another), the odd name, the memfd, the O_TMPFILE file,
    // the file past PATH_MAX (no readable name, nlink 0), and the two live files named as FUSE and
    // NFS name silly-renamed ones (not the one an NFS client would never make: 23 hex digits).
    assert.equal(first.value.candidates.length, 11);
    assert.deepEqual(
      first.value.candidates
        .map((c) => c.name?.toString() ?? '')
        .filter((name) => name.startsWith(`${join(scratch.dir, 'fds')}/.`))
        .sort(),
      ['.fuse_hidden0000000200000001', '.nfs000000000123abcd00000001'].map((name) =>
        join(scratch.dir, 'fds', name),
      ),
    );
    const tooLong = first.value.candidates.find((c) => c.name === null);
    assert.ok(tooLong, 'the file past PATH_MAX is a candidate though readlink fails');
    assert.equal(tooLong.stat.nlink, 0);
    assert.equal(tooLong.stat.allocatedBytes, kernelStat(`${dirs[0]}/${tooLong.fd}`).allocated);
  });

  it('read the same link, mode and identity of every fd', (t) => {
    const native = needAddon(t);
    if (!native) return;
    const fromC = scanFdTablesFull(dirs, native);
    assert.deepEqual(plain(fromC), plain(scanFdTablesFull(dirs, null)));
    const [first] = fromC;
    assert.ok(first?.ok);
    assert.ok(first.value.links.includes(null), 'the link past PATH_MAX reads null from both');
    assert.ok(
      first.value.links.some((link) => link?.startsWith('pipe:[')),
      'a pipe is listed, not stat-ed',
    );
    // The raw addon answer is the same data the wrapper passes on.
    const [raw] = native.scanFdDirsFull(dirs.slice(0, 1), 1);
    assert.deepEqual(plain(raw), plain(first.value));
  });

  it('skip the same links under a silent mount point, stat none of them, and hand back the same ones', (t) => {
    const native = needAddon(t);
    if (!native) return;
    assert.equal(native.fdScanSkips, true, 'the addon takes the skip rule (else the twin runs alone)');
    // The scratch directory stands in for a mount that does not answer: the rule is about names.
    const fds = Buffer.from(join(scratch.dir, 'fds'));
    const under = (target: Buffer): boolean =>
      target.subarray(0, fds.length).equals(fds) &&
      (target.length === fds.length || target[fds.length] === 0x2f);
    /** The rule for the holder's two tables only (the forked pair keep theirs), counting what it skips. */
    const rule = (): { skip: SkipLink; counted: string[] } => {
      const counted: string[] = [];
      const data = {
        groups: [[Buffer.from('/nowhere'), fds]],
        groupOfDir: Int32Array.from([0, 0, -1, -1]),
      };
      const skip = (i: number, target: Buffer): boolean => {
        if (data.groupOfDir[i] !== 0 || !under(target)) return false;
        counted.push(`${i} ${target.toString('latin1')}`);
        return true;
      };
      return { skip: Object.assign(skip, { rule: data }), counted };
    };
    const twins: [string, (addon: NativeAddon | null, skip: SkipLink) => unknown][] = [
      ['scanFdTables', (addon, skip) => scanFdTables(dirs, addon, skip)],
      ['scanFdTablesFull', (addon, skip) => scanFdTablesFull(dirs, addon, skip)],
    ];
    for (const [name, scan] of twins) {
      const c = rule();
      const js = rule();
      assert.deepEqual(plain(scan(native, c.skip)), plain(scan(null, js.skip)), name);
      assert.deepEqual(c.counted.sort(), js.counted.sort(), name);
      assert.ok(c.counted.length > 0, `${name} skipped something`);
    }
    const [holderTable, , forkedTable] = scanFdTables(dirs, native, rule().skip);
    assert.ok(holderTable?.ok && forkedTable?.ok);
    // Nothing under the prefix was stat-ed in the holder's table; the memfd and the unreadable link were.
    assert.ok(holderTable.value.candidates.every((c) => c.name === null || !under(c.name)));
    assert.ok(holderTable.value.candidates.some((c) => c.name?.toString() === '/memfd:cache'));
    // A table of a directory without the rule keeps its candidate under the same prefix.
    assert.ok(forkedTable.value.candidates.some((c) => c.name !== null && under(c.name)));
    // The full scan keeps a skipped fd, unstat-ed (mode 0).
    const [full] = scanFdTablesFull(
      dirs.slice(0, 1),
      native,
      Object.assign(() => true, { rule: { groups: [[fds]], groupOfDir: Int32Array.from([0]) } }),
    );
    assert.ok(full?.ok);
    const kept = full.value.links.findIndex((link) => link !== null && under(Buffer.from(link, 'latin1')));
    assert.ok(kept >= 0);
    assert.equal(full.value.modes[kept], 0);
  });

  it('read only the fds listed, by the same rule, as the JavaScript twin (readFdCandidates)', async (t) => {
    const native = needAddon(t);
    if (!native) return;
    assert.ok(native.readFdCandidates, 'the addon reads listed fds');
    const exited = await startHolder(['create', join(scratch.dir, 'listed-exited.log'), '10']);
    await exited.stop();
    await waitUntil(() => !safeExists(`/proc/${exited.pid}`), 'the exited holder to be reaped');
    // Every fd of the live tables (as a BPF walk would name them, and more), one never open, and
    // tables that cannot be read (an exited process's, a missing one), and one listing nothing.
    const fdsOf = (dir: string): number[] => [
      ...readdirSync(dir)
        .map(Number)
        .sort((a, b) => a - b),
      NOT_AN_FD,
    ];
    const all = [...dirs, `/proc/${exited.pid}/fd`, join(scratch.dir, 'none'), dirs[0] as string];
    const lists = all.map((dir, i) => (i < dirs.length ? fdsOf(dir) : i === all.length - 1 ? [] : [0, 1]));
    const fromC = readListedCandidates(all, lists, native);
    assert.deepEqual(fromC, readListedCandidates(all, lists, null));
    // Listing every fd finds what reading the whole directory finds; the count is st_size's.
    assert.deepEqual(
      fromC.slice(0, dirs.length).map((scan) => scan.ok && scan.value.candidates),
      scanFdTables(dirs, native).map((scan) => scan.ok && scan.value.candidates),
    );
    assert.equal(fromC[0]?.ok && fromC[0].value.count, statSync(dirs[0] as string).size);
    assert.deepEqual(fromC.slice(dirs.length, dirs.length + 2), [
      { ok: false, failure: 'gone' },
      { ok: false, failure: 'gone' },
    ]);
    assert.deepEqual(fromC.at(-1), {
      ok: true,
      value: { count: statSync(dirs[0] as string).size, unreadable: 0, candidates: [] },
    });
    // The same skip rule as scanFdDirs, with the same links handed back to be counted.
    const fds = Buffer.from(join(scratch.dir, 'fds'));
    const counted = { c: [] as string[], js: [] as string[] };
    const skipInto = (into: string[]): SkipLink =>
      Object.assign(
        (i: number, target: Buffer): boolean => {
          const under =
            i === 0 && target.subarray(0, fds.length + 1).equals(Buffer.concat([fds, Buffer.from('/')]));
          if (under) into.push(target.toString('latin1'));
          return under;
        },
        { rule: { groups: [[fds]], groupOfDir: Int32Array.from(all, (_, i) => (i === 0 ? 0 : -1)) } },
      );
    assert.deepEqual(
      readListedCandidates(all, lists, native, skipInto(counted.c)),
      readListedCandidates(all, lists, null, skipInto(counted.js)),
    );
    assert.ok(counted.c.length > 0);
    assert.deepEqual(counted.c.sort(), counted.js.sort());
    const flat = Int32Array.from(lists.flat());
    const starts = Uint32Array.from([0, ...lists.map((_, i) => lists.slice(0, i + 1).flat().length)]);
    assert.deepEqual(
      native.readFdCandidates(all, flat, starts, 1),
      native.readFdCandidates(all, flat, starts, 16),
    );
    assert.throws(() => native.readFdCandidates?.(all, flat, starts.subarray(1), 2), TypeError);
  });

  it('give the same answer on 1 thread as on many', (t) => {
    const native = needAddon(t);
    if (!native) return;
    assert.deepEqual(native.scanFdDirs(dirs, 1), native.scanFdDirs(dirs, 16));
    assert.deepEqual(plain(native.scanFdDirsFull(dirs, 1)), plain(native.scanFdDirsFull(dirs, 16)));
    assert.deepEqual(native.scanFdDirs([], 4), []);
  });

  it('report a missing directory, an exited process and a non-directory as gone, alike', async (t) => {
    const native = needAddon(t);
    if (!native) return;
    const exited = await startHolder(['create', join(scratch.dir, 'exited.log'), '10']);
    await exited.stop();
    await waitUntil(() => !safeExists(`/proc/${exited.pid}`), 'the exited holder to be reaped');
    const bad = [
      '/proc/999999999/fd',
      `/proc/${exited.pid}/fd`,
      '/proc/self/status',
      join(scratch.dir, 'none'),
    ];
    const gone = bad.map(() => ({ ok: false, failure: 'gone' }));
    assert.deepEqual(scanFdTables(bad, native), gone);
    assert.deepEqual(scanFdTables(bad, null), gone);
    assert.deepEqual(scanFdTablesFull(bad, native), gone);
    assert.deepEqual(scanFdTablesFull(bad, null), gone);
    // The addon names each errno as classifyError reads it: ESRCH and ENOTDIR are gone too.
    assert.deepEqual(
      native.scanFdDirs(bad, 2),
      bad.map(() => ({ error: 'ENOENT' })),
    );
  });

  it('agree on a zombie, whose fd table is already gone', async (t) => {
    const native = needAddon(t);
    if (!native) return;
    const parent = await hold(['fork']);
    const child = parent.children[0] as number;
    process.kill(child, 'SIGKILL');
    // The holder never waits for its children, so the killed one stays a zombie.
    await waitUntil(() => /^State:\s+Z/m.test(readFileSync(`/proc/${child}/status`, 'latin1')), 'a zombie');
    const zombie = [`/proc/${child}/fd`, `/proc/${child}/task/${child}/fd`];
    assert.deepEqual(scanFdTables(zombie, native), scanFdTables(zombie, null));
    assert.deepEqual(plain(scanFdTablesFull(zombie, native)), plain(scanFdTablesFull(zombie, null)));
  });

  it('report another user’s fd table as denied, alike', (t) => {
    if (!needAddon(t)) return;
    // pid 1 belongs to root: as nobody (or any normal user) its fd directory is EACCES.
    const out = runAsUser(
      unprivileged,
      `const dirs = ['/proc/1/fd', '/proc/${holder.pid}/fd'];
       return {
         native: [scanFdTables(dirs, addon), scanFdTablesFull(dirs, addon)],
         js: [scanFdTables(dirs, null), scanFdTablesFull(dirs, null)],
         raw: addon.scanFdDirs(dirs, 2),
       };`,
    );
    assert.deepEqual(out.native, out.js);
    const denied = { ok: false, failure: 'denied' };
    const [scan] = out.js as unknown[][];
    const [raw] = out.raw as unknown[];
    assert.deepEqual(scan?.[0], denied, 'pid 1 is another user’s');
    assert.deepEqual(raw, { error: 'EACCES' });
    // As root the holder is root's too; otherwise it is this user's own and readable.
    if (isRoot) assert.deepEqual(scan?.[1], denied);
  });
});

describe('native addon parity: walkTree against its JavaScript twin', () => {
  let tree: string;
  const rawName = (dir: string, bytes: number[]) =>
    Buffer.concat([Buffer.from(`${dir}/`), Buffer.from(bytes)]);

  before(() => {
    // On the temporary directory's own filesystem, not the scratch tmpfs: there (ext4 here) a
    // directory has blocks of its own, so a hidden root's own size shows in hiddenAllocated.
    tree = join(mkdtempSync(join(tmpdir(), 'limbo-parity-tree-')), 'tree');
    chmodSync(dirname(tree), 0o755);
    trees.push(dirname(tree));
    mkdirSync(join(tree, 'a/b/c'), { recursive: true });
    mkdirSync(join(tree, 'hidden/deeper'), { recursive: true });
    mkdirSync(join(tree, 'locked/inside'), { recursive: true });
    mkdirSync(join(tree, 'empty'));
    writeFileSync(join(tree, 'a/one'), Buffer.alloc(10_000, 1));
    writeFileSync(join(tree, 'a/b/two'), Buffer.alloc(70_000, 2));
    writeFileSync(join(tree, 'a/b/c/three'), Buffer.alloc(1, 3));
    writeFileSync(join(tree, 'hidden/deeper/under'), Buffer.alloc(40_000, 4));
    writeFileSync(join(tree, 'locked/inside/secret'), Buffer.alloc(20_000, 5));
    writeFileSync(join(tree, 'locked/top'), Buffer.alloc(5_000, 6));
    // Hard links: three names of one inode, and two names in the hidden subtree only.
    writeFileSync(join(tree, 'a/linked'), Buffer.alloc(30_000, 7));
    linkSync(join(tree, 'a/linked'), join(tree, 'a/b/linked-again'));
    linkSync(join(tree, 'a/linked'), join(tree, 'a/b/c/linked-thrice'));
    writeFileSync(join(tree, 'hidden/pair'), Buffer.alloc(12_000, 8));
    linkSync(join(tree, 'hidden/pair'), join(tree, 'hidden/deeper/pair'));
    // Names that are not text: a newline, invalid UTF-8, both on a hard-linked file and a dir.
    const odd = rawName(tree, [0x6e, 0x0a, 0x6c, 0xff, 0xc3]);
    writeFileSync(odd, Buffer.alloc(9_000, 9));
    linkSync(odd, rawName(tree, [0x80, 0x0a]));
    mkdirSync(rawName(tree, [0xfe, 0x0a, 0x64]));
    writeFileSync(Buffer.concat([rawName(tree, [0xfe, 0x0a, 0x64]), Buffer.from('/x')]), Buffer.alloc(3_000));
    // A sparse file (its blocks, not its size, count) and a symlink (counted, never followed).
    const sparse = openSync(join(tree, 'sparse'), 'w');
    ftruncateSync(sparse, 1 << 24);
    writeSync(sparse, Buffer.alloc(4096, 1), 0, 4096, 1 << 20);
    closeSync(sparse);
    symlinkSync('/', join(tree, 'a/to-root'));
    chmodSync(join(tree, 'locked'), 0o000);
    // Written out, so delayed allocation cannot change a file's blocks between two walks.
    execFileSync('sync');
  });

  const cases: { name: string; options: (tree: string) => WalkOptions }[] = [
    { name: 'plain', options: () => ({}) },
    { name: 'collecting hard links', options: () => ({ collectLinked: true }) },
    {
      name: 'with a hidden subtree',
      options: (root) => ({ collectLinked: true, hidden: [join(root, 'hidden')] }),
    },
    { name: 'with the root itself hidden', options: (root) => ({ hidden: [root] }) },
  ];
  for (const { name, options } of cases) {
    it(`total the same tree alike, ${name}`, async (t) => {
      const native = needAddon(t);
      if (!native) return;
      const fromC = await walkTree(tree, options(tree), native);
      assert.deepEqual(sortedWalk(fromC), sortedWalk(await walkTreeJs(tree, options(tree))));
      assert.ok(!('failure' in fromC));
      assert.equal(fromC.dirs, 10);
      if (options(tree).hidden?.length) assert.ok(fromC.hiddenAllocatedBytes > 0);
      if (options(tree).hidden?.includes(tree)) {
        assert.equal(
          fromC.hiddenAllocatedBytes,
          fromC.allocatedBytes,
          'the root’s own blocks count as hidden',
        );
        if (statSync(tree).blocks === 0)
          t.diagnostic('directories hold no blocks here: the root’s own share is 0');
      }
      if (options(tree).collectLinked) assert.equal(fromC.linked.length, 7);
      assert.equal(native.walkProgress(), fromC.files, 'walkProgress ends at the files the walk counted');
    });
  }

  it('agree on an unreadable subdirectory and an unreadable root, as a normal user', (t) => {
    if (!needAddon(t)) return;
    const out = runAsUser(
      unprivileged,
      `const results = [];
       for (const root of [${JSON.stringify(tree)}, ${JSON.stringify(join(tree, 'locked'))}]) {
         results.push([await walkTree(root, { collectLinked: true }, addon), await walkTreeJs(root, { collectLinked: true })]);
       }
       return { native: results.map((r) => r[0]), js: results.map((r) => r[1]) };`,
    );
    const [treeC, lockedC] = out.native as Record<string, unknown>[];
    const [treeJs, lockedJs] = out.js as Record<string, unknown>[];
    assert.deepEqual(sortedWalk(treeC), sortedWalk(treeJs));
    assert.equal(treeC?.['errors'], 1, 'locked/ cannot be read; its size still counts');
    // A root that is a directory but unreadable walks to a total of itself, with one error.
    assert.deepEqual(sortedWalk(lockedC), sortedWalk(lockedJs));
    assert.equal(lockedC?.['errors'], 1);
    assert.equal(lockedC?.['files'], 0);
  });

  it('agree on every root that cannot be walked', async (t) => {
    const native = needAddon(t);
    if (!native) return;
    const file = join(scratch.dir, 'a-file');
    writeFileSync(file, 'x');
    symlinkSync(tree, join(scratch.dir, 'a-symlink'));
    const roots: [string, string][] = [
      [join(scratch.dir, 'missing'), 'gone'],
      ['', 'gone'],
      [file, 'other'], // there, but not a directory: not 'gone'
      [join(scratch.dir, 'a-symlink'), 'other'], // never followed, like any symlink in the walk
      [join(file, 'below'), 'gone'], // ENOTDIR: the path does not exist
      [`/${'x'.repeat(5000)}`, 'too-long'],
    ];
    for (const [root, failure] of roots) {
      assert.deepEqual(await walkTree(root, {}, native), { failure }, `native, root ${root.slice(0, 60)}`);
      assert.deepEqual(await walkTreeJs(root), { failure }, `JavaScript, root ${root.slice(0, 60)}`);
    }
  });

  it('agree on a root under a directory a normal user cannot search (EACCES)', (t) => {
    if (!needAddon(t)) return;
    const closed = join(scratch.dir, 'closed');
    mkdirSync(join(closed, 'root'), { recursive: true });
    chmodSync(closed, 0o700);
    const root = JSON.stringify(join(closed, 'root'));
    const out = runAsUser(
      unprivileged,
      `return { native: await walkTree(${root}, {}, addon), js: await walkTreeJs(${root}) };`,
    );
    if (!isRoot) {
      // As the owner the directory is searchable: nothing is denied, but the twins still agree.
      assert.deepEqual(sortedWalk(out.native), sortedWalk(out.js));
      return;
    }
    assert.deepEqual(out, { native: { failure: 'denied' }, js: { failure: 'denied' } });
  });

  it('leave out a filesystem mounted inside, and total apart what a mount covers', async (t) => {
    const native = needAddon(t);
    if (!native) return;
    if (!isRoot) return t.skip('mounting a tmpfs and a bind mount needs root');
    const base = join(scratch.dir, 'mounts');
    mkdirSync(join(base, 'covered/under'), { recursive: true });
    writeFileSync(join(base, 'covered/under/file'), Buffer.alloc(50_000, 1));
    writeFileSync(join(base, 'visible'), Buffer.alloc(8_000, 1));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'limbo-parity-cover', join(base, 'covered')]);
    mounts.push(join(base, 'covered'));
    writeFileSync(join(base, 'covered/on-top'), Buffer.alloc(100_000, 1));
    // Seen through the mount, covered/ is another filesystem: both walks stop at it.
    const direct = await walkTree(base, {}, native);
    assert.deepEqual(sortedWalk(direct), sortedWalk(await walkTreeJs(base)));
    assert.ok(!('failure' in direct));
    assert.equal(direct.files, 1);
    // A plain bind mount of the scratch filesystem shows what the tmpfs covers (bind-walk-main).
    const bound = join(scratch.dir, '..', 'bound');
    mkdirSync(bound);
    execFileSync('mount', ['--bind', scratch.dir, bound]);
    mounts.push(bound);
    const options = { hidden: [join(bound, 'mounts/covered')] };
    const throughBind = await walkTree(join(bound, 'mounts'), options, native);
    assert.deepEqual(sortedWalk(throughBind), sortedWalk(await walkTreeJs(join(bound, 'mounts'), options)));
    assert.ok(!('failure' in throughBind));
    assert.equal(throughBind.files, 2);
    assert.ok(throughBind.hiddenAllocatedBytes >= 50_000);
  });
});

// kcmp, seekData, memfdSeals, linkFollow and socketProtocol have no JavaScript twin: node:fs has
// no kcmp(2), no SEEK_DATA/SEEK_HOLE, no F_GET_SEALS, no linkat(AT_SYMLINK_FOLLOW) and no getxattr. Their callers fall back
// or refuse (src/snapshot, src/actions). So each is held against what the kernel must answer
// for a state the test built. walkProgress has no twin either: the JavaScript walk reports
// progress through its onProgress callback instead of being polled.
describe('native addon functions without a twin, against the kernel', () => {
  it('kcmp: 0 for a dup and across fork, an ordering for independent opens, -errno on failure', async (t) => {
    const native = needAddon(t);
    if (!native) return;
    const path = join(scratch.dir, 'kcmp');
    writeFileSync(path, 'x');
    const holder = await hold(['open', path, 'dup', '1', 'open', path, 'fork']);
    const [fd = -1, dupped = -1, independent = -1] = holder.fds;
    const child = holder.children[0] as number;
    const { pid } = holder;
    assert.equal(native.kcmp(pid, pid, KCMP_FILE, fd, dupped), 0, 'dup shares one struct file');
    const order = native.kcmp(pid, pid, KCMP_FILE, fd, independent);
    assert.ok(order === 1 || order === 2, `independent opens are ordered, got ${order}`);
    assert.equal(
      native.kcmp(pid, pid, KCMP_FILE, independent, fd),
      3 - order,
      'the ordering is antisymmetric',
    );
    assert.equal(native.kcmp(pid, child, KCMP_FILE, fd, fd), 0, 'fork shares the description');
    assert.equal(native.kcmp(pid, pid, KCMP_FILES, 0, 0), 0);
    assert.notEqual(native.kcmp(pid, child, KCMP_FILES, 0, 0), 0, 'after fork, two fd tables');
    assert.equal(native.kcmp(pid, pid, KCMP_FILE, fd, 999), -EBADF);
    const exited = await startHolder(['open', path]);
    await exited.stop();
    await waitUntil(() => !safeExists(`/proc/${exited.pid}`), 'the exited holder to be reaped');
    assert.equal(native.kcmp(exited.pid, pid, KCMP_FILE, 3, fd), -ESRCH);
  });

  it('seekData: finds the data and the hole of a sparse file, -ENXIO past the data', (t) => {
    const native = needAddon(t);
    if (!native?.seekData) return t.skip('this addon predates seekData');
    const path = join(scratch.dir, 'sparse');
    const fd = openSync(path, 'w+');
    try {
      ftruncateSync(fd, 1 << 22);
      writeSync(fd, Buffer.alloc(4096, 1), 0, 4096, 1 << 20);
      fsyncSync(fd);
      assert.equal(native.seekData(fd, 0, SEEK_DATA), 1 << 20);
      assert.equal(native.seekData(fd, 0, SEEK_HOLE), 0);
      assert.equal(native.seekData(fd, 1 << 20, SEEK_HOLE), (1 << 20) + 4096);
      assert.equal(native.seekData(fd, (1 << 20) + 4096, SEEK_DATA), -ENXIO);
      assert.equal(native.seekData(fd, 1 << 23, SEEK_HOLE), -ENXIO, 'past the end');
      assert.throws(() => native.seekData?.(fd, 0, 0), TypeError, 'only SEEK_DATA and SEEK_HOLE');
    } finally {
      closeSync(fd);
    }
    assert.equal(native.seekData(NOT_AN_FD, 0, SEEK_DATA), -EBADF);
  });

  it('memfdSeals: reads the seals a holder set, F_SEAL_SEAL on a plain memfd, -EINVAL elsewhere', async (t) => {
    const native = needAddon(t);
    if (!native?.memfdSeals) return t.skip('this addon predates memfdSeals');
    const F_SEAL_SEAL = 1;
    const F_SEAL_SHRINK = 2;
    const F_SEAL_GROW = 4;
    const holder = await hold([
      'sealed-memfd', 'sealed', '4096', String(F_SEAL_SHRINK | F_SEAL_GROW),
      'sealed-memfd', 'open', '4096', '0',
      'memfd', 'plain', '4096',
    ]); // prettier-ignore
    // Opening the /proc link gives this process its own fd of the same inode, which holds the seals.
    const seals = holder.fds.map((fd) => {
      const own = openSync(`/proc/${holder.pid}/fd/${fd}`, 'r');
      try {
        return native.memfdSeals?.(own);
      } finally {
        closeSync(own);
      }
    });
    assert.deepEqual(seals, [F_SEAL_SHRINK | F_SEAL_GROW, 0, F_SEAL_SEAL]);
    const proc = openSync('/proc/self/status', 'r');
    try {
      assert.equal(native.memfdSeals(proc), -EINVAL, 'not a shmem file');
    } finally {
      closeSync(proc);
    }
    assert.equal(native.memfdSeals(NOT_AN_FD), -EBADF);
  });

  it('socketProtocol: names a socket no /proc/net table lists; -EOPNOTSUPP for a pipe, -ENOENT, TypeError', async (t) => {
    const native = needAddon(t);
    if (!native?.socketProtocol) return t.skip('this addon predates socketProtocol');
    const unbound = await startHolder(['tcp'], { binary: `${repoRoot}test/fixtures/bin/fd-kinds` });
    holders.push(unbound);
    assert.equal(native.socketProtocol(`/proc/${unbound.pid}/fd/${unbound.fds[0]}`), 'TCP');
    const piped = await hold(['pipe']);
    assert.equal(native.socketProtocol(`/proc/${piped.pid}/fd/${piped.fds[0]}`), -EOPNOTSUPP);
    assert.equal(native.socketProtocol(join(scratch.dir, 'nothing here')), -ENOENT);
    assert.throws(() => native.socketProtocol?.(`/${'x'.repeat(5000)}`), TypeError);
  });

  it('linkFollow: names an O_TMPFILE file; -EEXIST, -ENOENT for an unlinked file, TypeError past PATH_MAX', async (t) => {
    const native = needAddon(t);
    if (!native?.linkFollow) return t.skip('this addon predates linkFollow');
    const dir = join(scratch.dir, 'link-follow');
    mkdirSync(dir);
    const holder = await hold([
      'tmpfile',
      dir,
      '4096',
      'create',
      join(dir, 'gone'),
      '10',
      'unlink',
      join(dir, 'gone'),
    ]);
    const [tmpfile = -1, unlinked = -1] = holder.fds;
    const named = join(dir, 'named');
    assert.equal(native.linkFollow(`/proc/${holder.pid}/fd/${tmpfile}`, named), 0);
    const truth = kernelStat(`/proc/${holder.pid}/fd/${tmpfile}`);
    assert.equal(Number(statSync(named, { bigint: true }).ino), truth.inode, 'the new name is the open file');
    assert.equal(truth.nlink, 1);
    assert.equal(native.linkFollow(`/proc/${holder.pid}/fd/${tmpfile}`, named), -EEXIST);
    // fs/namei.c vfs_link: an unlinked file that was not opened O_TMPFILE cannot get a name back.
    assert.equal(native.linkFollow(`/proc/${holder.pid}/fd/${unlinked}`, join(dir, 'back')), -ENOENT);
    assert.equal(native.linkFollow(join(dir, 'missing'), join(dir, 'other')), -ENOENT);
    assert.throws(() => native.linkFollow?.(`/${'x'.repeat(5000)}`, named), TypeError);
    unlinkSync(named);
  });

  it('linkFollow: -EXDEV across filesystems', async (t) => {
    const native = needAddon(t);
    if (!native?.linkFollow) return t.skip('this addon predates linkFollow');
    const other = '/dev/shm';
    if (!safeExists(other) || statSync(other).dev === statSync(scratch.dir).dev) {
      return t.skip('no second filesystem to link across');
    }
    const holder = await hold(['tmpfile', scratch.dir, '10']);
    const target = join(other, `limbo-parity-${process.pid}`);
    assert.equal(native.linkFollow(`/proc/${holder.pid}/fd/${holder.fds[0]}`, target), -EXDEV);
    assert.equal(safeExists(target), false);
  });
});

function safeExists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}
