import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { MountTables } from '../../src/proc/mount-tables.js';

// A fixture /proc: limbo in the host namespace; pids 10 and 11 share a private namespace, 10
// chrooted into /srv/jail (its mountinfo relative to that root, showing only what is under it),
// 11 at the namespace's root.
const HOST = 'mnt:[4026531841]';
const PRIVATE = 'mnt:[4026532300]';
const line = (id: number, point: string, fstype: string, dev = '0:40') =>
  `${id} 1 ${dev} / ${point} rw,relatime - ${fstype} none rw\n`;

function fakeProc(): string {
  const proc = mkdtempSync(join(tmpdir(), 'limbo-mount-tables-'));
  const process = (name: string, ns: string, mountinfo: string) => {
    mkdirSync(join(proc, name, 'ns'), { recursive: true });
    symlinkSync(ns, join(proc, name, 'ns', 'mnt'));
    writeFileSync(join(proc, name, 'mountinfo'), mountinfo);
  };
  process('self', HOST, line(1, '/', 'ext4', '8:1'));
  process('10', PRIVATE, line(20, '/', 'ext4', '8:1') + line(21, '/data', 'fuse.bindfs'));
  process(
    '11',
    PRIVATE,
    line(30, '/', 'ext4', '8:1') +
      line(31, '/srv/jail', 'ext4', '8:1') +
      line(32, '/srv/jail/data', 'fuse.bindfs'),
  );
  return proc;
}

describe('MountTables: each namespace read where fd links read from', () => {
  const dirs: string[] = [];
  after(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));
  const points = (tables: MountTables, id: string) => tables.byId.get(id)?.mounts.map((m) => m.mountPoint);

  it('translates a table read from a chrooted process, in fd-link words', () => {
    const proc = fakeProc();
    dirs.push(proc);
    const tables = new MountTables(proc);
    assert.equal(tables.namespaceOf('self'), HOST);
    assert.equal(tables.namespaceOf(10, '/srv/jail'), PRIVATE);
    assert.deepEqual(points(tables, PRIVATE), ['/srv/jail', '/srv/jail/data']);
    assert.equal(tables.byId.get(PRIVATE)?.root, '/srv/jail');
  });

  it('replaces it by the table of the first process met at the namespace root, and keeps that one', () => {
    const proc = fakeProc();
    dirs.push(proc);
    const tables = new MountTables(proc);
    tables.namespaceOf(10, '/srv/jail');
    assert.equal(tables.namespaceOf(11, '/'), PRIVATE);
    assert.deepEqual(points(tables, PRIVATE), ['/', '/srv/jail', '/srv/jail/data']);
    assert.equal(tables.byId.get(PRIVATE)?.pid, 11);
    assert.equal(tables.byId.get(PRIVATE)?.root, undefined);
    tables.namespaceOf(10, '/srv/jail'); // a chrooted process met later changes nothing
    assert.equal(tables.byId.get(PRIVATE)?.pid, 11);
  });

  it('gives each mount to `prepare` with its reader, and null for an unreadable namespace link', () => {
    const proc = fakeProc();
    dirs.push(proc);
    const seen: string[] = [];
    const tables = new MountTables(proc, (pid, mount) => {
      seen.push(`${pid} ${mount.mountPoint}`);
      return mount;
    });
    tables.namespaceOf(11, '/');
    assert.deepEqual(seen, ['11 /', '11 /srv/jail', '11 /srv/jail/data']);
    assert.equal(tables.namespaceOf(99, '/'), null);
  });
});
