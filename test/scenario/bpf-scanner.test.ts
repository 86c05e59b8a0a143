// The BPF scanner (native/scan.bpf.c) must see what the /proc scanner sees: on one load of real
// processes, both snapshots hold the same fds, files, sizes and holders, and `limbo deleted`
// the same files and totals. The load has every case the /proc scanner covers specially: a
// thread with its own fd table, a process whose main thread exited, a process in another pid
// namespace, memfd, O_TMPFILE, a live file really named "... (deleted)", a mapping whose fd
// was closed. It runs where BPF works (root, BTF, the addon built with it) and says why not
// elsewhere; where the tools to build it are present it must run.
// The handle ledger's iterators (native/handles.bpf.c) must type every fd and count open files
// as the /proc scanner does (kcmp, as root), and count files held only by mappings and SysV shm
// attaches exactly, as the kernel holds them. When a snapshot wants both (serve, `snapshot
// --handles`), the ledger's walk alone gives the deleted candidates too, and must find the same.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { findDeletedFiles } from '../../src/analyses/deleted.js';
import type { HandlesJson } from '../../src/analyses/handles-json.js';
import { nativeAddon, type BpfCandidate } from '../../src/native.js';
import { bpfTableScans, chooseScanner, readCandidatesDuringWalk } from '../../src/snapshot/bpf-fd-scan.js';
import { fdDirSizeCounts, startBpfScan, startBpfScanEarly } from '../../src/snapshot/bpf-start.js';
import { takeSnapshot } from '../../src/snapshot/take-snapshot.js';
import type { Snapshot } from '../../src/snapshot/types.js';
import { holderBinary, startHolder, type Holder } from '../helpers/holder.js';
import { runLimbo } from '../helpers/limbo.js';

const tag = `lp${process.pid % 100000}`;
const dir = mkdtempSync(join(tmpdir(), 'limbo-bpf-'));
const holders: Holder[] = [];
/** Files the kinds holder maps and closes: each holds one struct file through its mapping alone. */
const CLOSED_MAPPINGS = 5;
/** Its SysV attaches: one struct file each, shared with the child it forks after them. */
const SHM_ATTACHES = 3;
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

/** The ledger's per-process counts of the test's own processes, by comm (pids differ per run of the load). */
function ourHandles(snapshot: Snapshot) {
  return snapshot.processes
    .filter((p) => p.comm.toString('latin1').startsWith(tag))
    .map((p) => ({ pid: p.pid, comm: p.comm.toString('latin1'), ...p.handles }))
    .sort((a, b) => a.pid - b.pid);
}

/** Each of the load's processes and threads, as a snapshot lists its fd tables (one per task here). */
function loadTables(): { dir: string; tid: number }[] {
  return holders.flatMap((holder) =>
    [holder.pid, ...holder.children].flatMap((pid) =>
      readdirSync(`/proc/${pid}/task`).map((tid) =>
        Number(tid) === pid
          ? { dir: `/proc/${pid}`, tid: pid }
          : { dir: `/proc/${pid}/task/${tid}`, tid: Number(tid) },
      ),
    ),
  );
}

