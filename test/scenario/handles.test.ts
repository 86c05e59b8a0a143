// `limbo handles` on real processes: dup'd fds, mappings whose fds were closed, SysV attaches,
// and a process near its fd limit, checked against what the kernel lists per process.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { HandlesJson } from '../../src/analyses/handles-json.js';
import { takeSnapshot } from '../../src/snapshot/take-snapshot.js';
import { startHolder, type Holder, type HolderOptions } from '../helpers/holder.js';
import { runLimbo } from '../helpers/limbo.js';
import { publicCopy } from '../helpers/paths.js';
import { assertMatchesSchema } from '../helpers/schema.js';

const isRoot = process.geteuid?.() === 0;
let dir: string;
const holders: Holder[] = [];

async function hold(ops: string[], options: HolderOptions = {}): Promise<Holder> {
  const holder = await startHolder(ops, options);
  holders.push(holder);
  return holder;
}

function limboHandles(args: string[] = []): HandlesJson {
  const run = runLimbo(['handles', '--json', ...args]);
  assert.equal(run.code, 0, run.stderr);
  return JSON.parse(run.stdout) as HandlesJson;
}

function processOf(report: HandlesJson, pid: number): HandlesJson['processes'][number] {
  const entry = report.processes.find((p) => p.pid === pid);
  assert.ok(entry, `pid ${pid} is listed`);
  return entry;
}

/** Spins (the snapshot runs synchronously) until the killed child is a zombie: its fd table is gone. */
function waitUntilZombie(pid: number): void {
  const nap = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    if (stat[stat.lastIndexOf(')') + 2] === 'Z') return;
    Atomics.wait(nap, 0, 0, 1);
  }
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'limbo-handles-'));
});

after(async () => {
  await Promise.all(holders.map((holder) => holder.stop()));
  rmSync(dir, { recursive: true, force: true });
});

