import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { History, type HistorySample } from '../../src/serve/history.js';

function sample(t: number, held: number): HistorySample {
  return {
    t,
    heldByMount: { '/': held },
    handlesAllocated: 100,
    handlesMax: 1000,
    topFds: { '1 init': 10 },
    scanSeconds: 0.1,
  };
}

describe('History.view', () => {
  const start = 1_700_000_000_000;
  const history = new History(17_280); // 24 h at 5 s
  for (let i = 0; i < 17_280; i++) history.add(sample(start + i * 5000, i === 9_001 ? 999 : 1));

  it('downsamples 24 h at 5 s to about a thousand points, keeping a one-sample spike', () => {
    const view = history.view(-Infinity, 5000);
    assert.ok(view.samples.length <= 1001, `${view.samples.length} points`);
    assert.ok(view.samples.length >= 900, `${view.samples.length} points`);
    assert.equal(view.stepMs, 90_000, 'a day over a thousand points: 86.4 s, in whole tens of seconds');
    assert.equal(Math.max(...view.samples.map((s) => s.heldByMount['/'] ?? 0)), 999);
    assert.equal(view.samples.at(-1)?.t, start + 17_279 * 5000, 'the newest sample ends the view');
  });

  it('gives only the samples after `since`, at full resolution when they are few', () => {
    const since = start + 17_270 * 5000;
    const view = history.view(since, 5000);
    assert.deepEqual(
      view.samples.map((s) => s.t),
      Array.from({ length: 9 }, (_, i) => since + (i + 1) * 5000),
    );
  });

  it('takes a coarser step when asked', () => {
    const view = history.view(-Infinity, 3_600_000);
    assert.equal(view.samples.length, 25); // 24 h in hour buckets, cut by the clock
    assert.equal(view.stepMs, 3_600_000);
  });
});

describe('History.view kept between scans', () => {
  it('answers each new scan exactly as downsampling the whole ring afresh would', () => {
    // A small ring that fills, then slides: every add changes the newest bucket, and every trim
    // the oldest, which the kept view must rebuild; irregular times and values, spikes included.
    const history = new History(400);
    let t = 1_700_000_000_000;
    let checked = 0;
    for (let i = 0; i < 1_500; i++) {
      t += 4_000 + ((i * 7_919) % 3_000);
      history.add(sample(t, (i * 104_729) % 97 === 0 ? 10_000 + i : (i * 31) % 50));
      if (i % 3 !== 0) continue;
      const fresh = new History(400);
      for (const s of history.samples()) fresh.add(s);
      const kept = history.view(-Infinity, 0, 50);
      assert.deepEqual(kept, fresh.view(-Infinity, 0, 50), `after sample ${i}`);
      checked++;
    }
    assert.equal(checked, 500);
  });
});
