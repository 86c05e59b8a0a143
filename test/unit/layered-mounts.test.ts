// Deleted files on layered filesystems, classified from captured /proc text: NFS cannot be mounted
// here, so its silly renames are checked on mountinfo lines with nfs4 and fd links such as
// `/mnt/nfs/.nfs000000000123abcd00000001`; overlay and FUSE lines are as this kernel prints them.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { findDeletedFiles } from '../../src/analyses/deleted.js';
import { deletedReportToJson } from '../../src/analyses/deleted-json.js';
import { reconcileFilesystems } from '../../src/analyses/df.js';
import { sillyRenamerOf, sillyRenamerOfFilesystem } from '../../src/proc/deleted-name.js';
import { parseMountinfo } from '../../src/proc/mountinfo.js';
import { parseSnapshot, stringifySnapshot } from '../../src/snapshot/snapshot-json.js';
import type { FileRecord, HeldFd, ProcessRecord } from '../../src/snapshot/types.js';
import { processRecord, snapshotRecord } from '../helpers/records.js';

const mountinfo = [
  '27 1 254:0 / / rw,relatime - ext4 /dev/vda rw',
  // An NFSv4 client mount, as /proc/self/mountinfo prints one.
  '52 27 0:53 / /mnt/nfs rw,relatime shared:40 - nfs4 server:/export rw,vers=4.2,rsize=1048576,wsize=1048576,namlen=255,hard,proto=tcp,timeo=600,retrans=2,sec=sys,clientaddr=10.0.0.2,local_lock=none,addr=10.0.0.1',
  '53 27 0:54 / /mnt/nfs3 rw,relatime - nfs server:/old rw,vers=3',
  // bindfs (libfuse 2 through fusermount): fstype "fuse", the source directory as the source.
  '42 27 0:39 / /srv/fuse rw,nosuid,nodev,relatime - fuse /srv/fuse-src rw,user_id=0,group_id=0,default_permissions,allow_other',
  // Captured on 6.18: an overlay; a comma in a path would be escaped as \\054.
  '44 27 0:41 / /scratch rw,relatime - tmpfs limbo-test rw,size=65536k,mode=755',
  '47 27 0:42 / /merged rw,relatime - overlay limbo-overlay rw,lowerdir=/scratch/lower,upperdir=/scratch/up\\054per,workdir=/scratch/work,uuid=on',
].join('\n');

function file(key: string, fields: Partial<FileRecord> = {}): FileRecord {
  const [major, minor, ino] = key.split(':');
  return {
    key,
    dev: `${major}:${minor}`,
    ino: BigInt(ino as string),
    nlink: 0,
    sizeBytes: 8192,
    allocatedBytes: 8192,
    mode: 0o100644,
    ...fields,
  };
}

function process(pid: number, comm: string, fds: HeldFd[]): ProcessRecord {
  return processRecord(pid, { comm: Buffer.from(comm), fds });
}

function fd(n: number, fileKey: string, name: string): HeldFd {
  return { fd: n, tid: null, fileKey, name: Buffer.from(name) };
}

const NFS_HIDDEN = '/mnt/nfs/.nfs000000000123abcd00000001';
const FUSE_HIDDEN = '/srv/fuse/.fuse_hidden0000000200000001';

const mounts = parseMountinfo(mountinfo).map((m) =>
  m.fstype === 'overlay' ? { ...m, upperDev: '0:41' } : m,
);

