import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { findSharedMemory, parseSysvMapping, topMountAt } from '../../src/analyses/shm.js';
import { shmReportToJson } from '../../src/analyses/shm-json.js';
import type { Mount } from '../../src/proc/mountinfo.js';
import { parseSysvShm } from '../../src/proc/sysvipc-shm.js';
import type { HeldMapping, ProcessRecord, Snapshot } from '../../src/snapshot/types.js';
import { processRecord as makeProcessRecord, snapshotRecord } from '../helpers/records.js';

// The captured table (see test/unit/sysvipc-shm.test.ts): shmid 0 key 0x1234abcd attached,
// shmid 1 key 0xdeadbeef orphaned, shmid 2 removed while attached (key reads 0), shmid 3 locked
// and never attached (orphaned too). Every row names pid 14839 as creator.
const table = parseSysvShm(
  readFileSync(new URL('../../../test/fixtures/proc/sysvipc-shm.txt', import.meta.url), 'latin1'),
);

/** A SysV attach as the scan records it: maps name without " (deleted)", inode = shmid. */
function attach(keyHex: string, shmid: number, range = '7f0000000000-7f0000001000'): HeldMapping {
  return {
    range,
    perms: 'rw-s',
    fileKey: `0:1:${shmid}`,
    name: Buffer.from(`/SYSV${keyHex}`),
    nameNowKey: null,
  };
}

function processRecord(
  pid: number,
  fields: Partial<ProcessRecord> & { mappings?: readonly HeldMapping[] } = {},
): ProcessRecord {
  return makeProcessRecord(pid, { fdCount: 3, ...fields });
}

function mount(fields: Partial<Mount> & Pick<Mount, 'mountId' | 'parentId' | 'dev' | 'mountPoint'>): Mount {
  return { root: '/', fstype: 'tmpfs', source: 'tmpfs', ...fields };
}

function snapshotOf(fields: Partial<Snapshot>): Snapshot {
  return snapshotRecord({
    takenAt: '2026-11-23T00:00:00.000Z',
    hostname: 'test',
    shmSegments: table,
    posixShm: [],
    ...fields,
  });
}

describe('parseSysvMapping', () => {
  const cases: [string, string, string, { shmid: number; keyHex: string } | null][] = [
    ['an IPC_PRIVATE attach', '/SYSV00000000', '0:1:65539', { shmid: 65539, keyHex: '0x00000000' }],
    ['a keyed attach', '/SYSVdeadbeef', '0:1:7', { shmid: 7, keyHex: '0xdeadbeef' }],
    ['a hugetlb attach (another dev)', '/SYSV00001234', '0:15:3', { shmid: 3, keyHex: '0x00001234' }],
    ['a memfd', '/memfd:x', '0:1:5', null],
    ['a file whose name only starts like one', '/SYSVlog', '254:0:12', null],
  ];
  for (const [what, name, fileKey, expected] of cases) {
    it(`reads ${what}`, () => {
      assert.deepEqual(parseSysvMapping(Buffer.from(name), fileKey), expected);
    });
  }
});

describe('topMountAt', () => {
  const host = mount({ mountId: 25, parentId: 24, dev: '0:23', mountPoint: '/dev/shm' });
  const over = mount({ mountId: 30, parentId: 25, dev: '0:27', mountPoint: '/dev/shm' });
  const other = mount({ mountId: 31, parentId: 30, dev: '0:28', mountPoint: '/dev/shm/sub' });

  it('picks the mount stacked on top, whatever the order of the lines', () => {
    assert.equal(topMountAt([host, over, other], '/dev/shm'), over);
    assert.equal(topMountAt([over, host], '/dev/shm'), over);
  });

  it('returns null when nothing is mounted there', () => {
    assert.equal(topMountAt([other], '/dev/shm'), null);
  });
});

