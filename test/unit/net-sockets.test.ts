import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  parseSocketProtocols,
  parseSocketTable,
  readSocketProtocols,
  SOCKET_PROTOCOLS,
  socketProtocolOfName,
  type SocketProtocol,
} from '../../src/proc/net-sockets.js';
import { readLinkBytes } from '../../src/proc/read.js';

// Captured from a 6.18 kernel through /proc/PID/net of a process holding a unix socketpair,
// a listening unix socket with a path, TCP and UDP sockets bound to 127.0.0.1 and ::1, and a
// bound NETLINK_ROUTE socket (plus the machine's own few sockets); net-packet.txt from
// test/fixtures/fd-kinds.c holding two AF_PACKET sockets.
function fixture(protocol: SocketProtocol): string {
  return readFileSync(new URL(`../../../test/fixtures/proc/net-${protocol}.txt`, import.meta.url), 'latin1');
}

const tables = Object.fromEntries(SOCKET_PROTOCOLS.map((p) => [p, fixture(p)])) as Record<
  SocketProtocol,
  string
>;

describe('parseSocketTable on captured tables', () => {
  const cases: [SocketProtocol, number[]][] = [
    ['unix', [1307534, 1307533, 1307535, 1082, 1083]],
    ['tcp', [1086, 1307536]],
    ['tcp6', [1307537]],
    ['udp', [1307538]],
    ['udp6', [1307539]],
    ['netlink', [1307540, 4, 566, 568, 180, 6, 105, 1027, 567, 8, 5]],
    ['packet', [2217257, 2217258]],
  ];
  for (const [protocol, expected] of cases) {
    it(`reads every inode of /proc/net/${protocol}`, () => {
      assert.deepEqual(parseSocketTable(protocol, tables[protocol]), expected);
    });
  }
});

describe('parseSocketTable on hand-written rows', () => {
  const tcpHeader = fixture('tcp').split('\n')[0] ?? '';
  const unixHeader = fixture('unix').split('\n')[0] ?? '';
  const cases: [string, SocketProtocol, string, number[] | null][] = [
    [
      'a TIME_WAIT row (inode 0, held by no fd)',
      'tcp',
      `${tcpHeader}\n   0: 0100007F:1F90 0100007F:D2F0 06 00000000:00000000 03:00001770 00000000     0        0 0 3 0000000000000000\n`,
      [],
    ],
    [
      'a unix socket whose path has spaces',
      'unix',
      `${unixHeader}\n00000000cca7cddc: 00000002 00000000 00010000 0001 01 77 /tmp/a b c\n`,
      [77],
    ],
    [
      'an abstract unix socket',
      'unix',
      `${unixHeader}\n00000000cca7cddc: 00000002 00000000 00010000 0001 01 78 @limbo\n`,
      [78],
    ],
    ['a row cut short', 'tcp', `${tcpHeader}\n   0: 00000000:07E8 00000000:0000 0A\n`, []],
    [
      'a row whose inode is not a number',
      'unix',
      `${unixHeader}\n0000000014f64d61: 00000003 00000000 00000000 0001 03 x\n`,
      [],
    ],
    [
      'a row without its leading slot',
      'tcp',
      `${tcpHeader}\n00000000:07E8 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1086 1\n`,
      [],
    ],
    ['a header only', 'udp', fixture('udp').split('\n')[0] ?? '', []],
    ['empty text', 'tcp', '', null],
    ['the unix table read as tcp', 'tcp', fixture('unix'), null],
    ['the tcp table read as netlink', 'netlink', fixture('tcp'), null],
    ['a header without an inode column', 'unix', 'Num RefCount Protocol Flags Type St Path\n', null],
  ];
  for (const [name, protocol, text, expected] of cases) {
    it(`reads ${name}`, () => {
      assert.deepEqual(parseSocketTable(protocol, text), expected);
    });
  }
});