const snapshot = snapshotRecord({
  processes: [
    process(600, 'writer', [
      // NFS: the fd reads the hidden name itself, without " (deleted)"; the cached nlink reads 1.
      fd(3, '0:53:77', NFS_HIDDEN),
      // FUSE: the fd keeps the deleted name; the scan found the hidden one beside it.
      fd(4, '0:39:5', '/srv/fuse/spool.bin'),
      // An overlay file written through /merged.
      fd(5, '0:42:10', '/merged/written.bin'),
      // A lower-only file deleted through /merged: nlink 1, not held deleted.
      fd(6, '0:42:11', '/merged/below.txt'),
      // A name like NFS's on a filesystem that does not silly-rename: not deleted (nlink 1).
      fd(7, '254:0:90', '/home/me/.nfs000000000123abcd00000001'),
      // NFSv3, still nlink 0 in the cache.
      fd(8, '0:54:12', '/mnt/nfs3/.nfs0000000000000abc00000002'),
      // A POSIX message queue after mq_unlink.
      fd(9, '0:20:3', '/jobs'),
    ]),
    // The FUSE daemon holds the backing file under the hidden name, on the filesystem below.
    process(590, 'bindfs', [fd(5, '254:0:4242', '/srv/fuse-src/.fuse_hidden0000000200000001')]),
  ],
  files: [
    file('0:53:77', { nlink: 1 }),
    file('0:39:5', { nlink: 1, sillyName: Buffer.from(FUSE_HIDDEN) }),
    file('0:42:10', { sizeBytes: 30 * 1024 * 1024, allocatedBytes: 30 * 1024 * 1024 }),
    file('0:42:11', { nlink: 1 }),
    file('254:0:90', { nlink: 1 }),
    file('0:54:12'),
    file('0:20:3', { sizeBytes: 80, allocatedBytes: 0, statfsType: 'mqueue' }),
    file('254:0:4242', { nlink: 1 }),
  ],
  mountNamespaces: [{ id: 'mnt:[1]', mounts }],
});

describe('silly-rename names', () => {
  const cases: [string, ReturnType<typeof sillyRenamerOf>][] = [
    [FUSE_HIDDEN, 'fuse'],
    [NFS_HIDDEN, 'nfs'],
    ['.nfs000000000123abcd00000001', 'nfs'],
    ['/mnt/nfs/.nfs000000000123abcd0000001', null], // 23 hex digits
    ['/mnt/nfs/.nfs000000000123ABCD00000001', null], // the kernel prints lowercase
    ['/srv/fuse/.fuse_hidden00000002000000011', null],
    ['/srv/fuse/.fuse_hidden0000000200000001/inside', null],
    ['/home/me/.nfsrc', null],
  ];
  for (const [name, renamer] of cases) {
    it(`${name}: ${renamer ?? 'not one'}`, () => {
      assert.equal(sillyRenamerOf(name), renamer);
      assert.equal(sillyRenamerOf(Buffer.from(name)), renamer);
    });
  }

  it('knows which filesystems rename so', () => {
    assert.deepEqual(
      ['fuse', 'fuse.sshfs', 'fuseblk', 'nfs', 'nfs4', 'ext4', 'fusectl', 'overlay', null].map(
        sillyRenamerOfFilesystem,
      ),
      ['fuse', 'fuse', 'fuse', 'nfs', 'nfs', null, null, null, null],
    );
  });
});

describe('overlay mounts in mountinfo', () => {
  it('reads upperdir from the super options, unescaped', () => {
    const overlay = parseMountinfo(mountinfo).find((m) => m.fstype === 'overlay');
    assert.equal(overlay?.upperDir, '/scratch/up,per');
    assert.equal(parseMountinfo(mountinfo).filter((m) => m.upperDir !== undefined).length, 1);
  });
});

