// The FIEMAP accounting on extent lists captured on Linux 6.18 (filefrag -v and the addon's
// fileExtents on loop images), plus the edge cases the kernel can produce.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  accountExtents,
  extentsFromQuads,
  type Extent,
  type ExtentSharing,
} from '../../src/proc/extent-sharing.js';

// include/uapi/linux/fiemap.h, written out independently of the module under test.
const LAST = 0x1;
const UNKNOWN = 0x2;
const DELALLOC = 0x4;
const ENCODED = 0x8;
const SHARED = 0x2000;
const KiB = 1024;
const MiB = 1024 * KiB;
const block = (n: number) => n * 4 * KiB;

const cases: [string, Extent[], number, ExtentSharing][] = [
  [
    'XFS: a reflinked 32 MiB copy, one extent, shared with the original',
    [{ logical: 0, physical: 98304, length: 32 * MiB, flags: LAST | SHARED }],
    4096,
    { extents: 1, sharedBytes: 32 * MiB, unknown: null },
  ],
  [
    'XFS: the same copy once the original is gone (after syncfs): nothing shared',
    [{ logical: 0, physical: 98304, length: 32 * MiB, flags: LAST }],
    4096,
    { extents: 1, sharedBytes: 0, unknown: null },
  ],
  [
    'btrfs: a reflinked copy whose first half was rewritten: the old half still shared',
    [
      { logical: 0, physical: block(23808), length: 16 * MiB, flags: 0 },
      { logical: 16 * MiB, physical: block(19712), length: 16 * MiB, flags: LAST | SHARED },
    ],
    4096,
    { extents: 2, sharedBytes: 16 * MiB, unknown: null },
  ],
  [
    'XFS: 1 MiB cloned within the file (xfs_io reflink onto itself): overlapping physical ranges',
    [
      { logical: 0, physical: block(8216), length: MiB, flags: SHARED },
      { logical: MiB, physical: block(8472), length: MiB, flags: 0 },
      { logical: 2 * MiB, physical: block(8216), length: MiB, flags: SHARED },
      { logical: 3 * MiB, physical: block(8984), length: MiB, flags: LAST },
    ],
    4096,
    { extents: 4, sharedBytes: 2 * MiB, unknown: 'self-shared' },
  ],
  [
    'btrfs: the same self-clone, where the partial references overlap rather than repeat',
    [
      { logical: 0, physical: 13631488, length: 2 * MiB, flags: SHARED },
      { logical: 2 * MiB, physical: 13631488, length: MiB, flags: SHARED },
      { logical: 3 * MiB, physical: 13631488 + 3 * MiB, length: MiB, flags: LAST | SHARED },
    ],
    4096,
    { extents: 3, sharedBytes: 4 * MiB, unknown: 'self-shared' },
  ],
  [
    'delalloc extents (not yet given blocks, physical 0) are the file’s own and never overlap',
    [
      { logical: 0, physical: 0, length: MiB, flags: UNKNOWN | DELALLOC },
      { logical: 2 * MiB, physical: 0, length: MiB, flags: UNKNOWN | DELALLOC | LAST },
    ],
    4096,
    { extents: 2, sharedBytes: 0, unknown: null },
  ],
  [
    'the walk hit the cap before the last extent: the rest is unknown',
    [
      { logical: 0, physical: block(100), length: block(1), flags: SHARED },
      { logical: block(2), physical: block(300), length: block(1), flags: 0 },
    ],
    2,
    { extents: 2, sharedBytes: block(1), unknown: 'capped' },
  ],
  [
    'the cap reached exactly at the last extent: whole',
    [
      { logical: 0, physical: block(100), length: block(1), flags: 0 },
      { logical: block(2), physical: block(300), length: block(1), flags: LAST | SHARED },
    ],
    2,
    { extents: 2, sharedBytes: block(1), unknown: null },
  ],
  [
    'fewer extents than room for, yet no last flag: the file changed during the call',
    [{ logical: 0, physical: block(100), length: block(1), flags: 0 }],
    4096,
    { extents: 1, sharedBytes: 0, unknown: 'unreadable' },
  ],
  [
    'compressed extents: their length is not what they hold on disk',
    [{ logical: 0, physical: block(50), length: 128 * KiB, flags: ENCODED | LAST }],
    4096,
    { extents: 1, sharedBytes: 0, unknown: 'encoded' },
  ],
  ['an empty file: no extents, nothing shared', [], 4096, { extents: 0, sharedBytes: 0, unknown: null }],
];

describe('accountExtents', () => {
  for (const [name, extents, max, expected] of cases) {
    it(name, () => {
      assert.deepEqual(accountExtents(extents, max), expected);
    });
  }
});

describe('extentsFromQuads', () => {
  it('reads the addon’s (logical, physical, length, flags) quadruples in order', () => {
    const quads = new Float64Array([0, 98304, 32 * MiB, LAST | SHARED, 32 * MiB, 4096, 4096, 0]);
    assert.deepEqual(extentsFromQuads(quads), [
      { logical: 0, physical: 98304, length: 32 * MiB, flags: LAST | SHARED },
      { logical: 32 * MiB, physical: 4096, length: 4096, flags: 0 },
    ]);
  });
});
