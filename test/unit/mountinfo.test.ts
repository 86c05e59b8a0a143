import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import {
  findMount,
  findMountContaining,
  parseMountinfo,
  parseProcRootPath,
  pathInRoot,
  pathThroughRoot,
  type Mount,
} from '../../src/proc/mountinfo.js';

// Captured from `unshare -m` after mounting tmpfs on awkward names, a shared/slave pair and bind
// mounts (one line describing the capturing sandbox was dropped). limbo reads /proc text as
// latin1, so the fixture is read the same way; parseMountinfo turns the bytes into UTF-8.
const captured = readFileSync(
  new URL('../../../test/fixtures/proc/mountinfo-unshare.txt', import.meta.url),
  'latin1',
);

/** A line as limbo would read it: the UTF-8 bytes of `line`, seen as latin1 text. */
function asRead(line: string): string {
  return Buffer.from(line, 'utf8').toString('latin1');
}

function mount(fields: Partial<Mount> & Pick<Mount, 'mountId' | 'dev' | 'mountPoint'>): Mount {
  return { parentId: 1, root: '/', fstype: 'ext4', source: '/dev/sda1', ...fields };
}

describe('parseMountinfo on a captured table', () => {
  const mounts = parseMountinfo(captured);
  const byId = new Map(mounts.map((m) => [m.mountId, m]));

  it('reads every line of the capture', () => {
    assert.equal(mounts.length, captured.trimEnd().split('\n').length);
  });

  const cases: [string, Mount][] = [
    [
      'the root filesystem',
      {
        mountId: 65,
        parentId: 64,
        dev: '254:0',
        root: '/',
        mountPoint: '/',
        fstype: 'ext4',
        source: '/dev/vda',
      },
    ],
    [
      'a space (\\040) in the mount point and the source',
      {
        mountId: 85,
        parentId: 65,
        dev: '0:40',
        root: '/',
        mountPoint: '/tmp/limbo-mnt/with space',
        fstype: 'tmpfs',
        source: 'tmp src',
      },
    ],
    [
      'a tab (\\011) in the mount point',
      {
        mountId: 86,
        parentId: 65,
        dev: '0:41',
        root: '/',
        mountPoint: '/tmp/limbo-mnt/with\ttab',
        fstype: 'tmpfs',
        source: 'tabsrc',
      },
    ],
    [
      'a newline (\\012) in the mount point',
      {
        mountId: 87,
        parentId: 65,
        dev: '0:42',
        root: '/',
        mountPoint: '/tmp/limbo-mnt/with\nnewline',
        fstype: 'tmpfs',
        source: 'nlsrc',
      },
    ],
    [
      'a backslash (\\134) in the mount point',
      {
        mountId: 88,
        parentId: 65,
        dev: '0:43',
        root: '/',
        mountPoint: '/tmp/limbo-mnt/back\\slash',
        fstype: 'tmpfs',
        source: 'bssrc',
      },
    ],
    [
      'one optional field (shared:1)',
      {
        mountId: 89,
        parentId: 65,
        dev: '0:44',
        root: '/',
        mountPoint: '/tmp/limbo-mnt/shared',
        fstype: 'tmpfs',
        source: 'sharedsrc',
      },
    ],
    [
      'a bind mount of a subdirectory (root /data)',
      {
        mountId: 90,
        parentId: 65,
        dev: '0:44',
        root: '/data',
        mountPoint: '/tmp/limbo-mnt/bound',
        fstype: 'tmpfs',
        source: 'sharedsrc',
      },
    ],
    [
      'two optional fields (shared:2 master:1)',
      {
        mountId: 91,
        parentId: 65,
        dev: '0:44',
        root: '/',
        mountPoint: '/tmp/limbo-mnt/slave',
        fstype: 'tmpfs',
        source: 'sharedsrc',
      },
    ],
    [
      'a UTF-8 mount point (raw bytes, not escaped)',
      {
        mountId: 92,
        parentId: 65,
        dev: '0:45',
        root: '/',
        mountPoint: '/tmp/limbo-mnt/café-日本',
        fstype: 'tmpfs',
        source: 'utf8src',
      },
    ],
    [
      'a bind mount of a directory of the root filesystem',
      {
        mountId: 93,
        parentId: 65,
        dev: '254:0',
        root: '/tmp/limbo-mnt/src',
        mountPoint: '/tmp/limbo-mnt/rootbind',
        fstype: 'ext4',
        source: '/dev/vda',
      },
    ],
  ];
  for (const [name, expected] of cases) {
    it(`reads ${name}`, () => {
      assert.deepEqual(byId.get(expected.mountId), expected);
    });
  }
});

