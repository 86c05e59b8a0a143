import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LeakWatch } from '../../src/serve/leak-watch.js';
import type { ScanResult } from '../../src/serve/scan.js';

/** A scan as data: only the parts LeakWatch reads. */
function scanOf(
  takenAt: number,
  pids: readonly number[],
  process: { startTicks?: number; fds?: number; comm?: string } = {},
): ScanResult {
  return {
    takenAt,
    deleted: { files: [] },
    df: { filesystems: [] },
    handles: {
      processes: pids.map((pid) => ({
        pid,
        startTicks: process.startTicks ?? null,
        comm: process.comm ?? 'short-lived',
        unit: null,
        fds: process.fds ?? 10,
        limit: null,
        mappings: null,
        shmAttachments: null,
      })),
    },
    restartCommands: {},
  } as unknown as ScanResult;
}

describe('LeakWatch', () => {
  it('forgets processes the detector no longer tracks: 40,000 short-lived pids leave a bounded map', () => {
    const watch = new LeakWatch();
    const perScan = 2000;
    for (let scan = 0; scan < 20; scan++) {
      const pids = Array.from({ length: perScan }, (_, i) => 100_000 + scan * perScan + i);
      watch.observe(scanOf(1_000_000 + scan * 5000, pids));
    }
    // The detector keeps at most 10,000 series (two per process here: fds and held bytes).
    assert.ok(watch.remembered <= 5000 + perScan, `${watch.remembered} processes remembered`);
  });

  it('keeps who a series is about while the process runs', () => {
    const watch = new LeakWatch();
    for (let scan = 0; scan < 3; scan++) watch.observe(scanOf(1_000_000 + scan * 5000, [42]));
    assert.equal(watch.remembered, 1);
  });

  it('starts a fresh series for a process that got a reused pid: pid and start time name it', () => {
    const watch = new LeakWatch();
    const minute = 60_000;
    const t0 = 1_700_000_000_000;
    // pid 42, started at tick 100, opens 10 fds a minute for 20 minutes: a leak.
    for (let m = 0; m <= 20; m++) {
      watch.observe(scanOf(t0 + m * minute, [42], { startTicks: 100, fds: 100 + 10 * m, comm: 'worker' }));
    }
    const fds = (now: number) => watch.leaks(now).filter((leak) => leak.resource === 'fds');
    assert.deepEqual(
      fds(t0 + 20 * minute).map((leak) => [leak.key, leak.suspected]),
      [['42:100', true]],
    );
    // It exits; a new process, same comm, gets pid 42 back and holds a steady 300 fds. Keyed by
    // pid and comm, it would continue the old series (100 → 300: still a leak).
    for (let m = 21; m <= 40; m++) {
      watch.observe(scanOf(t0 + m * minute, [42], { startTicks: 9000, fds: 300, comm: 'worker' }));
    }
    const fresh = fds(t0 + 40 * minute).find((leak) => leak.key === '42:9000');
    assert.equal(fresh?.suspected, false);
    assert.equal(fresh?.samples, 20, 'only the new process samples');
    assert.equal(fresh?.label, '42 worker');
  });
});
