// A FUSE mount whose daemon stops answering: bindfs, SIGSTOPped. A process holds a deleted file
// on it, so the scan would stat it; statfs of the mount waits too. limbo must finish within its
// time limit, name the mount, and end at once on SIGTERM. The daemon is always resumed and the
// mount removed in `after`, so a failure never leaves a hung mount behind.
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { DeletedJson } from '../../src/analyses/deleted-json.js';
import type { DfJson } from '../../src/analyses/df-json.js';
import type { LinksJson } from '../../src/analyses/links-json.js';
import type { ReportJson } from '../../src/analyses/report-json.js';
import type { CloseJson } from '../../src/actions/close-json.js';
import type { ReclaimJson } from '../../src/actions/reclaim-json.js';
import type { RecoverJson } from '../../src/actions/recover-json.js';
import { startHolder, type Holder } from '../helpers/holder.js';
import { repoRoot } from '../helpers/paths.js';

const isRoot = process.geteuid?.() === 0;
const hasBindfs = spawnSync('bindfs', ['--version']).status === 0;
const skip = !isRoot ? 'needs root (FUSE mount)' : !hasBindfs ? 'needs bindfs' : false;

let base: string;
let mountPoint: string;
let daemon: ChildProcess | null = null;
let holder: Holder | null = null;
/** A holder of a deleted file on the scratch directory (not on the mount). */
let local: Holder | null = null;

function mounted(): boolean {
  return readFileSync('/proc/self/mountinfo', 'utf8').includes(` ${mountPoint} `);
}

