// File handles of the kinds lsfd knows, made by test/fixtures/fd-kinds.c: mapped io_uring, packet
// and BPF rings (one struct file each, however many mappings), POSIX message queues, namespace
// files, and sockets no /proc/net table of their holder's namespace lists. Each is checked
// beside the same program without it, and open files against kcmp's own grouping.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import type { HandlesJson } from '../../src/analyses/handles-json.js';
import { loadNativeAddon } from '../../src/native.js';
import type { SnapshotJson } from '../../src/snapshot/snapshot-json.js';
import { startHolder, type Holder } from '../helpers/holder.js';
import { runLimbo } from '../helpers/limbo.js';
import { repoRoot } from '../helpers/paths.js';

const isRoot = process.geteuid?.() === 0;
const addon = loadNativeAddon();
const fdKinds = `${repoRoot}test/fixtures/bin/fd-kinds`;
const KCMP_FILE = 0;
const holders: Holder[] = [];

async function hold(ops: string[]): Promise<Holder> {
  const holder = await startHolder(ops, { binary: fdKinds });
  holders.push(holder);
  return holder;
}

after(async () => {
  await Promise.all(holders.map((holder) => holder.stop()));
});

function limboJson<T>(args: string[], env: NodeJS.ProcessEnv = {}): T {
  const run = runLimbo(args, { env });
  assert.equal(run.code, 0, run.stderr);
  return JSON.parse(run.stdout) as T;
}

function handlesOf(report: HandlesJson, pid: number): HandlesJson['processes'][number] {
  const entry = report.processes.find((p) => p.pid === pid);
  assert.ok(entry, `pid ${pid} is listed`);
  return entry;
}

type ProcessHandlesJson = NonNullable<SnapshotJson['processes'][number]['handles']>;

function snapshotHandles(pids: readonly number[], env: NodeJS.ProcessEnv = {}): ProcessHandlesJson[] {
  const snapshot = limboJson<SnapshotJson>(['snapshot', '--handles'], env);
  return pids.map((pid) => {
    const handles = snapshot.processes.find((p) => p.pid === pid)?.handles;
    assert.ok(handles, `pid ${pid} has its handles counted`);
    return handles;
  });
}

/** Distinct struct files behind a process's fds, as kcmp(KCMP_FILE) groups them. */
function kcmpOpenFiles(pid: number): number {
  const kcmp = addon?.kcmp;
  assert.ok(kcmp, 'the addon is built');
  const fds = readdirSync(`/proc/${pid}/fd`).map(Number);
  return fds.filter((fd, i) =>
    fds.slice(0, i).every((earlier) => kcmp(pid, pid, KCMP_FILE, earlier, fd) !== 0),
  ).length;
}

describe('fd kinds beyond files, pipes and plain sockets', () => {
  for (const op of ['uring', 'packet', 'bpfmap']) {
    it(
      `a mapped ${op} ring is one open file and no mapping-only file`,
      {
        skip:
          (!isRoot && 'AF_PACKET and bpf(2) need root, kcmp of them too') ||
          (!addon && 'kcmp needs the addon'),
      },
      async () => {
        const baseline = await hold([]);
        const mapped = await hold([op]);
        const report = limboJson<HandlesJson>(['handles', '--json']);
        const [plain, withRing] = [handlesOf(report, baseline.pid), handlesOf(report, mapped.pid)];
        assert.equal(withRing.mappings, plain.mappings, 'the ring maps the fd’s own struct file');
        assert.equal(withRing.fds, (plain.fds ?? 0) + 1);
        assert.equal(withRing.openFiles, kcmpOpenFiles(mapped.pid));
        assert.equal(plain.openFiles, kcmpOpenFiles(baseline.pid));
      },
    );
  }

  it('types a POSIX message queue as mqueue and a held namespace file as nsfs', async () => {
    const baseline = await hold([]);
    const held = await hold(['mqueue', `/limbo-test-${process.pid}`, 'nsfs']);
    const [plain, withKinds] = snapshotHandles([baseline.pid, held.pid]);
    assert.deepEqual(withKinds?.fdTypes, { ...plain?.fdTypes, mqueue: 1, nsfs: 1 });
  });

  it(
    'names an unbound TCP socket by its protocol, with the addon',
    { skip: !addon && 'needs the addon' },
    async () => {
      const baseline = await hold([]);
      const held = await hold(['tcp']);
      const [plain, handles] = snapshotHandles([baseline.pid, held.pid]);
      assert.deepEqual(handles?.socketProtocols, { ...plain?.socketProtocols, tcp: 1 });
      const [withoutAddon] = snapshotHandles([held.pid], { LIMBO_NO_NATIVE: '1' });
      assert.deepEqual(
        withoutAddon?.socketProtocols,
        { ...plain?.socketProtocols, other: 1 },
        'without getxattr the kernel is not asked',
      );
    },
  );

  it(
    'names a packet socket from /proc/net/packet, addon or not',
    { skip: !isRoot && 'AF_PACKET needs CAP_NET_RAW' },
    async () => {
      const baseline = await hold([]);
      const held = await hold(['packet']);
      for (const env of [{}, { LIMBO_NO_NATIVE: '1' }]) {
        const [plain, handles] = snapshotHandles([baseline.pid, held.pid], env);
        assert.deepEqual(
          handles?.socketProtocols,
          { ...plain?.socketProtocols, packet: 1 },
          JSON.stringify(env),
        );
      }
    },
  );

  it(
    'names a socket of another network namespace from a process inside it, addon or not',
    { skip: !isRoot && 'unshare(CLONE_NEWNET) needs root' },
    async () => {
      const baseline = await hold([]);
      const held = await hold(['netns-udp']);
      const [netns] = held.children;
      assert.ok(netns !== undefined);
      for (const env of [{}, { LIMBO_NO_NATIVE: '1' }]) {
        const [plain, holder, insider] = snapshotHandles([baseline.pid, held.pid, netns], env);
        const expected = { ...plain?.socketProtocols, udp: 1 };
        assert.deepEqual(holder?.socketProtocols, expected, JSON.stringify(env));
        assert.deepEqual(insider?.socketProtocols, expected, JSON.stringify(env));
      }
    },
  );

  it(
    'names a socket of a network namespace no process is in, with the addon',
    { skip: (!isRoot && 'unshare(CLONE_NEWNET) needs root') || (!addon && 'needs the addon') },
    async () => {
      const baseline = await hold([]);
      const held = await hold(['netns-alone']);
      const [plain, handles] = snapshotHandles([baseline.pid, held.pid]);
      assert.deepEqual(handles?.socketProtocols, { ...plain?.socketProtocols, udp: 1 });
    },
  );
});
