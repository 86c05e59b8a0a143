// silentMountOfPath follows a path's symlinks one component at a time and places every component
// by its words before it looks at it. The silent mount here is a directory that a fixture
// mountinfo declares a FUSE mount, and that the scan's `known` list says did not answer: the
// guard must name it for every path that leads there, and never ask again (no probe runs).
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { silentMountOfPath } from '../../src/actions/mount-guard.js';
import type { UnansweredMount } from '../../src/snapshot/types.js';

let scratch: string;
let silentDir: string;
let options: { procRoot: string; known: UnansweredMount[] };

before(() => {
  scratch = mkdtempSync(join(tmpdir(), 'limbo-guard-'));
  silentDir = join(scratch, 'mnt');
  mkdirSync(join(scratch, 'proc', 'self'), { recursive: true });
  mkdirSync(silentDir);
  mkdirSync(join(scratch, 'd'));
  writeFileSync(
    join(scratch, 'proc', 'self', 'mountinfo'),
    [
      '1 0 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw',
      `2 1 0:99 / ${silentDir} rw,nosuid,nodev shared:2 - fuse.bindfs /src rw,user_id=0,group_id=0`,
      '',
    ].join('\n'),
  );
  const known: UnansweredMount = {
    mountPoint: silentDir,
    fstype: 'fuse.bindfs',
    dev: '0:99',
    mountNamespace: null,
    path: silentDir,
    waitedMilliseconds: 5000,
    skipped: 0,
  };
  options = { procRoot: join(scratch, 'proc'), known: [known] };
  symlinkSync(join(silentDir, 'x'), join(scratch, 'onto'));
  symlinkSync('onto', join(scratch, 'relative'));
  symlinkSync('../mnt', join(scratch, 'd', 'up'));
  symlinkSync('loop-b', join(scratch, 'loop-a'));
  symlinkSync('loop-a', join(scratch, 'loop-b'));
  symlinkSync(join(scratch, 'd'), join(scratch, 'healthy'));
});

after(() => rmSync(scratch, { recursive: true, force: true }));

describe('silentMountOfPath', () => {
  it('names the mount for a path on it, and through every kind of symlink that leads there', () => {
    for (const path of [
      join(silentDir, 'file'),
      join(scratch, 'onto'),
      join(scratch, 'relative', 'deeper', 'file'),
      join(scratch, 'd', 'up', 'file'),
      // ".." after a symlink climbs from where the link led, not from its words: d/up/.. is scratch
      // (path.join would fold it away).
      `${scratch}/d/up/../mnt`,
    ]) {
      assert.equal(silentMountOfPath(path, options)?.mountPoint, silentDir, path);
    }
  });

  it('leaves alone a path that stays on healthy mounts, whatever its words say', () => {
    for (const path of [
      join(scratch, 'd', 'file'),
      join(scratch, 'healthy', 'file'),
      join(scratch, 'loop-a', 'x'),
    ]) {
      assert.equal(silentMountOfPath(path, options), null, path);
    }
  });

  it('with followLast false, a symlink named last is looked at itself, not followed', () => {
    assert.equal(silentMountOfPath(join(scratch, 'onto'), { ...options, followLast: false }), null);
    assert.equal(
      silentMountOfPath(join(scratch, 'relative', 'x'), { ...options, followLast: false })?.mountPoint,
      silentDir,
    );
  });

  it('stops after the kernel’s 40 symlinks and places the rest by its words', () => {
    assert.equal(silentMountOfPath(join(scratch, 'loop-a'), options), null);
  });
});