describe('parseMountinfo octal escapes', () => {
  const cases: [string, string, string][] = [
    ['\\040 as a space', '/mnt/a\\040b', '/mnt/a b'],
    ['\\011 as a tab', '/mnt/a\\011b', '/mnt/a\tb'],
    ['\\012 as a newline', '/mnt/a\\012b', '/mnt/a\nb'],
    ['\\134 as a backslash', '/mnt/a\\134b', '/mnt/a\\b'],
    ['several escapes in a row', '/mnt/\\040\\011\\012\\134', '/mnt/ \t\n\\'],
    ['an escaped backslash followed by digits only once', '/mnt/\\134012', '/mnt/\\012'],
    ['an escape at the very end', '/mnt/end\\040', '/mnt/end '],
    ['UTF-8 bytes next to an escape', asRead('/mnt/café\\040日本'), '/mnt/café 日本'],
  ];
  for (const [name, field, expected] of cases) {
    it(`decodes ${name}`, () => {
      const [parsed] = parseMountinfo(`36 35 8:1 ${field} ${field} rw - ext4 ${field} rw\n`);
      assert.deepEqual([parsed?.root, parsed?.mountPoint, parsed?.source], [expected, expected, expected]);
    });
  }

  // The kernel mangles the filesystem type too (show_type() escapes " \t\n\\" in the type and
  // a FUSE subtype, which an unprivileged user chooses with fusermount -o subtype=).
  it('decodes an escaped space in the filesystem type', () => {
    const [parsed] = parseMountinfo('36 35 0:50 / /mnt/f rw - fuse.my\\040fs src rw\n');
    assert.equal(parsed?.fstype, 'fuse.my fs');
  });
});

describe('parseMountinfo keeps mount point bytes that are not UTF-8', () => {
  it('gives the exact bytes beside the lossy text, escapes undone', () => {
    const line = `36 35 0:50 / ${asRead('/mnt/a\\040')}\xff\xfe rw - tmpfs t rw\n`;
    const [parsed] = parseMountinfo(line);
    assert.equal(parsed?.mountPoint, '/mnt/a \ufffd\ufffd');
    assert.deepEqual(parsed?.mountPointBytes, Buffer.from([...Buffer.from('/mnt/a '), 0xff, 0xfe]));
  });

  it('gives no bytes for a valid UTF-8 mount point', () => {
    const [parsed] = parseMountinfo(`36 35 0:50 / ${asRead('/mnt/café')} rw - tmpfs t rw\n`);
    assert.equal(parsed?.mountPoint, '/mnt/café');
    assert.equal(parsed?.mountPointBytes, undefined);
  });
});

describe('parseMountinfo skips lines it cannot read', () => {
  const good = '36 35 8:1 / /mnt rw,relatime shared:1 master:2 - ext4 /dev/sda1 rw';
  const garbage: [string, string][] = [
    ['an empty line', ''],
    ['free text', 'this is not mountinfo'],
    ['a line without the " - " separator', '36 35 8:1 / /mnt rw,relatime ext4 /dev/sda1 rw'],
    ['a non-numeric mount id', 'x 35 8:1 / /mnt rw - ext4 /dev/sda1 rw'],
    ['a dev that is not MAJ:MIN', '36 35 sda1 / /mnt rw - ext4 /dev/sda1 rw'],
    ['a dev in hex', '36 35 fe:00 / /mnt rw - ext4 /dev/sda1 rw'],
    ['too few fields before the separator', '36 35 8:1 / - ext4 /dev/sda1 rw'],
    ['too few fields after the separator', '36 35 8:1 / /mnt rw - ext4'],
    ['a line cut short', '36 35 8:1'],
  ];
  for (const [name, line] of garbage) {
    it(`skips ${name}`, () => {
      const mounts = parseMountinfo(`${good}\n${line}\n${good.replace('36', '37')}\n`);
      assert.deepEqual(
        mounts.map((m) => m.mountId),
        [36, 37],
      );
    });
  }

  it('reads a last line without a trailing newline', () => {
    assert.equal(parseMountinfo(good).length, 1);
  });

  it('returns nothing for empty text', () => {
    assert.deepEqual(parseMountinfo(''), []);
  });

  it('skips a line whose parent id is not a number', () => {
    assert.deepEqual(parseMountinfo('36 x 8:1 / /mnt rw - ext4 /dev/sda1 rw\n'), []);
  });
});

