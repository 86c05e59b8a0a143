// A FUSE mount whose daemon stops answering: bindfs, SIGSTOPped. A process holds a deleted file
// on it, so the scan would stat it; statfs of the mount waits too. limbo must finish within its
// time limit, name the mount, and end at once on SIGTERM. The daemon is always resumed and the
// mount removed in `after`, so a failure never leaves a hung mount behind.
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { DeletedJson } from '../../src/analyses/deleted-json.js';
import type { DfJson } from '../../src/analyses/df-json.js';
import type { ReportJson } from '../../src/analyses/report-json.js';
import { startHolder, type Holder } from '../helpers/holder.js';
import { repoRoot } from '../helpers/paths.js';

const isRoot = process.geteuid?.() === 0;
const hasBindfs = spawnSync('bindfs', ['--version']).status === 0;
const skip = !isRoot ? 'needs root (FUSE mount)' : !hasBindfs ? 'needs bindfs' : false;

let base: string;
let mountPoint: string;
let daemon: ChildProcess | null = null;
let holder: Holder | null = null;

function mounted(): boolean {
  return readFileSync('/proc/self/mountinfo', 'utf8').includes(` ${mountPoint} `);
}

/** Runs limbo ARGS --json, and how long it took; killed after 60 s so a hang fails, not stalls. */
function timed(args: readonly string[]): { code: number | null; stdout: string; seconds: number } {
  const started = performance.now();
  const result = spawnSync(process.execPath, [`${repoRoot}bin/limbo.js`, ...args, '--json'], {
    encoding: 'utf8',
    timeout: 60_000,
    killSignal: 'SIGKILL',
    maxBuffer: 1024 ** 3,
  });
  return { code: result.status, stdout: result.stdout, seconds: (performance.now() - started) / 1000 };
}

before(async () => {
  if (skip) return;
  base = mkdtempSync(join(tmpdir(), 'limbo-hung-'));
  mkdirSync(join(base, 'src'));
  mountPoint = join(base, 'mnt');
  mkdirSync(mountPoint);
  // In the foreground, so its pid is ours to stop; hard_remove: an unlinked open file is really removed.
  daemon = spawn('bindfs', ['-f', '-o', 'hard_remove', join(base, 'src'), mountPoint], { stdio: 'ignore' });
  for (let i = 0; i < 100 && !mounted(); i++) execFileSync('sleep', ['0.05']);
  assert.ok(mounted(), 'bindfs mounted');
  const file = join(mountPoint, 'held.bin');
  holder = await startHolder(['create', file, '65536', 'unlink', file]);
  process.kill(daemon.pid as number, 'SIGSTOP');
});

after(async () => {
  if (daemon?.pid) {
    try {
      process.kill(daemon.pid, 'SIGCONT');
    } catch {
      // gone
    }
  }
  await holder?.stop();
  if (base) {
    spawnSync('umount', [mountPoint]);
    if (mounted()) spawnSync('umount', ['-l', mountPoint]);
    daemon?.kill('SIGKILL');
    rmSync(base, { recursive: true, force: true });
  }
});

describe('a FUSE mount that does not answer (bindfs, SIGSTOPped)', () => {
  it('deleted finishes, names the mount, and counts the descriptor it could not check', { skip }, () => {
    const run = timed(['deleted']);
    assert.equal(run.code, 0);
    assert.ok(run.seconds < 20, `took ${run.seconds} s`);
    const report = JSON.parse(run.stdout) as DeletedJson;
    const silent = report.incomplete.unansweredMounts?.find((m) => m.mount === mountPoint);
    assert.ok(silent, JSON.stringify(report.incomplete));
    assert.equal(silent.fstype.startsWith('fuse'), true);
    assert.equal(silent.mountNamespace, null);
    assert.ok(silent.skipped >= 1, 'the holder fd on it was not stat-ed');
    assert.equal(silent.waitedMilliseconds, 5000);
  });

  it('df finishes without measuring it; df of a path on it is refused with the same words', { skip }, () => {
    const run = timed(['df']);
    assert.equal(run.code, 0);
    assert.ok(run.seconds < 20, `took ${run.seconds} s`);
    const df = JSON.parse(run.stdout) as DfJson;
    assert.ok(!df.filesystems.some((fs) => fs.mount === mountPoint));
    assert.ok(df.incomplete?.unansweredMounts?.some((m) => m.mount === mountPoint));
    const one = spawnSync(process.execPath, [`${repoRoot}bin/limbo.js`, 'df', mountPoint], {
      encoding: 'utf8',
      timeout: 60_000,
      killSignal: 'SIGKILL',
    });
    assert.equal(one.status, 1);
    assert.match(one.stderr, new RegExp(`could not read ${mountPoint} \\(fuse[^)]*\\): no answer in 5 s`));
  });

  it('report finishes and warns about the mount', { skip }, () => {
    const run = timed(['report']);
    assert.ok(run.seconds < 20, `took ${run.seconds} s`);
    const report = JSON.parse(run.stdout) as ReportJson;
    const finding = report.findings.find((f) => f.kind === 'mount-unanswered');
    assert.ok(finding);
    assert.equal(finding.severity, 'warning');
    assert.match(finding.message, new RegExp(`could not read ${mountPoint} .*no answer in 5 s`));
  });

  it('SIGTERM ends it at once while it waits for the mount', { skip }, async () => {
    const child = spawn(process.execPath, [`${repoRoot}bin/limbo.js`, 'deleted'], { stdio: 'ignore' });
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const sent = performance.now();
    child.kill('SIGTERM');
    const signal = await new Promise<NodeJS.Signals | null>((resolve) =>
      child.on('exit', (_code, sig) => resolve(sig)),
    );
    assert.equal(signal, 'SIGTERM');
    assert.ok(performance.now() - sent < 1000, 'ended within a second');
  });
});