describe('parseSocketProtocols', () => {
  const protocols = parseSocketProtocols(tables);
  const cases: [string, number, SocketProtocol | undefined][] = [
    ['one end of a socketpair', 1307533, 'unix'],
    ['a listening unix socket', 1307535, 'unix'],
    ['a TCP listener on 127.0.0.1', 1307536, 'tcp'],
    ['a TCP listener on ::1', 1307537, 'tcp6'],
    ['a UDP socket on 127.0.0.1', 1307538, 'udp'],
    ['a UDP socket on ::1', 1307539, 'udp6'],
    ['a netlink socket', 1307540, 'netlink'],
    ['a packet socket', 2217257, 'packet'],
    ['an inet socket never bound, which no table lists', 1307542, undefined],
  ];
  for (const [name, inode, expected] of cases) {
    it(`types ${name}`, () => {
      assert.equal(protocols.get(inode), expected);
    });
  }

  it('maps every inode of every table', () => {
    assert.equal(protocols.size, 5 + 2 + 1 + 1 + 1 + 11 + 2);
  });

  it('skips tables it was not given (IPv6 disabled)', () => {
    const without = Object.fromEntries(Object.entries(tables).filter(([p]) => !p.endsWith('6')));
    const partial = parseSocketProtocols(without);
    assert.equal(partial.get(1307537), undefined);
    assert.equal(partial.get(1307536), 'tcp');
  });

  it("keeps the first table's protocol for an inode listed twice", () => {
    const header = fixture('tcp').split('\n')[0] ?? '';
    const row =
      '   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1086 1\n';
    const twice = parseSocketProtocols({ tcp: tables.tcp, udp: `${header}\n${row}` });
    assert.equal(twice.get(1086), 'tcp');
  });
});

describe('readSocketProtocols', () => {
  const root = mkdtempSync(join(tmpdir(), 'limbo-net-'));
  after(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(join(root, '42/net'), { recursive: true });
  for (const protocol of SOCKET_PROTOCOLS) {
    if (protocol === 'tcp6' || protocol === 'udp6') continue;
    writeFileSync(join(root, '42/net', protocol), tables[protocol]);
  }

  it('reads a fixture /proc, skipping the missing IPv6 tables', () => {
    const read = readSocketProtocols(root, 42);
    assert.ok(read.ok);
    assert.equal(read.value.get(1307540), 'netlink');
    assert.equal(read.value.get(1307539), undefined);
  });

  it('reports a pid with no tables at all as gone', () => {
    assert.deepEqual(readSocketProtocols(root, 43), { ok: false, failure: 'gone' });
  });

  it('types a live listening socket of this process', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const read = readSocketProtocols();
      assert.ok(read.ok);
      const links = ownFdLinks();
      const tcp = [...read.value].filter(
        ([inode, protocol]) => protocol === 'tcp' && links.includes(`socket:[${inode}]`),
      );
      assert.ok(tcp.length >= 1, 'the listener is in /proc/self/net/tcp');
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

/** The link texts of this process's fds. */
function ownFdLinks(): string[] {
  return readdirSync('/proc/self/fd').flatMap((fd) => {
    const link = readLinkBytes(`/proc/self/fd/${fd}`);
    return link.ok ? [link.value.toString('latin1')] : [];
  });
}

describe('socketProtocolOfName', () => {
  const cases: [string, string][] = [
    ['TCP', 'tcp'],
    ['TCPv6', 'tcp6'],
    ['UDP', 'udp'],
    ['UDPv6', 'udp6'],
    ['UNIX', 'unix'],
    ['UNIX-STREAM', 'unix'],
    ['NETLINK', 'netlink'],
    ['PACKET', 'packet'],
    ['PINGv6', 'pingv6'],
  ];
  for (const [name, protocol] of cases) {
    it(`calls sockfs's ${name} ${protocol}`, () => {
      assert.equal(socketProtocolOfName(name), protocol);
    });
  }
});