describe('findMount on the captured table', () => {
  const mounts = parseMountinfo(captured);
  const cases: [string, string, string, number | null][] = [
    ['a file on the root filesystem', '254:0', '/usr/bin/cat', 65],
    ['a file under a bind mount of the root filesystem', '254:0', '/tmp/limbo-mnt/rootbind/inner/f', 93],
    ['the bind mount point itself', '254:0', '/tmp/limbo-mnt/rootbind', 93],
    ['a sibling whose name only starts like the bind mount', '254:0', '/tmp/limbo-mnt/rootbindery/f', 65],
    ['a file through the shared mount', '0:44', '/tmp/limbo-mnt/shared/data/f', 89],
    ['the same file through the bind of /data', '0:44', '/tmp/limbo-mnt/bound/f', 90],
    ['the same file through the slave', '0:44', '/tmp/limbo-mnt/slave/data/f', 91],
    ['a mount point with an escaped space', '0:40', '/tmp/limbo-mnt/with space/f', 85],
    ['a dev no mount has', '9:9', '/anything', null],
  ];
  for (const [name, dev, path, expected] of cases) {
    it(`finds ${name}`, () => {
      assert.equal(findMount(mounts, dev, path)?.mountId ?? null, expected);
    });
    it(`finds ${name} whatever the order of the table`, () => {
      assert.equal(findMount([...mounts].reverse(), dev, path)?.mountId ?? null, expected);
    });
  }
});

describe('findMount among bind mounts that share one dev', () => {
  const whole = mount({ mountId: 1, dev: '8:1', mountPoint: '/' });
  const srv = mount({ mountId: 2, dev: '8:1', root: '/srv', mountPoint: '/a' });
  const deeper = mount({ mountId: 3, dev: '8:1', root: '/srv/x', mountPoint: '/a/b' });
  const other = mount({ mountId: 4, dev: '8:2', mountPoint: '/a/b/c' });
  const orders: [string, Mount[]][] = [
    ['shortest first', [whole, srv, deeper, other]],
    ['longest first', [other, deeper, srv, whole]],
    ['mixed', [srv, other, whole, deeper]],
  ];
  const cases: [string, string, number][] = [
    ['the longest mount point that is a prefix', '/a/b/c/file', 3],
    ['a middle mount point', '/a/bee', 2],
    ['the root mount for anything else', '/etc/passwd', 1],
  ];
  for (const [order, table] of orders) {
    for (const [name, path, expected] of cases) {
      it(`picks ${name} (${order})`, () => {
        assert.equal(findMount(table, '8:1', path)?.mountId, expected);
      });
    }
  }

  const binds: [string, Mount[]][] = [
    [
      'bind first',
      [
        mount({ mountId: 5, dev: '8:3', root: '/data', mountPoint: '/srv' }),
        mount({ mountId: 6, dev: '8:3', mountPoint: '/mnt/disk' }),
      ],
    ],
    [
      'whole filesystem first',
      [
        mount({ mountId: 6, dev: '8:3', mountPoint: '/mnt/disk' }),
        mount({ mountId: 5, dev: '8:3', root: '/data', mountPoint: '/srv' }),
      ],
    ],
  ];
  for (const [order, table] of binds) {
    it(`prefers the whole filesystem when no mount point fits (${order})`, () => {
      assert.equal(findMount(table, '8:3', '/elsewhere/file')?.mountId, 6);
    });
  }

  it('returns the only mount with the dev even when its mount point does not fit', () => {
    const only = mount({ mountId: 7, dev: '8:4', root: '/x', mountPoint: '/y' });
    assert.equal(findMount([only], '8:4', '/z/file'), only);
  });

  it('returns null for an empty table', () => {
    assert.equal(findMount([], '8:1', '/'), null);
  });
});

