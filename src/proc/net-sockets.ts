import { nativeAddon, type NativeAddon } from '../native.js';
import { readProcText, type ReadResult } from './read.js';

/** The /proc/net tables limbo reads, named as their files are. */
export type SocketProtocol = 'unix' | 'tcp' | 'tcp6' | 'udp' | 'udp6' | 'netlink' | 'packet';

/** Every table, in the order a socket's protocol is looked for. */
export const SOCKET_PROTOCOLS: readonly SocketProtocol[] = [
  'unix',
  'tcp',
  'tcp6',
  'udp',
  'udp6',
  'netlink',
  'packet',
];

// The first header word of each table and the row field that holds the inode. The header
// cannot locate it: inet headers name "tx_queue rx_queue" and "tr tm->when" as two columns
// each, where the rows print one field "tx:rx" and one "tr:when".
const LAYOUT: Record<
  SocketProtocol,
  { readonly header: string; readonly row: RegExp; readonly inodeField: number }
> = {
  unix: { header: 'Num', row: /^[0-9a-f]+:$/, inodeField: 6 },
  tcp: { header: 'sl', row: /^\d+:$/, inodeField: 9 },
  tcp6: { header: 'sl', row: /^\d+:$/, inodeField: 9 },
  udp: { header: 'sl', row: /^\d+:$/, inodeField: 9 },
  udp6: { header: 'sl', row: /^\d+:$/, inodeField: 9 },
  netlink: { header: 'sk', row: /^[0-9a-f]+$/, inodeField: 9 },
  packet: { header: 'sk', row: /^[0-9a-f]+$/, inodeField: 8 },
};

/**
 * Parses one /proc/net table into the socket inodes it lists, skipping rows it cannot read
 * and inode 0 (a TIME_WAIT or request socket, which no fd holds); null when the header is wrong.
 */
export function parseSocketTable(protocol: SocketProtocol, text: string): number[] | null {
  const layout = LAYOUT[protocol];
  const [header = '', ...rows] = text.split('\n');
  const names = header.trim().split(/\s+/);
  if (names[0] !== layout.header || !names.some((name) => name.toLowerCase() === 'inode')) return null;
  const inodes: number[] = [];
  for (const row of rows) {
    const fields = row.trim().split(/\s+/);
    const inode = fields[layout.inodeField];
    if (!layout.row.test(fields[0] ?? '') || inode === undefined || !/^\d+$/.test(inode)) continue;
    if (inode !== '0') inodes.push(Number(inode));
  }
  return inodes;
}

/** Merges parsed tables into a map from socket inode to protocol; a table absent from `tables` is skipped. */
export function parseSocketProtocols(
  tables: Readonly<Partial<Record<SocketProtocol, string>>>,
): Map<number, SocketProtocol> {
  const protocols = new Map<number, SocketProtocol>();
  for (const protocol of SOCKET_PROTOCOLS) {
    const text = tables[protocol];
    if (text === undefined) continue;
    for (const inode of parseSocketTable(protocol, text) ?? []) {
      if (!protocols.has(inode)) protocols.set(inode, protocol);
    }
  }
  return protocols;
}

/**
 * Reads every table of a process's network namespace into a map from socket inode to protocol,
 * so a `socket:[N]` fd can be typed. A socket of another namespace is only in that namespace's
 * tables (pass a pid inside it), and an inet socket never bound nor connected is in none.
 * A missing table (tcp6 and udp6 with IPv6 disabled) is skipped.
 */
export function readSocketProtocols(
  procRoot = '/proc',
  pid: number | 'self' = 'self',
): ReadResult<Map<number, SocketProtocol>> {
  const tables: Partial<Record<SocketProtocol, string>> = {};
  for (const protocol of SOCKET_PROTOCOLS) {
    const read = readProcText(`${procRoot}/${pid}/net/${protocol}`);
    if (read.ok) tables[protocol] = read.value;
    else if (read.failure !== 'gone') return read;
  }
  if (Object.keys(tables).length === 0) return { ok: false, failure: 'gone' };
  return { ok: true, value: parseSocketProtocols(tables) };
}

/**
 * What sockfs calls a socket's protocol ("TCP", "UDPv6", "UNIX-STREAM", "PACKET", ...), in the
 * tables' words where one matches (tcp, udp6, unix, netlink) and lowercased otherwise (packet,
 * raw, ping, sctp, mptcp, ...).
 */
export function socketProtocolOfName(name: string): string {
  const named = KERNEL_NAMES[name];
  return named ?? name.toLowerCase();
}

const KERNEL_NAMES: Readonly<Record<string, SocketProtocol>> = {
  TCP: 'tcp',
  TCPv6: 'tcp6',
  UDP: 'udp',
  UDPv6: 'udp6',
  UNIX: 'unix',
  'UNIX-STREAM': 'unix',
  NETLINK: 'netlink',
  PACKET: 'packet',
};

/**
 * A socket's protocol from sockfs itself (the `system.sockprotoname` xattr through
 * /proc/PID/fd/N), for one no /proc/net table lists: never bound, or of a network namespace no
 * process is in. Needs the addon (node:fs has no getxattr); null without it or when unreadable.
 */
export function readSocketProtocolName(
  path: string,
  addon: NativeAddon | null = nativeAddon(),
): string | null {
  const name = addon?.socketProtocol?.(path);
  return typeof name === 'string' && name !== '' ? socketProtocolOfName(name) : null;
}
