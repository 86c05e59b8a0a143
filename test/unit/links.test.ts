// The pure judgements of `limbo links`, on hand-made observations: names, what rm frees,
// directory link counts, link limits, groups, and the JSON and table of names that are not text.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  analyzeLinks,
  judgeDirectoryNlink,
  linkLimitOf,
  summarizeGroups,
  type FilesystemFacts,
  type LinksObservation,
  type ObservedFile,
  type ObservedWalk,
} from '../../src/analyses/links.js';
import { linksReportToJson } from '../../src/analyses/links-json.js';
import { renderLinks } from '../../src/cli/links-command.js';
import { paletteFor } from '../../src/format/color.js';
import type { InodeHolder } from '../../src/proc/inode-holders.js';

const plain = paletteFor({ isTTY: false });
const tmpfs: FilesystemFacts = { fstype: 'tmpfs', mountPoint: '/mnt', extDriver: null, extDirNlink: null };
const b = (text: string) => Buffer.from(text);

function file(overrides: Partial<ObservedFile> = {}): ObservedFile {
  return {
    path: b('/mnt/a'),
    dev: '0:50',
    ino: 12n,
    nlink: 1,
    mode: 0o100644,
    sizeBytes: 5000,
    allocatedBytes: 8192,
    filesystem: tmpfs,
    searchedRoot: null,
    searchNote: null,
    holders: [],
    ...overrides,
  };
}

function walk(linked: ObservedWalk['linked'], overrides: Partial<ObservedWalk> = {}): ObservedWalk {
  return {
    root: '/mnt',
    dev: '0:50',
    purpose: 'names',
    milliseconds: 3.2,
    files: 10,
    directories: 3,
    errors: 0,
    allocatedBytes: 40960,
    linked,
    ...overrides,
  };
}

function observe(overrides: Partial<LinksObservation>): LinksObservation {
  return {
    files: [],
    directories: [],
    groups: null,
    walks: [],
    unreadablePids: [],
    scannerUid: 0,
    ...overrides,
  };
}

const holder: InodeHolder = { pid: 4242, comm: b('holder'), fds: [3], mappings: 0 };

describe('judgeDirectoryNlink', () => {
  const cases: [string | null, number, number | null, boolean, RegExp][] = [
    ['ext4', 7, 5, true, /matches/],
    ['tmpfs', 2, 0, true, /matches/],
    ['ext4', 7, 4, false, /but 4 subdirectories were counted/],
    ['xfs', 9, null, true, /not checked/],
    ['btrfs', 1, 5, false, /btrfs reports nlink 1 for every directory/],
    ['ext4', 1, 70000, false, /dir_nlink: past 65,000/],
    ['overlay', 1, 2, false, /overlayfs/],
    ['fuse.sshfs', 1, 3, false, /fuse.sshfs does not count subdirectories/],
  ];
  for (const [fstype, nlink, counted, reliable, rule] of cases) {
    it(`${fstype} nlink ${nlink}, ${counted} counted: ${reliable ? 'reliable' : 'not reliable'}`, () => {
      const judged = judgeDirectoryNlink(fstype, nlink, counted);
      assert.equal(judged.reliable, reliable);
      assert.match(judged.rule, rule);
    });
  }
});

describe('linkLimitOf', () => {
  const facts = (fstype: string | null, more: Partial<FilesystemFacts> = {}): FilesystemFacts => ({
    fstype,
    mountPoint: '/',
    extDriver: fstype?.startsWith('ext') ? 'ext4' : null,
    extDirNlink: null,
    ...more,
  });
  const cases: [string, FilesystemFacts, boolean, number | null, RegExp][] = [
    ['ext4 file', facts('ext4'), false, 65000, /EXT4_LINK_MAX/],
    ['ext2 mounted by the ext4 driver', facts('ext2'), false, 65000, /EXT4_LINK_MAX/],
    ['ext2 mounted by the ext2 driver', facts('ext2', { extDriver: 'ext2' }), false, 32000, /EXT2_LINK_MAX/],
    ['ext3, driver unknown', facts('ext3', { extDriver: null }), false, null, /unknown/],
    ['ext4 directory with dir_nlink', facts('ext4', { extDirNlink: true }), true, null, /none/],
    ['ext4 directory without dir_nlink', facts('ext4', { extDirNlink: false }), true, 65000, /dir_nlink/],
    ['ext4 directory, superblock unread', facts('ext4'), true, null, /unknown/],
    ['xfs file', facts('xfs'), false, 2 ** 31 - 1, /XFS_MAXLINK/],
    ['xfs directory', facts('xfs'), true, 2 ** 31 - 1, /XFS_MAXLINK/],
    ['btrfs file', facts('btrfs'), false, 65535, /BTRFS_LINK_MAX/],
    ['btrfs directory', facts('btrfs'), true, null, /none/],
    ['f2fs', facts('f2fs'), false, 0xffffffff, /F2FS_LINK_MAX/],
    ['tmpfs', facts('tmpfs'), false, null, /none: tmpfs sets no maximum/],
    ['nfs4', facts('nfs4'), false, null, /unknown for nfs4/],
    ['no mount found', facts(null), false, null, /unknown/],
  ];
  for (const [label, fs, directory, max, source] of cases) {
    it(`${label}: ${max ?? 'null'}`, () => {
      const limit = linkLimitOf(fs, directory);
      assert.equal(limit.max, max);
      assert.match(limit.source, source);
    });
  }
});

