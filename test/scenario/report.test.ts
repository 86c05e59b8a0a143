// The report and `--check` on a machine loaded for the test: a deleted file held open, a process
// near its fd limit, a replaced binary; and the quiet case on a snapshot of a quiet machine.
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ReportJson } from '../../src/analyses/report-json.js';
import { buildReport } from '../../src/analyses/report.js';
import { findDeletedFiles } from '../../src/analyses/deleted.js';
import { stringifySnapshot } from '../../src/snapshot/snapshot-json.js';
import { takeSnapshot } from '../../src/snapshot/take-snapshot.js';
import type { Snapshot } from '../../src/snapshot/types.js';
import { holderBinary, startHolder, type Holder } from '../helpers/holder.js';
import { runLimbo } from '../helpers/limbo.js';
import { assertMatchesSchema } from '../helpers/schema.js';

let dir: string;
const holders: Holder[] = [];

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'limbo-report-'));
});

after(async () => {
  await Promise.all(holders.map((holder) => holder.stop()));
  rmSync(dir, { recursive: true, force: true });
});

describe('limbo report on a loaded machine', () => {
  it('finds the held file, the fd limit and the stale binary, each with its command, and --check exits by severity', async () => {
    const held = join(dir, 'held.log');
    holders.push(await startHolder(['create', held, String(3 * 1024 * 1024), 'unlink', held]));
    const limited = await startHolder(['create', join(dir, 'fds'), '1', 'dup', '50'], {
      wrapper: ['prlimit', '--nofile=60:60', '--'],
    });
    holders.push(limited);
    const binary = join(dir, 'stale-daemon');
    copyFileSync(holderBinary, binary);
    holders.push(await startHolder([], { binary }));
    writeFileSync(`${binary}.new`, '#!/bin/sh\n');
    renameSync(`${binary}.new`, binary);

    const run = runLimbo(['--json', '--warn-held', '1M', '--crit-held', '100G']);
    assert.equal(run.code, 0, run.stderr);
    const report = JSON.parse(run.stdout) as ReportJson;
    assert.equal(report.schema, 'limbo.report/1');
    assertMatchesSchema('limbo.report-1', report);
    assert.ok(report.status === 'warning' || report.status === 'critical');
    const kinds = (kind: string) => report.findings.filter((f) => f.kind === kind);
    assert.ok(
      kinds('deleted-held').some(
        (f) => f.severity !== 'info' && f.command?.startsWith('limbo deleted --mount'),
      ),
    );
    const fdFinding = kinds('process-fd-limit').find((f) => f.message.includes(`pid ${limited.pid} `));
    assert.equal(fdFinding?.severity, 'warning', '51 of 60 fds is 85%: above 80, below 95');
    assert.ok(kinds('restart-needed').length === 1);

    const table = runLimbo(['--warn-held', '1M']);
    assert.match(table.stdout, /next: limbo deleted --mount/);
    // The first line counts exactly the findings listed under it, by severity.
    const first = /^limbo: (WARNING|CRITICAL): (\d+) findings? \(([^)]*)\)\.\n/.exec(table.stdout);
    assert.ok(first, table.stdout);
    const marks = table.stdout.split('\n').filter((line) => /^( !|!!| ·) /.test(line));
    assert.equal(Number(first[2]), marks.length, 'one finding per line below');
    const bySeverity = (mark: string) => marks.filter((line) => line.startsWith(mark)).length;
    const counted = Object.fromEntries(
      (first[3] as string).split(', ').map((part) => [part.split(' ')[1], Number(part.split(' ')[0])]),
    );
    assert.equal(counted['critical'] ?? 0, bySeverity('!!'));
    assert.equal((counted['warning'] ?? 0) + (counted['warnings'] ?? 0), bySeverity(' !'));
    assert.equal(counted['info'] ?? 0, bySeverity(' ·'));
    assert.match(table.stdout, /next: limbo handles/);

    const warning = runLimbo(['--check', '--warn-held', '1M', '--crit-held', '100G', '--crit-percent', '99']);
    assert.match(
      warning.stdout,
      /^LIMBO (WARNING|CRITICAL) - \d+ findings?: .* \| held=\d+B;1048576;107374182400;0 /,
    );
    const critical = runLimbo(['--check', '--warn-held', '1M', '--crit-held', '2M']);
    assert.equal(critical.code, 2);
    assert.match(critical.stdout, /^LIMBO CRITICAL - /);
    if (!/LIMBO CRITICAL/.test(warning.stdout)) assert.equal(warning.code, 1);
  });

  it('rejects bad thresholds with exit 2', () => {
    const run = runLimbo(['--check', '--warn-percent', '180']);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /--warn-percent takes a percentage/);
  });
});

describe('limbo report on a quiet machine', () => {
  it('says nothing is held or leaking, and --check exits 0', () => {
    // The live machine may hold anything; a snapshot of it with every finding's source removed is
    // what a quiet machine looks like, and --from replays it through the real CLI.
    const live = takeSnapshot();
    const quiet: Snapshot = {
      ...live,
      processes: live.processes.map((p) => ({
        ...p,
        fds: [],
        mappings: [],
        deletedExe: null,
        fdLimit: null,
      })),
      shmSegments: [],
      incomplete: { ...live.incomplete, unreadableProcesses: 0, unreadablePids: [] },
      system: live.system && { ...live.system, fileNr: { allocated: 1000, max: 1_000_000 } },
    };
    assert.equal(findDeletedFiles(quiet).files.length, 0);
    const report = buildReport(quiet);
    assert.equal(report.status, 'ok');
    assert.deepEqual(report.findings, []);
    const path = join(dir, 'quiet.json');
    writeFileSync(path, stringifySnapshot(quiet));
    const check = runLimbo(['--check', '--from', path]);
    assert.equal(check.code, 0, check.stderr);
    assert.match(check.stdout, /^LIMBO OK - nothing held, nothing leaking \| held=0B;/);
    const replayed = runLimbo(['--from', path]).stdout;
    assert.match(replayed, /^limbo: OK: nothing held, nothing leaking\./);
    assert.ok(
      replayed.endsWith(`\nFrom snapshot ${path} taken ${quiet.takenAt} on ${quiet.hostname}.\n`),
      replayed,
    );

    // The same quiet machine seen by a normal user who could not read one process: not OK, UNKNOWN.
    const partial: Snapshot = {
      ...quiet,
      incomplete: { ...quiet.incomplete, scannerUid: 1000, unreadableProcesses: 1, unreadablePids: [1] },
    };
    const partialPath = join(dir, 'partial.json');
    writeFileSync(partialPath, stringifySnapshot(partial));
    const unknown = runLimbo(['--check', '--from', partialPath]);
    assert.equal(unknown.code, 3, unknown.stdout);
    assert.match(
      unknown.stdout,
      /^LIMBO UNKNOWN - 1 process could not be read: run as root to check them \| held=0B;/,
    );
    assert.match(
      runLimbo(['--from', partialPath]).stdout,
      /^limbo: INFO: 1 finding, none above its warning threshold\./,
    );
  });

  it('answers UNKNOWN with exit 3 when --proc is not a proc filesystem, never OK', () => {
    const empty = join(dir, 'not-proc');
    mkdirSync(empty);
    const check = runLimbo(['--check', '--proc', empty]);
    assert.equal(check.code, 3, check.stdout);
    assert.match(check.stdout, /^LIMBO UNKNOWN - cannot scan .*not-proc: not a proc filesystem/);
    const report = runLimbo(['--proc', empty]);
    assert.equal(report.code, 1);
    assert.match(report.stderr, /not a proc filesystem/);
  });
});
