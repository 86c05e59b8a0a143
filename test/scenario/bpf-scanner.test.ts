// The BPF scanner (native/scan.bpf.c) must see what the /proc scanner sees: on one load of real
// processes, both snapshots hold the same fds, files, sizes and holders, and `limbo deleted`
// the same files and totals. The load has every case the /proc scanner covers specially: a
// thread with its own fd table, a process whose main thread exited, a process in another pid
// namespace, memfd, O_TMPFILE, a live file really named "... (deleted)", a mapping whose fd
// was closed. It runs where BPF works (root, BTF, the addon built with it) and says why not
// elsewhere; where the tools to build it are present it must run.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { findDeletedFiles } from '../../src/analyses/deleted.js';
import { chooseScanner } from '../../src/snapshot/bpf-fd-scan.js';
import { takeSnapshot } from '../../src/snapshot/take-snapshot.js';
import type { Snapshot } from '../../src/snapshot/types.js';
import { holderBinary, startHolder, type Holder } from '../helpers/holder.js';

const tag = `lp${process.pid % 100000}`;
const dir = mkdtempSync(join(tmpdir(), 'limbo-bpf-'));
const holders: Holder[] = [];
let namespaced: ChildProcess | null = null;

/** Why BPF cannot be tested here; null when it can. Where root could build and load it, it must. */
function unavailable(): string | null {
  const probe = chooseScanner('auto', '/proc');
  if (probe.used.name === 'bpf') return null;
  const buildable =
    process.geteuid?.() === 0 &&
    existsSync('/sys/kernel/btf/vmlinux') &&
    spawnSync('clang', ['--version']).status === 0 &&
    existsSync('/usr/include/bpf/libbpf.h');
  assert.ok(!buildable, `root with clang, libbpf-dev and BTF must get the BPF scanner: ${probe.used.reason}`);
  return probe.used.reason;
}

/** A holder in a new pid namespace, where it is pid 1: started by hand, since its own pid means nothing here. */
function startNamespaced(ops: readonly string[]): Promise<void> {
  const child = spawn('unshare', ['--pid', '--fork', '--kill-child', holderBinary, ...ops], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  namespaced = child;
  return new Promise((resolve, reject) => {
    let out = '';
    child.on('exit', (code) => reject(new Error(`unshare exited with ${code}`)));
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('READY')) resolve();
    });
  });
}

/** What a scanner saw of the test's own processes, in comparable form. */
function ourView(snapshot: Snapshot) {
  const ours = snapshot.processes.filter((p) => p.comm.toString('latin1').startsWith(tag));
  const pids = new Set(ours.map((p) => p.pid));
  const fileKeys = new Set(ours.flatMap((p) => [...p.fds, ...p.mappings].map((held) => held.fileKey)));
  const deleted = findDeletedFiles(snapshot);
  const files = deleted.files.filter((file) => file.holders.every((h) => pids.has(h.pid)));
  return {
    processes: ours
      .map((p) => ({
        pid: p.pid,
        fdCount: p.fdCount,
        readable: p.readable,
        fds: p.fds.map((fd) => ({ ...fd, name: fd.name?.toString('latin1') ?? null })),
        mappings: p.mappings.map((m) => ({ ...m, name: m.name.toString('latin1') })),
      }))
      .sort((a, b) => a.pid - b.pid),
    files: snapshot.files.filter((file) => fileKeys.has(file.key)).sort((a, b) => a.key.localeCompare(b.key)),
    deleted: files
      .map((file) => ({
        key: file.key,
        name: file.name?.toString('latin1') ?? null,
        sizeBytes: file.sizeBytes,
        allocatedBytes: file.allocatedBytes,
        holders: file.holders.map((h) => ({ pid: h.pid, fds: h.fds, tids: h.tids, mappings: h.mappings })),
      }))
      .sort((a, b) => a.key.localeCompare(b.key)),
    totals: {
      files: files.length,
      sizeBytes: files.reduce((sum, file) => sum + file.sizeBytes, 0),
      allocatedBytes: files.reduce((sum, file) => sum + file.allocatedBytes, 0),
    },
  };
}

describe('the BPF scanner', () => {
  const reason = unavailable();

  before(async () => {
    if (reason !== null) return;
    const at = (name: string) => join(dir, name);
    holders.push(
      await startHolder([
        ...['comm', `${tag}-main`],
        ...['create', at('plain'), '40960', 'unlink', at('plain'), 'dup', '2'],
        ...['sparse', at('sparse'), '1073741824', '4096', 'unlink', at('sparse')],
        ...['memfd', 'cache', '8192', 'tmpfile', dir, '12288'],
        ...['create', at('real (deleted)'), '4096'],
        ...['create', at('mapped'), '16384', 'mmap', 'unlink', at('mapped'), 'close'],
        ...['append', at('log'), 'unlink', at('log'), 'fork'],
      ]),
      await startHolder([
        ...['comm', `${tag}-exited`, 'create', at('exited'), '8192', 'unlink', at('exited')],
        'thread-exit',
      ]),
      await startHolder([
        ...['comm', `${tag}-unshared`, 'create', at('main'), '4096', 'unlink', at('main')],
        ...['unshare-thread', at('thread'), '20480'],
      ]),
    );
    await startNamespaced(['comm', `${tag}-pidns`, 'create', at('pidns'), '24576', 'unlink', at('pidns')]);
  });

  after(async () => {
    await Promise.all(holders.map((holder) => holder.stop()));
    namespaced?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('finds the same fds, files, sizes, holders and totals as the /proc scanner', (t) => {
    if (reason !== null) return t.skip(reason);
    const proc = takeSnapshot({ scanner: 'proc' });
    const bpf = takeSnapshot({ scanner: 'bpf' });
    assert.equal(proc.scanner?.name, 'proc');
    assert.equal(bpf.scanner?.name, 'bpf');
    const expected = ourView(proc);
    // The load is really there: every special case, in both, and not found by neither.
    const names = expected.deleted.map((file) => file.name);
    for (const name of ['plain', 'sparse', 'mapped', 'log', 'exited', 'main', 'thread', 'pidns']) {
      assert.ok(names.includes(join(dir, name)), `${name} is among ${names.join(', ')}`);
    }
    assert.ok(names.some((name) => name?.startsWith('/memfd:cache')));
    assert.ok(
      expected.processes.some((p) => p.fds.some((fd) => fd.tid !== null)),
      'a table read under task/TID',
    );
    assert.ok(
      // Its name as both scanners keep it: the suffix stripped, like any deleted file's.
      expected.processes.some((p) => p.fds.some((fd) => fd.name === join(dir, 'real'))),
      'a live file named "... (deleted)" is a candidate',
    );
    assert.deepEqual(ourView(bpf), expected);
  });

  it('says which scanner ran in the JSON and why', (t) => {
    if (reason !== null) return t.skip(reason);
    const bpf = findDeletedFiles(takeSnapshot({ scanner: 'bpf' }));
    assert.deepEqual(bpf.incomplete.scanner, { name: 'bpf', reason: 'asked for (--scanner bpf)' });
    const auto = findDeletedFiles(takeSnapshot());
    assert.equal(auto.incomplete.scanner?.name, 'bpf');
  });
});