describe('analyzeLinks: files', () => {
  it('lists every name the walk found for the inode, and frees nothing while another name remains', () => {
    const linked = [
      { path: b('/mnt/a'), ino: 12n, nlink: 3, allocatedBytes: 8192 },
      { path: b('/mnt/x/c'), ino: 12n, nlink: 3, allocatedBytes: 8192 },
      { path: b('/mnt/b'), ino: 12n, nlink: 3, allocatedBytes: 8192 },
      { path: b('/mnt/other'), ino: 99n, nlink: 2, allocatedBytes: 4096 },
    ];
    const report = analyzeLinks(
      observe({ files: [file({ nlink: 3, searchedRoot: '/mnt' })], walks: [walk(linked)] }),
    );
    const [f] = report.files;
    assert.deepEqual(
      f?.names.map((n) => n.toString()),
      ['/mnt/a', '/mnt/b', '/mnt/x/c'],
    );
    assert.equal(f?.namesOutside, 0);
    assert.equal(f?.freedByRemovingBytes, 0);
    assert.equal(f?.freedByRemovingAllNamesBytes, 8192);
  });

  it('counts names the walk did not reach as outside, and then removing every name found frees nothing', () => {
    const linked = [{ path: b('/mnt/a'), ino: 12n, nlink: 2, allocatedBytes: 8192 }];
    const report = analyzeLinks(
      observe({ files: [file({ nlink: 2, searchedRoot: '/mnt' })], walks: [walk(linked)] }),
    );
    assert.equal(report.files[0]?.namesOutside, 1);
    assert.equal(report.files[0]?.freedByRemovingAllNamesBytes, 0);
  });

  it('frees st_blocks × 512 for the last name with no holder, nothing while a process holds it', () => {
    const alone = analyzeLinks(observe({ files: [file()] })).files[0];
    assert.equal(alone?.freedByRemovingBytes, 8192, 'allocated, not the 5000-byte size');
    const held = analyzeLinks(observe({ files: [file({ holders: [holder] })] })).files[0];
    assert.equal(held?.freedByRemovingBytes, 0);
    assert.equal(held?.freedByRemovingAllNamesBytes, 0);
  });
});

describe('analyzeLinks: directories', () => {
  it('infers dir_nlink from an ext4 directory at nlink 1 when the superblock could not be read', () => {
    const ext4: FilesystemFacts = { fstype: 'ext4', mountPoint: '/', extDriver: 'ext4', extDirNlink: null };
    const dir = { ...file({ filesystem: ext4, nlink: 1, mode: 0o040755 }), subdirectories: 70000 };
    const [judged] = analyzeLinks(observe({ directories: [dir] })).directories;
    assert.equal(judged?.nlinkReliable, false);
    assert.equal(judged?.subdirectoriesImplied, null);
    assert.equal(judged?.linkLimit.max, null);
    assert.match(judged?.linkLimit.source ?? '', /none: with dir_nlink/);
  });
});

describe('summarizeGroups', () => {
  const linked = [
    { path: b('/d/small-1'), ino: 5n, nlink: 2, allocatedBytes: 4096 },
    { path: b('/d/big-2'), ino: 7n, nlink: 3, allocatedBytes: 1048576 },
    { path: b('/d/small-2'), ino: 5n, nlink: 2, allocatedBytes: 4096 },
    { path: b('/d/big-1'), ino: 7n, nlink: 3, allocatedBytes: 1048576 },
  ];
  const report = summarizeGroups('/d', '8:1', walk(linked, { purpose: 'groups', allocatedBytes: 2 ** 21 }));

  it('lists the biggest group first, with the names outside the directory', () => {
    assert.deepEqual(
      report.groups.map((g) => [g.ino, g.names.map(String), g.namesOutside]),
      [
        [7n, ['/d/big-1', '/d/big-2'], 1],
        [5n, ['/d/small-1', '/d/small-2'], 0],
      ],
    );
  });

  it('says what a backup needs with and without hard links kept', () => {
    assert.equal(report.deduplicatedBytes, 2 ** 21);
    assert.equal(report.withoutLinkDetectionBytes, 2 ** 21 + 1048576 + 4096);
  });
});

describe('limbo.links/1 and the table for names that are not text', () => {
  const odd = Buffer.concat([b('/mnt/bad-'), Buffer.from([0xff]), b('\nname')]);
  const linked = [
    { path: b('/mnt/a'), ino: 2n ** 60n, nlink: 2, allocatedBytes: 4096 },
    { path: odd, ino: 2n ** 60n, nlink: 2, allocatedBytes: 4096 },
  ];
  const report = analyzeLinks(
    observe({
      files: [file({ ino: 2n ** 60n, nlink: 2, searchedRoot: '/mnt' })],
      walks: [walk(linked)],
    }),
  );

  it('keeps exact bytes in namesBytes, null for the names that are valid UTF-8, and big inodes as strings', () => {
    const json = linksReportToJson(report);
    const [f] = json.files;
    assert.equal(f?.inode, (2n ** 60n).toString());
    assert.equal(f?.names.length, 2);
    assert.deepEqual(f?.namesBytes, [null, odd.toString('base64')]);
    assert.equal(f?.pathBytes, undefined, 'the given name is valid UTF-8');
  });

  it('escapes the newline and the invalid byte in the table', () => {
    const table = renderLinks(report, plain);
    assert.ok(table.includes('/mnt/bad-\\xff\\nname'), table);
    assert.ok(!table.includes('\nname'), 'no raw newline from the name');
  });
});
