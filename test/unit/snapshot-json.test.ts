import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LimboError } from '../../src/core/errors.js';
import { parseSnapshot, stringifySnapshot } from '../../src/snapshot/snapshot-json.js';
import type { Snapshot } from '../../src/snapshot/types.js';

const bigInode = 2n ** 53n + 1n;
const maxInode = 2n ** 64n - 1n;
// A deleted log whose name holds a newline and the bytes ff fe (not UTF-8).
const awkwardName = Buffer.concat([
  Buffer.from('/var/log/app\nold'),
  Buffer.from([0xff, 0xfe]),
  Buffer.from('.log'),
]);
// CESU-8 for U+D800: a surrogate, which UTF-8 forbids and a JSON string cannot carry as bytes.
const surrogateName = Buffer.from([0x2f, 0x74, 0xed, 0xa0, 0x80]);

const snapshot: Snapshot = {
  schema: 'limbo.snapshot/1',
  takenAt: '2024-06-11T10:00:00.000Z',
  hostname: 'web-1',
  procRoot: '/proc',
  hostMountNamespace: 'mnt:[4026531841]',
  scanMilliseconds: 12.5,
  processes: [
    {
      pid: 1234,
      ppid: 1,
      comm: Buffer.from('nginx'),
      uid: 33,
      user: 'www-data',
      state: 'S',
      threads: 4,
      mountNamespace: 'mnt:[4026531841]',
      cgroup: '/system.slice/nginx.service',
      unit: 'nginx.service',
      container: null,
      fdCount: 12,
      readable: true,
      fds: [
        { fd: 7, tid: null, fileKey: `254:0:${bigInode}`, name: awkwardName },
        { fd: 9, tid: 1240, fileKey: `0:1:${maxInode}`, name: null },
        { fd: 10, tid: null, fileKey: `0:1:${maxInode}`, name: Buffer.alloc(0) },
      ],
      mappings: [
        {
          range: '7fd051dc3000-7fd051dc4000',
          perms: 'r--s',
          fileKey: `0:1:${maxInode}`,
          name: Buffer.from('/tmp/日本 café (deleted)'),
          nameNowKey: null,
        },
        {
          range: '7fd051dc4000-7fd051dc5000',
          perms: 'r--s',
          fileKey: `254:0:${bigInode}`,
          name: surrogateName,
          nameNowKey: `254:0:${maxInode}`,
        },
      ],
      deletedExe: { fileKey: `254:0:${bigInode}`, name: awkwardName, nameNowKey: null },
      handles: {
        fdTypes: { regular: 3, socket: 1 },
        socketProtocols: { unix: 1 },
        anonInodes: {},
        openFiles: 3,
        mappingFiles: 2,
        shmAttachments: 1,
      },
      fdLimit: { soft: 1024, hard: null },
    },
    {
      pid: 1,
      ppid: 0,
      comm: Buffer.from([0x69, 0x6e, 0x69, 0x74, 0x80]),
      uid: 0,
      user: 'root',
      state: 'S',
      threads: 1,
      mountNamespace: null,
      cgroup: null,
      unit: null,
      container: null,
      fdCount: null,
      readable: false,
      fds: [],
      mappings: [],
      deletedExe: null,
      fdLimit: null,
      handles: null,
    },
  ],
  files: [
    {
      key: `254:0:${bigInode}`,
      dev: '254:0',
      ino: bigInode,
      nlink: 0,
      sizeBytes: 10485760,
      allocatedBytes: 4096,
      mode: 0o100644,
    },
    {
      key: `0:1:${maxInode}`,
      dev: '0:1',
      ino: maxInode,
      nlink: 0,
      sizeBytes: 0,
      allocatedBytes: 0,
      mode: 0o100600,
    },
  ],
  mountNamespaces: [
    {
      id: 'mnt:[4026531841]',
      mounts: [
        {
          mountId: 27,
          parentId: 1,
          dev: '254:0',
          root: '/',
          mountPoint: '/',
          fstype: 'ext4',
          source: '/dev/vda',
        },
        {
          mountId: 85,
          parentId: 27,
          dev: '0:40',
          root: '/',
          mountPoint: '/tmp/with space\nand newline',
          fstype: 'tmpfs',
          source: 'tmp src',
        },
        {
          mountId: 86,
          parentId: 27,
          dev: '0:41',
          root: '/',
          mountPoint: '/mnt/\ufffd',
          mountPointBytes: Buffer.from([0x2f, 0x6d, 0x6e, 0x74, 0x2f, 0xff]),
          fstype: 'tmpfs',
          source: 'tmpfs',
        },
      ],
    },
  ],
  incomplete: { scannerUid: 1000, unreadableProcesses: 1, unreadablePids: [1], unverifiedMappings: 2 },
  system: {
    fileNr: { allocated: 1234, max: 9_000_000 },
    nrOpen: 1_048_576,
    openFiles: 1000,
    openFilesExact: false,
    fdsInFlight: null,
  },
  shmSegments: [],
  posixShm: [{ name: Buffer.from([0x66, 0xff]), uid: 0, sizeBytes: 10, allocatedBytes: 4096 }],
};