/** What a scanner saw of the test's own processes, in comparable form. */
function ourView(snapshot: Snapshot) {
  const ours = snapshot.processes.filter((p) => p.comm.toString('latin1').startsWith(tag));
  const pids = new Set(ours.map((p) => p.pid));
  const fileKeys = new Set(ours.flatMap((p) => [...p.fds, ...p.mappings].map((held) => held.fileKey)));
  // A snapshot taken without its files has no deleted files to find: findDeletedFiles refuses it.
  const deleted = snapshot.filesCollected === false ? [] : findDeletedFiles(snapshot).files;
  const files = deleted.filter((file) => file.holders.every((h) => pids.has(h.pid)));
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
        // Live files named as FUSE and NFS name silly-renamed ones: candidates by their names alone.
        ...['create', at('.fuse_hidden0000000200000001'), '10'],
        ...['create', at('.nfs000000000123abcd00000001'), '10'],
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
    holders.push(
      await startHolder([`comm`, `${tag}-base`]),
      await startHolder([
        ...['comm', `${tag}-kinds`, 'anon', 'sockets', 'pipe', 'mqueue', `/${tag}q`, '16'],
        ...['create', at('many'), '4096', 'mapmany', at('many'), String(CLOSED_MAPPINGS)],
        // shm-rm: the segment goes with its last attach, so the test leaves no orphan behind.
        ...['shm', '8192', String(SHM_ATTACHES), 'shm-rm', 'fork'],
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
    // Older kernels' way (Linux < 6.2: no fd count in st_size), on this one: the kernel sends every fd.
    process.env.LIMBO_BPF_EVERY_FD = '1';
    let everyFd: Snapshot;
    try {
      everyFd = takeSnapshot({ scanner: 'bpf' });
    } finally {
      delete process.env.LIMBO_BPF_EVERY_FD;
    }
    assert.equal(proc.scanner?.name, 'proc');
    assert.equal(bpf.scanner?.name, 'bpf');
    assert.equal(everyFd.scanner?.name, 'bpf');
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
    for (const silly of ['.fuse_hidden0000000200000001', '.nfs000000000123abcd00000001'])
      assert.ok(
        expected.processes.some((p) => p.fds.some((fd) => fd.name === join(dir, silly))),
        `${silly} is a candidate`,
      );
    assert.deepEqual(ourView(bpf), expected);
    assert.deepEqual(ourView(everyFd), expected);
  });

  it('walks the fd tables once for the ledger and the deleted files, and finds the same', (t) => {
    if (reason !== null) return t.skip(reason);
    // In a process of its own, a snapshot with both loads the ledger's programs and never the
    // deleted-files one: the programs behind its bpf-prog fds (fdinfo prog_id), as bpftool names them.
    const script = [
      `const { takeSnapshot } = await import(${JSON.stringify(new URL('../../src/snapshot/take-snapshot.js', import.meta.url).href)});`,
      `const { execFileSync } = await import('node:child_process');`,
      `const { readdirSync, readFileSync, readlinkSync } = await import('node:fs');`,
      `takeSnapshot({ scanner: 'bpf', handles: true });`,
      `const ids = readdirSync('/proc/self/fd').filter((fd) => { try { return readlinkSync('/proc/self/fd/' + fd) === 'anon_inode:bpf-prog'; } catch { return false; } })`,
      `  .map((fd) => Number(/^prog_id:\\s*(\\d+)/m.exec(readFileSync('/proc/self/fdinfo/' + fd, 'utf8'))?.[1]));`,
      `const progs = JSON.parse(execFileSync('bpftool', ['prog', 'show', '--json']).toString());`,
      `console.log(JSON.stringify(progs.filter((p) => ids.includes(p.id)).map((p) => p.name).sort()));`,
    ].join('\n');
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      env: { ...process.env, PATH: `${process.env.PATH}:/usr/sbin` },
    });
    assert.equal(child.status, 0, child.stderr.toString());
    assert.deepEqual(JSON.parse(child.stdout.toString()), ['limbo_handle_file', 'limbo_handle_vma']);
    const oneWalk = takeSnapshot({ scanner: 'bpf', handles: true });
    const handlesOnly = takeSnapshot({ scanner: 'bpf', handles: true, files: false });
    assert.equal(oneWalk.scanner?.name, 'bpf');
    assert.equal(oneWalk.system?.openFilesExact, true);
    const proc = takeSnapshot({ scanner: 'proc', handles: true });
    const expected = ourView(proc);
    assert.ok(expected.deleted.length >= 9, 'the load is there');
    assert.deepEqual(ourView(oneWalk), expected);
    // Without the files: the same fd counts and ledger, and the snapshot says what it left out.
    assert.equal(handlesOnly.filesCollected, false);
    assert.equal(oneWalk.filesCollected, undefined);
    assert.deepEqual(handlesOnly.files, []);
    assert.throws(() => findDeletedFiles(handlesOnly), { code: 'snapshot-invalid' });
    const counts = (snapshot: Snapshot) =>
      ourView(snapshot).processes.map((p) => [p.pid, p.fdCount, p.readable]);
    assert.deepEqual(counts(handlesOnly), counts(proc));
    const ours = ourView(handlesOnly).processes;
    assert.ok(ours.every((p) => p.fds.length === 0 && p.mappings.length === 0));
    assert.deepEqual(ourHandles(handlesOnly), ourHandles(oneWalk));
  });

  it("gives every task's fd count from the ledger's walk, as an fd directory's st_size does", (t) => {
    if (reason !== null) return t.skip(reason);
    // Linux < 6.2 has no count in st_size: the ledger's walk sees every fd, so it counts them.
    const run = nativeAddon()?.bpfScanHandles?.(true);
    assert.ok(run && !('error' in run));
    const every = nativeAddon()?.bpfScanFds?.(true);
    assert.ok(every && !('error' in every));
    // (The holder whose main thread exited is walked under its threads' tids.)
    for (const holder of holders.filter((_, i) => i !== 1)) {
      const at = run.tables.tids.indexOf(holder.pid);
      assert.ok(at >= 0, `pid ${holder.pid} was walked`);
      assert.equal(run.tables.counts[at], statSync(`/proc/${holder.pid}/fd`).size);
      const inTable = (c: { files: bigint }) => c.files === run.tables.files[at];
      const key = ({ tid, fd, file, ino, flags, posBytes, sizeBytes }: BpfCandidate) =>
        `${tid} ${fd} ${file} ${ino} ${flags} ${posBytes} ${sizeBytes}`;
      assert.deepEqual(
        run.tables.candidates.filter(inTable).map(key),
        every.candidates.filter((c) => c.files === every.files[every.tids.indexOf(holder.pid)]).map(key),
      );
    }
    // Asked for no candidates, the walk sends none, and still counts every fd.
    const lean = nativeAddon()?.bpfScanHandles?.(false);
    assert.ok(lean && !('error' in lean));
    assert.equal(lean.tables.candidates.length, 0);
    const main = holders[0]?.pid as number;
    assert.equal(lean.tables.counts[lean.tables.tids.indexOf(main)], statSync(`/proc/${main}/fd`).size);
  });

  it('sends only the candidates where st_size counts a table, and every fd elsewhere', (t) => {
    if (reason !== null) return t.skip(reason);
    // fs/proc/fd.c gives an fd directory's st_size the fd count from Linux 6.2 on.
    const [major = 0, minor = 0] = release().split('.').map(Number);
    assert.equal(fdDirSizeCounts('/proc'), major > 6 || (major === 6 && minor >= 2));
    const scan = nativeAddon()?.bpfScanFds?.(false);
    const every = nativeAddon()?.bpfScanFds?.(true);
    assert.ok(scan && !('error' in scan) && every && !('error' in every));
    const base = holders[3]?.pid as number;
    const main = holders[0]?.pid as number;
    // A table with no candidate sends nothing; one with candidates sends them alone.
    assert.equal(scan.counts, null);
    assert.ok(!scan.tids.includes(base), 'the holder without a deleted file sent no record');
    assert.ok(scan.tids.includes(main));
    assert.ok(scan.tids.length < every.tids.length);
    assert.deepEqual(
      scan.candidates.filter((c) => c.tid === main),
      every.candidates.filter((c) => c.tid === main),
    );
    // Every fd sent: each table's count is its fd directory's.
    const at = every.tids.indexOf(base);
    assert.ok(at >= 0);
    assert.equal(every.counts?.[at], statSync(`/proc/${base}/fd`).size);
  });

  it('reads the candidates in the addon as its JavaScript twin reads them', (t) => {
    if (reason !== null) return t.skip(reason);
    const chosen = chooseScanner('bpf', '/proc');
    assert.ok(chosen.tables);
    const tables = loadTables();
    const fromC = bpfTableScans(chosen.tables, tables, null, nativeAddon());
    assert.deepEqual(fromC, bpfTableScans(chosen.tables, tables, null, null));
    // The kernel's flags and offset ride on every candidate the kernel sent and /proc confirmed.
    const candidates = fromC.flatMap((scan) => (scan.ok ? scan.value.candidates : []));
    assert.ok(candidates.length >= 8);
    assert.ok(candidates.every((c) => c.flags !== undefined && c.posBytes !== undefined));
    // A walk started ahead is collected only by the start that made it; another call runs anew.
    const addon = nativeAddon();
    const started = addon?.bpfStartFdScan?.(false);
    assert.equal(typeof started, 'number');
    const ahead = addon?.bpfScanFds?.(false, started);
    const now = addon?.bpfScanFds?.(false, started);
    assert.ok(ahead && !('error' in ahead) && now && !('error' in now));
    const ours = (scan: typeof ahead) =>
      scan.candidates.filter((c) => tables.some((table) => table.tid === c.tid)).map((c) => [c.tid, c.fd]);
    assert.deepEqual(ours(ahead), ours(now));
  });

  it('hands out each candidate once while the walk goes on, and reads them then as after it', (t) => {
    if (reason !== null) return t.skip(reason);
    const addon = nativeAddon();
    const take = addon?.bpfTakeFdCandidates?.bind(addon);
    assert.ok(take, 'an addon built with BPF hands out candidates as the walk goes on');
    const generation = addon?.bpfStartFdScan?.(false) as number;
    assert.equal(take(generation + 1), null, "another start's candidates are not handed out");
    const taken: [number, number, bigint][] = [];
    for (let batch = take(generation); batch !== null; batch = take(generation))
      batch.tids.forEach((tid, i) => taken.push([tid, batch.fds[i] as number, batch.files[i] as bigint]));
    const whole = addon?.bpfScanFds?.(false, generation);
    assert.ok(whole && !('error' in whole));
    // The same run: every candidate once, in the walk's order, and nothing after it is collected.
    assert.deepEqual(
      taken,
      whole.candidates.map((c) => [c.tid, c.fd, c.files]),
    );
    assert.ok(taken.length >= 8);
    assert.equal(take(generation), null);

    const tables = loadTables();
    const started = { generation: addon?.bpfStartFdScan?.(false) as number, everyFd: false };
    const early = readCandidatesDuringWalk(started, tables);
    const chosen = chooseScanner('bpf', '/proc', started);
    assert.ok(chosen.tables);
    const withEarly = bpfTableScans(chosen.tables, tables, null, addon, early);
    // Every table of the load that holds a candidate was read while the kernel walked, and to the same result.
    const holding = withEarly.flatMap((scan, i) => (scan.ok && scan.value.candidates.length > 0 ? [i] : []));
    assert.ok(holding.length >= 4);
    assert.deepEqual(
      holding.filter((i) => !early.has(i)),
      [],
    );
    assert.deepEqual(withEarly, bpfTableScans(chosen.tables, tables, null, addon));
  });

  it('collects a walk a command started before loading its code, once, however often it was started', (t) => {
    if (reason !== null) return t.skip(reason);
    startBpfScanEarly('bpf', '/proc');
    const first = startBpfScan('bpf', '/proc');
    const second = startBpfScan('bpf', '/proc');
    assert.ok(first && second);
    // The first scan takes the walk started ahead; the next starts its own, and the first is dropped.
    assert.equal(second.generation, first.generation + 1);
    startBpfScanEarly('bpf', '/proc');
    assert.equal(startBpfScan('proc', '/proc'), null, 'a /proc scan takes no walk');
    const after = startBpfScan('bpf', '/proc');
    assert.ok(after && after.generation > second.generation + 1, 'nor does it leave one for the next scan');
    const whole = nativeAddon()?.bpfScanFds?.(false, after.generation);
    assert.ok(whole && !('error' in whole));
    // Started early twice (bin/limbo.js from the raw argv, then the command): one walk, kept.
    startBpfScanEarly('bpf', '/proc');
    startBpfScanEarly('bpf', '/proc');
    const kept = startBpfScan('bpf', '/proc');
    assert.equal(kept?.generation, after.generation + 1);
    assert.ok(kept && !('error' in (nativeAddon()?.bpfScanFds?.(false, kept.generation) ?? {})));
  });

  it('keeps the same handle ledger as the /proc scanner, with exact mappings', (t) => {
    if (reason !== null) return t.skip(reason);
    const proc = takeSnapshot({ scanner: 'proc', handles: true });
    const bpf = takeSnapshot({ scanner: 'bpf', handles: true });
    assert.equal(bpf.scanner?.name, 'bpf');
    assert.equal(proc.system?.openFilesExact, true, 'root: kcmp groups every fd');
    assert.equal(bpf.system?.openFilesExact, true);
    assert.equal(bpf.system?.mappingsExact, true);
    const expected = ourHandles(proc);
    const got = ourHandles(bpf);
    const kinds = expected.find((p) => p.comm === `${tag}-kinds`);
    // The load is really there: every kind of fd, in the holder that makes them.
    assert.deepEqual(kinds?.anonInodes, {
      eventfd: 1,
      eventpoll: 1,
      inotify: 1,
      timerfd: 1,
      signalfd: 1,
      pidfd: 1,
    });
    // unix: the socketpair, and stdin, stdout and stderr (Node's child pipes are unix sockets).
    assert.deepEqual(kinds?.socketProtocols, { unix: 5, tcp: 1, udp: 1, tcp6: 1, udp6: 1, netlink: 1 });
    for (const type of ['regular', 'pipe', 'socket', 'anon_inode', 'mqueue'])
      assert.ok((kinds?.fdTypes?.[type] ?? 0) > 0, `${type} among ${JSON.stringify(kinds?.fdTypes)}`);
    assert.ok(expected.some((p) => p.fdTypes?.memfd === 1));
    assert.equal(expected.length, 8, 'main, its child, exited, unshared, pidns, base, kinds and its child');
    // Types, protocols and open files: the same from both. Mappings and shm: the kernel's truth below.
    const comparable = (list: typeof expected) =>
      list.map(({ mappingFiles: _m, shmAttachments: _s, ...rest }) => rest);
    assert.deepEqual(comparable(got), comparable(expected));
    // `limbo handles` scans without the deleted files, through either scanner: the same ledger.
    assert.deepEqual(ourHandles(takeSnapshot({ scanner: 'bpf', handles: true, files: false })), got);
    assert.deepEqual(
      comparable(ourHandles(takeSnapshot({ scanner: 'proc', handles: true, files: false }))),
      comparable(expected),
    );

    const byComm = (comm: string) => got.filter((p) => p.comm === `${tag}-${comm}`);
    const [parent, child] = byComm('kinds');
    const [base] = byComm('base');
    // open+mmap+close ×N: N struct files only mappings hold, beyond what ld.so left any holder;
    // the fork child shares every one of its parent's (one struct file, counted once).
    assert.equal((parent?.mappingFiles ?? 0) - (base?.mappingFiles ?? 0), CLOSED_MAPPINGS);
    assert.equal(child?.mappingFiles, 0);
    // Each shmat made one struct file; the child attaches the same ones.
    assert.equal(parent?.shmAttachments, SHM_ATTACHES);
    assert.equal(child?.shmAttachments, SHM_ATTACHES);
    assert.ok((bpf.system?.shmAttachFiles ?? 0) >= SHM_ATTACHES);
  });

  it("tallies fds that alone hold their file per task, exactly, across the walk's buffer refills", async (t) => {
    if (reason !== null) return t.skip(reason);
    // 1,000 processes holding one /dev/null each: the walk writes only their tallies (104 bytes
    // each), so the 32 KiB buffer of the kernel's iterator overflows on runs that write a task's
    // tally and start the next one, which the kernel runs again: each must count once.
    const swarm = await startHolder(['swarm', '1000']);
    holders.push(swarm);
    const pids = readFileSync(`/proc/${swarm.pid}/task/${swarm.pid}/children`, 'utf8')
      .trim()
      .split(' ')
      .map(Number);
    assert.equal(pids.length, 1000);
    const run = nativeAddon()?.bpfScanHandles?.(false);
    assert.ok(run && !('error' in run));
    const byPid = new Map(run.processes.map((p) => [p.pid, p]));
    const wrong = pids
      .map((pid) => ({ pid, seen: byPid.get(pid) }))
      .filter(
        ({ seen }) =>
          seen?.fds !== 1 || seen.openFiles !== 1 || JSON.stringify(seen.kinds) !== '[[0,8192,"",1]]',
      );
    assert.deepEqual(wrong.slice(0, 3), [], `${wrong.length} of 1,000 processes miscounted`);
    // Each /dev/null open is its own open file description: the system's count holds all of them.
    assert.ok(run.openFiles >= 1000);
  });

  it('counts the fds in flight to unix sockets as their fdinfo does', async (t) => {
    if (reason !== null) return t.skip(reason);
    // 6 fds sent and never received: to a stream socket and a datagram socket (the kernel's count)
    // and over a connection queued on a listener (its fdinfo's sum). Its comm is not the tag's:
    // the other tests' views of the load leave it out.
    const inflight = await startHolder(['inflight']);
    try {
      const proc = takeSnapshot({ scanner: 'proc', handles: true }).system?.fdsInFlight;
      const bpf = takeSnapshot({ scanner: 'bpf', handles: true }).system?.fdsInFlight;
      assert.ok((proc ?? 0) >= 6, `the /proc scanner sees the holder's 6: ${proc}`);
      assert.equal(bpf, proc);
    } finally {
      await inflight.stop();
    }
  });

  it('serves `limbo handles --scanner bpf` and says so', (t) => {
    if (reason !== null) return t.skip(reason);
    const run = runLimbo(['handles', '--json', '--scanner', 'bpf']);
    assert.equal(run.code, 0, run.stderr);
    const report = JSON.parse(run.stdout) as HandlesJson;
    assert.deepEqual(report.incomplete.scanner, { name: 'bpf', reason: 'asked for (--scanner bpf)' });
    assert.equal(report.ledger.openFilesExact, true);
    assert.equal(report.ledger.mappingsExact, true);
  });

  it('says which scanner ran in the JSON and why', (t) => {
    if (reason !== null) return t.skip(reason);
    const bpf = findDeletedFiles(takeSnapshot({ scanner: 'bpf' }));
    assert.deepEqual(bpf.incomplete.scanner, { name: 'bpf', reason: 'asked for (--scanner bpf)' });
    const auto = findDeletedFiles(takeSnapshot());
    assert.equal(auto.incomplete.scanner?.name, 'bpf');
  });
});