describe('deleted files on NFS, FUSE, overlay and mqueue mounts', () => {
  const report = findDeletedFiles(snapshot);
  const byKey = new Map(report.files.map((f) => [f.key, f]));

  it('lists exactly the held ones: silly renames whatever nlink says, never a lookalike elsewhere', () => {
    assert.deepEqual([...byKey.keys()].sort(), ['0:20:3', '0:39:5', '0:42:10', '0:53:77', '0:54:12']);
  });

  it('names an NFS silly rename by the name its fd carries', () => {
    const nfs = byKey.get('0:53:77');
    assert.equal(nfs?.kind, 'silly-renamed');
    assert.equal(nfs.name?.toString(), NFS_HIDDEN);
    assert.equal(nfs.mount, '/mnt/nfs');
    assert.equal(nfs.fstype, 'nfs4');
    assert.deepEqual(nfs.sillyRename, { by: 'nfs', deletedName: null, backingHolders: [] });
    assert.equal(byKey.get('0:54:12')?.kind, 'silly-renamed');
  });

  it('names a FUSE silly rename by its hidden name, with the deleted one and the daemon', () => {
    const fuse = byKey.get('0:39:5');
    assert.equal(fuse?.kind, 'silly-renamed');
    assert.equal(fuse.name?.toString(), FUSE_HIDDEN);
    assert.equal(fuse.sillyRename?.by, 'fuse');
    assert.equal(fuse.sillyRename.deletedName?.toString(), '/srv/fuse/spool.bin');
    assert.deepEqual(
      fuse.sillyRename.backingHolders.map((h) => [h.pid, h.comm.toString(), h.fds, h.name.toString()]),
      [[590, 'bindfs', [5], '/srv/fuse-src/.fuse_hidden0000000200000001']],
    );
    assert.deepEqual(
      fuse.holders.map((h) => h.pid),
      [600],
    );
  });

  it('places an overlay file on its upper layer’s filesystem, keeping the overlay as the view', () => {
    const over = byKey.get('0:42:10');
    assert.equal(over?.kind, 'file');
    assert.equal(over.mount, '/scratch');
    assert.equal(over.fstype, 'tmpfs');
    assert.deepEqual(over.overlay, { mount: '/merged', upperDir: '/scratch/up,per' });
    const onScratch = findDeletedFiles(snapshot, { filesystem: { dev: '0:41', mountPoint: '/scratch' } });
    assert.deepEqual(
      onScratch.files.map((f) => f.key),
      ['0:42:10'],
    );
  });

  it('calls an unlinked message queue what it is: RAM, on no disk', () => {
    const queue = byKey.get('0:20:3');
    assert.equal(queue?.kind, 'mqueue');
    assert.equal(queue.fstype, 'mqueue');
    assert.equal(queue.mount, null);
    assert.equal(queue.ramBacked, true);
    // The overlay file is on the tmpfs upper layer: RAM too. Disk: the NFS and FUSE files.
    assert.equal(report.totals.diskAllocatedBytes, 8192 * 3);
    assert.equal(report.totals.ramAllocatedBytes, 30 * 1024 * 1024);
  });

  it('publishes kind, overlay and sillyRename in limbo.deleted/1', () => {
    const json = deletedReportToJson(report);
    const nfs = json.files.find((f) => f.path === NFS_HIDDEN);
    assert.deepEqual(nfs?.sillyRename, { by: 'nfs', deletedPath: null, backingHolders: [] });
    assert.equal(json.files.find((f) => f.kind === 'file')?.overlay?.mount, '/merged');
    assert.equal(json.files.find((f) => f.kind === 'mqueue')?.overlay, null);
  });

  it('df counts silly renames once (visible), and overlay files on the upper filesystem', () => {
    const space = { sizeBytes: 64 * 1024 * 1024, usedBytes: 0, availableBytes: 0, reservedBytes: 0 };
    const measure = (mountPoint: string) => ({
      mount: mounts.find((m) => m.mountPoint === mountPoint) as (typeof mounts)[number],
      space,
      walk: null,
      hiddenBytes: null,
      hiddenNote: null,
    });
    const [nfs, scratch] = reconcileFilesystems(snapshot, [
      measure('/mnt/nfs'),
      measure('/scratch'),
    ]).filesystems;
    assert.equal(nfs?.heldByDeletedFiles, 0);
    assert.equal(nfs.sillyRenamedFiles, 1);
    assert.equal(nfs.sillyRenamedBytes, 8192);
    assert.equal(scratch?.heldByDeletedBytes, 30 * 1024 * 1024);
    assert.deepEqual(scratch.overlays, ['/merged']);
  });

  it('keeps sillyName, statfsType and upperDev through a snapshot file', () => {
    const again = parseSnapshot(stringifySnapshot(snapshot));
    assert.deepEqual(again.files, snapshot.files);
    assert.deepEqual(again.mountNamespaces, snapshot.mountNamespaces);
  });
});