describe('limbo handles on real processes', () => {
  it(
    'counts 1,000 dups as 1,000 descriptors but one open file, exactly, as root',
    { skip: !isRoot && 'kcmp needs root here' },
    async () => {
      const path = join(dir, 'dup.log');
      const holder = await hold(['create', path, '10', 'dup', '1000']);
      const fds = readdirSync(`/proc/${holder.pid}/fd`).length;
      const report = limboHandles();
      const entry = processOf(report, holder.pid);
      assert.equal(entry.fds, fds);
      assert.equal(entry.openFiles, fds - 1000, 'the 1,001 fds of the file are one description');
      assert.equal(report.ledger.openFilesExact, true);
      assert.ok(report.ledger.descriptors - report.ledger.openFiles >= 1000);
    },
  );

  it(
    'drops a holder that exits mid-scan as vanished, and every other group stays exact',
    { skip: !isRoot && 'kcmp needs root here' },
    async () => {
      const stays = await hold(['create', join(dir, 'stays.log'), '10', 'dup', '1000']);
      const exits = await hold(['create', join(dir, 'exits.log'), '10', 'dup', '5']);
      const snapshot = takeSnapshot({
        handles: true,
        // The kcmp pass is the /proc scanner's: the BPF scanner reads every struct file in one
        // kernel walk before the listing, and counts a process that exits after it as it was.
        scanner: 'proc',
        // Between the fd listing and the kcmp pass: the holder's fds were listed, now they are gone.
        afterFdListing: () => {
          process.kill(exits.pid, 'SIGKILL');
          waitUntilZombie(exits.pid);
        },
      });
      assert.equal(
        snapshot.processes.some((p) => p.pid === exits.pid),
        false,
        'the exited holder is dropped',
      );
      assert.ok((snapshot.incomplete.vanishedProcesses ?? 0) >= 1, 'and counted as vanished');
      assert.equal(snapshot.incomplete.unreadablePids.includes(exits.pid), false, 'not as unreadable');
      assert.equal(snapshot.system?.openFilesExact, true, 'no other group became an estimate');
      const entry = snapshot.processes.find((p) => p.pid === stays.pid);
      const fds = readdirSync(`/proc/${stays.pid}/fd`).length;
      assert.equal(entry?.handles?.openFiles, fds - 1000, 'the 1,001 fds of the file are one description');
    },
  );

  it('attributes 1,000 open+mmap+close struct files to the process’s mappings, one per open', async () => {
    // Proven per process: file-nr is system-wide, and on a busy machine other processes move it
    // by more than any bound a test could pick. Two holders run the same binary with the same
    // libraries; one also opens, maps and closes the file 1,000 times. Each open made its own
    // struct file (KERNEL-NOTES), which only its mapping keeps now.
    const path = join(dir, 'mapped.bin');
    writeFileSync(path, Buffer.alloc(4096, 1));
    const { ino } = statSync(path);
    const baseline = await hold(['mapmany', path, '0']);
    const holder = await hold(['mapmany', path, '1000']);
    const mapsOfFile = readFileSync(`/proc/${holder.pid}/maps`, 'utf8')
      .split('\n')
      .filter((line) => line.split(/\s+/)[4] === String(ino));
    assert.equal(mapsOfFile.length, 1000, 'the kernel lists 1,000 separate mappings of the file');
    const fdTargets = readdirSync(`/proc/${holder.pid}/fd`).map((fd) =>
      readlinkSync(`/proc/${holder.pid}/fd/${fd}`),
    );
    assert.equal(fdTargets.includes(path), false, 'and no fd holds it');
    const report = limboHandles();
    const base = processOf(report, baseline.pid).mappings;
    const entry = processOf(report, holder.pid).mappings;
    assert.ok(base !== null && entry !== null, `mappings ${base}, ${entry}`);
    assert.equal(entry - base, 1000, 'exactly one struct file per open+mmap+close');
    assert.ok(report.ledger.mappings >= entry + base);
  });

  it('counts every SysV attach as a struct file, for the system and for the process', async () => {
    const holder = await hold(['shm', '65536', '1000']);
    const report = limboHandles();
    assert.equal(processOf(report, holder.pid).shmAttachments, 1000);
    const segment = readFileSync('/proc/sysvipc/shm', 'utf8')
      .split('\n')
      .map((line) => line.trim().split(/\s+/))
      .find((fields) => fields[1] === String(holder.shmids[0]));
    assert.equal(segment?.[6], '1000', 'the kernel agrees: nattch 1000');
    assert.ok(report.ledger.shmAttachments >= 1000);
    assert.ok(report.ledger.shmSegments >= 1);
    execFileSync('ipcrm', ['-m', String(holder.shmids[0])]);
  });

  it('warns about a process above 80% of its soft fd limit, with the fix, in valid limbo.handles/1', async () => {
    const path = join(dir, 'limit.log');
    const holder = await hold(['create', path, '1', 'dup', '50'], {
      wrapper: ['prlimit', '--nofile=60:60', '--'],
    });
    const report = limboHandles();
    const entry = processOf(report, holder.pid);
    assert.deepEqual(entry.limit, { soft: 60, hard: 60 });
    assert.ok((entry.limitUsedPercent ?? 0) > 80);
    const warning = report.warnings.find((w) => w.pid === holder.pid);
    assert.equal(warning?.kind, 'process-fd-limit');
    assert.match(warning?.message ?? '', /of 60 fds open/);
    assert.match(warning?.fix ?? '', new RegExp(`prlimit --pid ${holder.pid} --nofile=120:120|LimitNOFILE=`));
    const table = runLimbo(['handles']);
    assert.match(table.stdout, /Warnings:/);
    assertMatchesSchema('limbo.handles-1', report);
    assert.match(table.stdout, new RegExp(`pid ${holder.pid} \\(holder\\)`));
  });

  it(
    'leaves a small unexplained remainder, and the ledger adds up',
    { skip: !isRoot && 'a partial view leaves more unexplained' },
    () => {
      const report = limboHandles();
      const { ledger, fileNr } = report;
      assert.ok(fileNr.allocated !== null && ledger.unexplained !== null);
      assert.equal(
        ledger.unexplained,
        fileNr.allocated -
          ledger.openFiles -
          (ledger.unreadableDescriptors ?? 0) -
          ledger.mappings -
          ledger.shmSegments -
          ledger.shmAttachments,
      );
      // file-nr is system-wide and other processes come and go during a scan: a tolerance, not zero.
      assert.ok(
        Math.abs(ledger.unexplained) <= 300,
        `unexplained ${ledger.unexplained} of ${fileNr.allocated}`,
      );
    },
  );

  it(
    'shows counts without root, marking what needs it, and keeps them out of unexplained',
    { skip: !isRoot && 'needs root to switch users' },
    async () => {
      const holder = await hold(['create', join(dir, 'root-owned'), '1', 'dup', '20']);
      const run = runLimbo(['handles', '--json'], { uid: 65534 });
      assert.equal(run.code, 0, run.stderr);
      const report = JSON.parse(run.stdout) as HandlesJson;
      const fds = readdirSync(`/proc/${holder.pid}/fd`).length;
      const entry = processOf(report, holder.pid);
      assert.equal(entry.fds, fds, 'the fd count is readable by anyone');
      assert.equal(entry.openFiles, null);
      assert.ok(report.incomplete.unreadablePids.includes(holder.pid));
      const named = report.incomplete.processes?.find((p) => p.pid === holder.pid);
      assert.deepEqual(
        named && { comm: named.comm, user: named.user, why: named.why, descriptors: named.descriptors },
        { comm: 'holder', user: 'root', why: ['fd-directory', 'maps'], descriptors: fds },
      );
      const { ledger, fileNr } = report;
      assert.ok((ledger.unreadableDescriptors ?? 0) >= fds, 'its fds are a ledger line of their own');
      assert.equal(
        ledger.unexplained,
        (fileNr.allocated ?? 0) -
          ledger.openFiles -
          (ledger.unreadableDescriptors ?? 0) -
          ledger.mappings -
          ledger.shmSegments -
          ledger.shmAttachments,
        'and are kept out of unexplained',
      );
      assertMatchesSchema('limbo.handles-1', report);
      const text = runLimbo(['handles'], { uid: 65534 }).stdout;
      assert.match(text, /\+ unreadable fds/);
      assert.match(text, /Partial view: \d+ process(es)? could not be read \(run as root to see them\)/);
      assert.match(text, /\n {2}pid \d+ \(.+\): fd directory refused, maps refused, [\d,]+ fds unknown\n/);
    },
  );

  it(
    'counts the fds of a process whose fd directory lists but whose links are refused',
    { skip: !isRoot && 'needs root to grant a capability and switch users' },
    async () => {
      // The same user, but the holder has a capability the scanner lacks: ptrace access (and so
      // every fd link) is refused while its fd directory, owned by that user, still lists.
      const holder = await hold(['pipe', 'dup', '10'], {
        binary: `${publicCopy()}test/fixtures/bin/holder`,
        wrapper: [
          'setpriv',
          '--reuid=65534',
          '--regid=65534',
          '--clear-groups',
          '--inh-caps=+net_bind_service',
          '--ambient-caps=+net_bind_service',
          '--',
        ],
      });
      const fds = readdirSync(`/proc/${holder.pid}/fd`).length;
      const report = JSON.parse(runLimbo(['handles', '--json'], { uid: 65534 }).stdout) as HandlesJson;
      assert.equal(processOf(report, holder.pid).fds, fds, 'every listed fd is counted, not 0');
      const named = report.incomplete.processes?.find((p) => p.pid === holder.pid);
      assert.ok(named?.why.includes('fd-links'), JSON.stringify(named));
      assert.equal(named?.descriptors, fds);
      assert.ok((report.ledger.unreadableDescriptors ?? 0) >= fds);
    },
  );
});