describe('findMountContaining', () => {
  const root = mount({ mountId: 1, dev: '8:1', mountPoint: '/' });
  const data = mount({ mountId: 2, dev: '8:2', mountPoint: '/data' });
  const over = mount({ mountId: 3, dev: '0:50', mountPoint: '/data' });
  const cases: [string, string, number][] = [
    ['the root for a path under no other mount', '/etc/passwd', 1],
    ['the mount point itself', '/data', 3],
    ['the top of two mounts stacked on one point', '/data/f', 3],
    ['not a sibling that only starts like the mount point', '/database/f', 1],
  ];
  for (const [name, path, expected] of cases) {
    it(`finds ${name}`, () => {
      assert.equal(findMountContaining([root, data, over], path)?.mountId, expected);
    });
  }
  it('finds nothing in an empty table', () => {
    assert.equal(findMountContaining([], '/x'), null);
  });
});

describe('parseProcRootPath', () => {
  const cases: [string, { pid: number; inner: string } | null][] = [
    ['/proc/4242/root/data', { pid: 4242, inner: '/data' }],
    ['/proc/4242/root/data/', { pid: 4242, inner: '/data' }],
    ['/proc/4242/root', { pid: 4242, inner: '/' }],
    ['/proc/4242/root/', { pid: 4242, inner: '/' }],
    ['/proc/4242/root/var/./lib//data', { pid: 4242, inner: '/var/lib/data' }],
    ['/proc/4242/root/var/../etc', null],
    ['/proc/4242/root/../../etc', null],
    ['/proc/self/root/data', null],
    ['/proc/0/root/data', null],
    ['/proc/4242/cwd/data', null],
    ['/data', null],
    ['/proc/4242/rootfs', null],
  ];
  for (const [path, expected] of cases) {
    it(`reads ${path}`, () => {
      assert.deepEqual(parseProcRootPath(path), expected);
    });
  }
});

describe('pathThroughRoot: a mount point of another namespace, reached from the host', () => {
  const cases: [{ pid?: number; root?: string }, string, string | null][] = [
    [{ pid: 42 }, '/data', '/proc/42/root/data'],
    [{ pid: 42 }, '/', '/proc/42/root'],
    [{ pid: 42, root: '/' }, '/data', '/proc/42/root/data'],
    // Read from a chrooted process: its root is taken off the namespace's words.
    [{ pid: 42, root: '/srv/ctr' }, '/srv/ctr/data', '/proc/42/root/data'],
    [{ pid: 42, root: '/srv/ctr' }, '/srv/ctr', '/proc/42/root'],
    [{ pid: 42, root: '/srv/ctr' }, '/srv/ctr2/data', null],
    [{ pid: 42, root: '/srv/ctr' }, '/mnt', null],
    [{}, '/data', null],
  ];
  for (const [reader, mountPoint, expected] of cases) {
    it(`${mountPoint} through ${JSON.stringify(reader)}`, () => {
      const path = pathThroughRoot('/proc', reader, Buffer.from(mountPoint));
      assert.equal(path?.toString() ?? null, expected);
    });
  }
});

describe('pathInRoot: a name in the words of the process whose root is given', () => {
  const cases: [string, string | null, string][] = [
    ['/srv/ctr/data/x', '/srv/ctr', '/data/x'],
    ['/srv/ctr2/data/x', '/srv/ctr', '/srv/ctr2/data/x'],
    ['/data/x', '/', '/data/x'],
    ['/data/x', null, '/data/x'],
  ];
  for (const [name, root, expected] of cases) {
    it(`${name} under ${root}`, () => {
      assert.equal(pathInRoot(Buffer.from(name), root).toString(), expected);
    });
  }
});