describe('findSharedMemory', () => {
  it('reads every segment with its status, orphans first', () => {
    const report = findSharedMemory(snapshotOf({}));
    assert.deepEqual(
      report.segments.map((s) => [s.shmid, s.status]),
      [
        [1, 'orphaned'],
        [3, 'orphaned'],
        [2, 'removed-attached'],
        [0, 'attached'],
      ],
    );
  });

  it('counts attaches per process, and recovers a removed segment’s key from the maps name', () => {
    const holder = processRecord(14839, {
      mappings: [
        attach('1234abcd', 0),
        attach('1234abcd', 0, '7f0000001000-7f0000002000'),
        attach('cafef00d', 2),
      ],
    });
    const report = findSharedMemory(snapshotOf({ processes: [holder] }));
    const byId = new Map(report.segments.map((s) => [s.shmid, s]));
    assert.deepEqual(
      byId.get(0)?.attachments.map((a) => [a.pid, a.count]),
      [[14839, 2]],
    );
    assert.equal(byId.get(0)?.unseenAttaches, 0, 'nattch 1, two found: never negative');
    assert.equal(byId.get(2)?.keyHex, '0x00000000');
    assert.equal(byId.get(2)?.originalKeyHex, '0xcafef00d');
    assert.equal(byId.get(0)?.creator?.comm?.toString(), 'proc14839', 'the creator is alive');
  });

  it('does not name a creator that is now a zombie, but does one whose main thread alone exited', () => {
    const zombie = findSharedMemory(snapshotOf({ processes: [processRecord(14839, { state: 'Z' })] }));
    assert.deepEqual(zombie.segments[0]?.creator, { pid: 14839, comm: null });
    const threaded = findSharedMemory(
      snapshotOf({ processes: [processRecord(14839, { state: 'Z', threads: 2 })] }),
    );
    assert.equal(threaded.segments[0]?.creator?.comm?.toString(), 'proc14839');
  });

  it('leaves attaches whose key contradicts the table (another IPC namespace) unmatched', () => {
    const container = processRecord(500, { mappings: [attach('00000000', 0), attach('00000000', 9)] });
    const report = findSharedMemory(snapshotOf({ processes: [container] }));
    assert.deepEqual(report.segments.find((s) => s.shmid === 0)?.attachments, []);
    assert.equal(report.segments.find((s) => s.shmid === 0)?.unseenAttaches, 1);
    assert.deepEqual(
      report.unmatched.map((u) => [u.pid, u.shmid, u.keyHex, u.count]),
      [
        [500, 0, '0x00000000', 1],
        [500, 9, '0x00000000', 1],
      ],
    );
  });

  it('names owners from the snapshot’s own processes first, then the given table, else the uid', () => {
    const segments = (table ?? []).map((s, i) => ({ ...s, uid: [1000, 1001, 1002, 0][i] ?? 0 }));
    const report = findSharedMemory(
      snapshotOf({
        shmSegments: segments,
        processes: [processRecord(7, { uid: 1000, user: 'alice' })],
      }),
      {
        users: new Map([
          [1000, 'mallory'],
          [1001, 'bob'],
        ]),
      },
    );
    const owners = new Map(report.segments.map((s) => [s.shmid, s.owner]));
    assert.deepEqual(
      [owners.get(0), owners.get(1), owners.get(2), owners.get(3)],
      ['alice', 'bob', '1002', '0'],
    );
  });

  it('filters by status, and the totals cover what is listed', () => {
    const report = findSharedMemory(snapshotOf({}), { status: 'orphaned' });
    assert.deepEqual(
      report.segments.map((s) => s.shmid),
      [1, 3],
    );
    assert.deepEqual(report.totals, {
      segments: 2,
      sizeBytes: 65536 + 4096,
      rssBytes: 4096,
      swapBytes: 0,
      byStatus: {
        attached: { segments: 0, sizeBytes: 0, rssBytes: 0, swapBytes: 0 },
        orphaned: { segments: 2, sizeBytes: 65536 + 4096, rssBytes: 4096, swapBytes: 0 },
        'removed-attached': { segments: 0, sizeBytes: 0, rssBytes: 0, swapBytes: 0 },
      },
    });
  });

  it('says the table was unreadable rather than empty', () => {
    const report = findSharedMemory(snapshotOf({ shmSegments: null }));
    assert.equal(report.sysvReadable, false);
    assert.equal(shmReportToJson(report).incomplete.sysvUnreadable, true);
  });

  it('summarises /dev/shm and finds its deleted files on the mount on top', () => {
    const deletedKey = '0:27:99';
    const report = findSharedMemory(
      snapshotOf({
        mountNamespaces: [
          {
            id: 'mnt:[1]',
            mounts: [
              mount({ mountId: 25, parentId: 1, dev: '0:23', mountPoint: '/dev/shm' }),
              mount({ mountId: 30, parentId: 25, dev: '0:27', mountPoint: '/dev/shm' }),
            ],
          },
        ],
        files: [
          {
            key: deletedKey,
            dev: '0:27',
            ino: 99n,
            nlink: 0,
            sizeBytes: 5000,
            allocatedBytes: 8192,
            mode: 0o100600,
          },
          {
            key: '0:23:5',
            dev: '0:23',
            ino: 5n,
            nlink: 0,
            sizeBytes: 1,
            allocatedBytes: 4096,
            mode: 0o100600,
          },
        ],
        processes: [
          processRecord(42, {
            fds: [
              { fd: 3, tid: null, fileKey: deletedKey, name: Buffer.from('/dev/shm/gone') },
              { fd: 4, tid: null, fileKey: '0:23:5', name: Buffer.from('/dev/shm/hidden') },
            ],
          }),
        ],
        posixShm: [
          { name: Buffer.from('small'), uid: 0, sizeBytes: 10, allocatedBytes: 4096 },
          { name: Buffer.from('big'), uid: 0, sizeBytes: 1 << 20, allocatedBytes: 1 << 20 },
          { name: Buffer.from('sparse'), uid: 0, sizeBytes: 1 << 30, allocatedBytes: 0 },
        ],
      }),
      { biggest: 2 },
    );
    const { posix } = report;
    assert.equal(posix.mount?.dev, '0:27');
    assert.deepEqual(
      [posix.files, posix.sizeBytes, posix.allocatedBytes],
      [3, 10 + (1 << 20) + (1 << 30), 4096 + (1 << 20)],
    );
    assert.deepEqual(
      posix.biggest.map((f) => f.name.toString()),
      ['big', 'small'],
    );
    assert.deepEqual(
      posix.deleted.map((f) => [f.name?.toString(), f.allocatedBytes]),
      [['/dev/shm/gone', 8192]],
      'the file on the covered mount underneath is not this /dev/shm',
    );
    assert.equal(posix.deletedAllocatedBytes, 8192);
  });
});