/** Runs limbo ARGS --json (ARGS alone with `json` false), and how long it took; killed after 60 s so a hang fails, not stalls. */
function timed(
  args: readonly string[],
  json = true,
): {
  code: number | null;
  stdout: string;
  stderr: string;
  seconds: number;
} {
  const started = performance.now();
  const result = spawnSync(
    process.execPath,
    [`${repoRoot}bin/limbo.js`, ...args, ...(json ? ['--json'] : [])],
    {
      encoding: 'utf8',
      timeout: 60_000,
      killSignal: 'SIGKILL',
      maxBuffer: 1024 ** 3,
    },
  );
  return {
    code: result.status,
    stdout: result.stdout,
    stderr: result.stderr,
    seconds: (performance.now() - started) / 1000,
  };
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
  const other = join(base, 'local.bin');
  local = await startHolder(['create', other, '65536', 'unlink', other]);
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
  await local?.stop();
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

  for (const scanner of ['proc', 'bpf'] as const) {
    it(`snapshot --handles --scanner ${scanner} counts the descriptor on the mount once`, { skip }, (t) => {
      const run = timed(['snapshot', '--handles', '--scanner', scanner]);
      if (scanner === 'bpf' && run.code === 2 && /cannot run here/.test(run.stderr)) {
        t.skip(run.stderr.trim());
        return;
      }
      assert.equal(run.code, 0, run.stderr);
      const snapshot = JSON.parse(run.stdout) as {
        incomplete: { unansweredMounts?: { mountPoint: string; skipped: number }[] };
      };
      const silent = snapshot.incomplete.unansweredMounts?.filter((m) => m.mountPoint === mountPoint);
      // Its full scan of every link and its pick of the deleted candidates both meet the holder's fd.
      assert.deepEqual(
        silent?.map((m) => m.skipped),
        [1],
        JSON.stringify(snapshot.incomplete),
      );
    });
  }

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
    // Its own mount's: another run's stopped FUSE mount on this host would be warned about too.
    const finding = report.findings.find(
      (f) => f.kind === 'mount-unanswered' && f.message.includes(`could not read ${mountPoint} `),
    );
    assert.ok(finding, JSON.stringify(report.findings));
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

/** PID:FD of the holder's deleted file on the silent mount. */
function heldTarget(): string {
  return `${holder?.pid}:${holder?.fds[0]}`;
}

/** The holder still has its fd on the file: readlink answers from /proc without asking the mount. */
function stillHeld(): boolean {
  return readlinkSync(`/proc/${holder?.pid}/fd/${holder?.fds[0]}`).includes('held.bin');
}

/** The refusal's words: the mount named, the real wait, nothing done. */
function refusalOf(seconds: number): RegExp {
  return new RegExp(
    `could not read ${mountPoint} \\(fuse[^)]*\\), where .*: no answer in ${seconds} s .*not touched`,
  );
}

describe('an action whose target is on a FUSE mount that does not answer', () => {
  it('close PID:FD is refused within the time limit, naming the mount, and closes nothing', { skip }, () => {
    const run = timed(['close', heldTarget(), '--force', '--yes']);
    assert.ok(run.seconds < 20, `took ${run.seconds} s`);
    assert.equal(run.code, 1);
    const result = JSON.parse(run.stdout) as CloseJson;
    assert.equal(result.status, 'refused');
    assert.match(result.reason ?? '', refusalOf(5));
    assert.ok(stillHeld());
  });

  it('reclaim PID:FD is refused, and truncates nothing', { skip }, () => {
    const run = timed(['reclaim', heldTarget(), '--yes']);
    assert.ok(run.seconds < 20, `took ${run.seconds} s`);
    assert.equal(run.code, 1);
    const report = JSON.parse(run.stdout) as ReclaimJson;
    assert.equal(report.results.length, 1);
    assert.equal(report.results[0]?.status, 'refused');
    assert.match(report.results[0]?.reason ?? '', refusalOf(5));
    assert.ok(stillHeld());
  });

  it('recover PID:FD is refused, and writes no DEST', { skip }, () => {
    const dest = join(base, 'recovered.bin');
    const run = timed(['recover', heldTarget(), dest]);
    assert.ok(run.seconds < 20, `took ${run.seconds} s`);
    assert.equal(run.code, 1);
    const result = JSON.parse(run.stdout) as RecoverJson;
    assert.equal(result.status, 'refused');
    assert.match(result.reason ?? '', refusalOf(5));
    assert.equal(existsSync(dest), false);
  });

  it('recover into a DEST on the mount is refused before DEST is looked at', { skip }, () => {
    const run = timed(['recover', `${local?.pid}:${local?.fds[0]}`, join(mountPoint, 'recovered.bin')]);
    assert.ok(run.seconds < 20, `took ${run.seconds} s`);
    assert.equal(run.code, 1);
    const result = JSON.parse(run.stdout) as RecoverJson;
    assert.equal(result.status, 'refused');
    assert.match(
      result.reason ?? '',
      new RegExp(`could not read ${mountPoint} .*, where DEST .*: no answer in 5 s`),
    );
  });

  it('links PATH on the mount is refused with the same words', { skip }, () => {
    const run = timed(['links', join(mountPoint, 'x')]);
    assert.ok(run.seconds < 20, `took ${run.seconds} s`);
    assert.equal(run.code, 1);
    assert.match(run.stderr, refusalOf(5));
  });

  it(
    'deleted --filesystem-of and reclaim --mount on the mount are refused with the same words',
    { skip },
    () => {
      for (const args of [
        ['deleted', '--filesystem-of', join(mountPoint, 'x')],
        ['reclaim', '--mount', mountPoint, '--yes'],
      ]) {
        const run = timed(args);
        assert.ok(run.seconds < 20, `${args[0]} took ${run.seconds} s`);
        assert.equal(run.code, 1);
        assert.match(run.stderr, refusalOf(5));
      }
      assert.ok(stillHeld());
    },
  );

  it('df /proc/PID/root/MOUNT is refused too', { skip }, () => {
    const run = timed(['df', `/proc/${holder?.pid}/root${mountPoint}`]);
    assert.ok(run.seconds < 20, `took ${run.seconds} s`);
    assert.equal(run.code, 1);
    assert.match(run.stderr, refusalOf(5));
  });

  it('--mount-timeout 1 answers in about a second and says "1 s"', { skip }, () => {
    const run = timed(['close', heldTarget(), '--force', '--yes', '--mount-timeout', '1']);
    assert.ok(run.seconds < 5, `took ${run.seconds} s`);
    assert.equal(run.code, 1);
    assert.match((JSON.parse(run.stdout) as CloseJson).reason ?? '', refusalOf(1));
    const deleted = timed(['deleted', '--mount-timeout', '1']);
    assert.ok(deleted.seconds < 5, `took ${deleted.seconds} s`);
    const silent = (JSON.parse(deleted.stdout) as DeletedJson).incomplete.unansweredMounts?.find(
      (m) => m.mount === mountPoint,
    );
    assert.equal(silent?.waitedMilliseconds, 1000);
    assert.ok(stillHeld());
  });
});

describe('a healthy path while a FUSE mount does not answer', () => {
  it(
    'links PATH on a healthy filesystem finishes, and names the mount whose fd links it skipped',
    { skip },
    () => {
      const file = join(base, 'healthy.txt');
      writeFileSync(file, 'here\n');
      // Finishing is the point (a hang is killed at 60 s): the holder search reads every fd on the
      // machine, so its time follows the machine's load, not the silent mount.
      const run = timed(['links', file]);
      assert.equal(run.code, 0, `${run.stderr} (after ${run.seconds} s)`);
      const report = JSON.parse(run.stdout) as LinksJson;
      assert.equal(report.files.length, 1);
      const silent = report.incomplete.unansweredMounts?.find((m) => m.mount === mountPoint);
      assert.ok(silent, JSON.stringify(report.incomplete));
      assert.ok(silent.skipped >= 1, 'the holder fd on the mount was not stat-ed');
      const text = spawnSync(process.execPath, [`${repoRoot}bin/limbo.js`, 'links', file], {
        encoding: 'utf8',
        timeout: 60_000,
        killSignal: 'SIGKILL',
      });
      assert.equal(text.status, 0);
      assert.match(
        text.stdout,
        new RegExp(`could not read ${mountPoint} \\(fuse[^)]*\\): no answer in 5 s, skipped`),
      );
    },
  );

  it(
    'a symlink on a healthy filesystem that leads onto the mount is refused, not followed into it',
    { skip },
    () => {
      const link = join(base, 'onto-mount');
      symlinkSync(join(mountPoint, 'x'), link);
      // Two hops, the second relative: each is read on the healthy filesystem, none on the mount.
      const chained = join(base, 'chained');
      symlinkSync('onto-mount', chained);
      for (const args of [
        ['links', join(link, 'y')],
        ['df', chained],
        ['deleted', '--mount', link],
        ['recover', `${local?.pid}:${local?.fds[0]}`, join(chained, 'recovered.bin')],
      ]) {
        const run = timed(args);
        assert.ok(run.seconds < 20, `${args[0]} took ${run.seconds} s`);
        assert.equal(run.code, 1, `${args.join(' ')}: ${run.stderr}`);
        const words =
          args[0] === 'recover' ? ((JSON.parse(run.stdout) as RecoverJson).reason ?? '') : run.stderr;
        assert.match(
          words,
          new RegExp(`could not read ${mountPoint} \\(fuse[^)]*\\), where .*: no answer in 5 s`),
        );
      }
      // links lstats a PATH: the symlink itself is explained, and nothing follows it.
      const itself = timed(['links', link]);
      assert.equal(itself.code, 0, itself.stderr);
      assert.equal((JSON.parse(itself.stdout) as LinksJson).files[0]?.type, 'symlink');
    },
  );
});

describe('a file or directory named on the mount that does not answer', () => {
  it(
    '--from, snapshot --output and serve --state-dir or --token-file are refused before anything opens them',
    { skip },
    () => {
      for (const [args, what] of [
        [['deleted', '--from', join(mountPoint, 'snap.json')], '--from'],
        [['report', '--from', join(mountPoint, 'snap.json')], '--from'],
        [['snapshot', '--output', join(mountPoint, 'snap.json')], '--output'],
        [['serve', '--listen', '127.0.0.1:0', '--state-dir', join(mountPoint, 'state')], '--state-dir'],
        [['serve', '--listen', '127.0.0.1:0', '--token-file', join(mountPoint, 'token')], '--token-file'],
      ] as const) {
        const run = timed(args, args[0] !== 'serve');
        assert.ok(run.seconds < 20, `${args.join(' ')} took ${run.seconds} s`);
        assert.equal(run.code, 1, `${args.join(' ')}: ${run.stderr}`);
        assert.match(
          run.stderr,
          new RegExp(
            `could not read ${mountPoint} \\(fuse[^)]*\\), where ${what} '.*' is: no answer in 5 s .*not touched`,
          ),
        );
      }
    },
  );
});

describe('the native scanner while a FUSE mount does not answer', () => {
  it(
    'keeps the addon in use: it skips the link on the mount in C and hands it back to count',
    { skip },
    () => {
      // In a child, killed at 30 s: a stat in C on the silent mount could not be interrupted here.
      const dist = `${repoRoot}dist`;
      const script = `
      import { loadNativeAddon } from '${dist}/native.js';
      import { scanFdTables } from '${dist}/proc/fd-table.js';
      import { readMountinfo } from '${dist}/proc/mountinfo.js';
      import { findSilentMounts, skipLinkOf, unansweredRecordsOf } from '${dist}/proc/silent-mounts.js';
      const addon = loadNativeAddon();
      const mounts = readMountinfo('/proc', 'self');
      const silent = findSilentMounts('/proc', [{ id: 'host', mounts: mounts.ok ? mounts.value : [] }], 'host', 1000);
      const dirs = ['/proc/${holder?.pid}/fd', '/proc/${local?.pid}/fd'];
      const skip = skipLinkOf(silent, [null, null]);
      const scans = scanFdTables(dirs, addon, skip);
      const names = scans.map((s) => (s.ok ? s.value.candidates.map((c) => String(c.name)) : s.failure));
      process.stdout.write(JSON.stringify({ skips: addon?.fdScanSkips ?? false, names, silent: unansweredRecordsOf(silent) }));
    `;
      const started = performance.now();
      const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
        encoding: 'utf8',
        timeout: 30_000,
        killSignal: 'SIGKILL',
      });
      const seconds = (performance.now() - started) / 1000;
      assert.equal(child.status, 0, `${child.stderr} (after ${seconds} s)`);
      const result = JSON.parse(child.stdout) as {
        skips: boolean;
        names: string[][];
        silent: { mountPoint: string; skipped: number }[];
      };
      assert.equal(result.skips, true, 'the addon took the skip rule');
      assert.deepEqual(
        result.silent.filter((m) => m.mountPoint === mountPoint).map((m) => m.skipped),
        [1],
        'the holder fd on the mount was skipped and counted once',
      );
      assert.deepEqual(result.names, [[], [join(base, 'local.bin')]]);
    },
  );
});
