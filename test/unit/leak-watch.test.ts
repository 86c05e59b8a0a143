import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LeakWatch } from '../../src/serve/leak-watch.js';
import type { ScanResult } from '../../src/serve/scan.js';

/** A scan as data: only the parts LeakWatch reads. */
function scanOf(takenAt: number, pids: readonly number[]): ScanResult {
  return {
    takenAt,
    deleted: { files: [] },
    df: { filesystems: [] },
    handles: {
      processes: pids.map((pid) => ({
        pid,
        comm: 'short-lived',
        unit: null,
        fds: 10,
        limit: null,
        mappings: null,
        shmAttachments: null,
      })),
    },
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
});