type JsonObject = Record<string, unknown>;

/** The JSON of `snapshot` with one change made to its parsed form. */
function withChange(change: (data: JsonObject) => void): string {
  const data = JSON.parse(stringifySnapshot(snapshot)) as JsonObject;
  change(data);
  return JSON.stringify(data);
}

const firstProcess = (data: JsonObject) => (data['processes'] as JsonObject[])[0] as JsonObject;
const firstFile = (data: JsonObject) => (data['files'] as JsonObject[])[0] as JsonObject;

function isSnapshotInvalid(error: unknown): boolean {
  return error instanceof LimboError && error.code === 'snapshot-invalid';
}

describe('stringifySnapshot and parseSnapshot', () => {
  it('give back an equal snapshot', () => {
    assert.deepEqual(parseSnapshot(stringifySnapshot(snapshot)), snapshot);
  });

  it('give back names byte for byte, including invalid UTF-8, surrogates and newlines', () => {
    const [process] = parseSnapshot(stringifySnapshot(snapshot)).processes;
    assert.deepEqual(process?.fds[0]?.name, awkwardName);
    assert.deepEqual(process?.mappings[1]?.name, surrogateName);
  });

  it('give back inodes above 2^53 exactly, as bigints', () => {
    assert.deepEqual(
      parseSnapshot(stringifySnapshot(snapshot)).files.map((f) => f.ino),
      [bigInode, maxInode],
    );
  });

  it('write the same text again after a round trip', () => {
    const text = stringifySnapshot(snapshot);
    assert.equal(stringifySnapshot(parseSnapshot(text)), text);
  });

  it('write UTF-8 names as strings and other names as base64', () => {
    const data = JSON.parse(stringifySnapshot(snapshot)) as {
      processes: { comm: unknown; fds: { name: unknown }[]; mappings: { name: unknown }[] }[];
    };
    const [nginx, init] = data.processes;
    assert.equal(nginx?.comm, 'nginx');
    assert.equal(nginx?.mappings[0]?.name, '/tmp/日本 café (deleted)');
    assert.deepEqual(nginx?.fds[0]?.name, { base64: awkwardName.toString('base64') });
    assert.deepEqual(init?.comm, { base64: 'aW5pdIA=' });
  });

  it('keep a mount point that is not UTF-8 byte for byte, as base64 beside its text', () => {
    const text = stringifySnapshot(snapshot);
    const data = JSON.parse(text) as { mountNamespaces: { mounts: { mountPointBytes?: unknown }[] }[] };
    assert.equal(data.mountNamespaces[0]?.mounts[2]?.mountPointBytes, 'L21udC//');
    assert.equal(data.mountNamespaces[0]?.mounts[1]?.mountPointBytes, undefined);
    const mount = parseSnapshot(text).mountNamespaces[0]?.mounts[2];
    assert.deepEqual(mount?.mountPointBytes, Buffer.from('/mnt/\xff', 'latin1'));
  });

  it('write inodes as decimal strings', () => {
    const data = JSON.parse(stringifySnapshot(snapshot)) as { files: { ino: unknown }[] };
    assert.deepEqual(
      data.files.map((f) => f.ino),
      ['9007199254740993', '18446744073709551615'],
    );
  });
});

describe('parseSnapshot rejects what is not a snapshot', () => {
  const cases: [string, string][] = [
    ['empty text', ''],
    ['text that is not JSON', 'limbo snapshot'],
    ['truncated JSON', stringifySnapshot(snapshot).slice(0, 100)],
    ['JSON null', 'null'],
    ['a JSON number', '42'],
    ['a JSON array', '[]'],
    ['an empty object', '{}'],
    ['another schema', withChange((d) => (d['schema'] = 'limbo.snapshot/2'))],
    ['a missing processes list', withChange((d) => delete d['processes'])],
    ['processes that are not a list', withChange((d) => (d['processes'] = {}))],
    ['a missing files list', withChange((d) => delete d['files'])],
    ['a missing mountNamespaces list', withChange((d) => delete d['mountNamespaces'])],
    ['a process without fds', withChange((d) => delete firstProcess(d)['fds'])],
    ['a process without mappings', withChange((d) => delete firstProcess(d)['mappings'])],
    ['a process without comm', withChange((d) => delete firstProcess(d)['comm'])],
    ['a comm that is a number', withChange((d) => (firstProcess(d)['comm'] = 7))],
    ['a comm in an unknown encoding', withChange((d) => (firstProcess(d)['comm'] = { hex: '6e67' }))],
    ['a process that is null', withChange((d) => ((d['processes'] as unknown[])[0] = null))],
    ['an inode that is not a number', withChange((d) => (firstFile(d)['ino'] = 'many'))],
    ['an inode that is a fraction', withChange((d) => (firstFile(d)['ino'] = 1.5))],
    ['a missing inode', withChange((d) => delete firstFile(d)['ino'])],
  ];
  for (const [name, text] of cases) {
    it(`throws snapshot-invalid for ${name}`, () => {
      assert.throws(() => parseSnapshot(text), isSnapshotInvalid);
    });
  }
});
