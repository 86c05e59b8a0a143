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
    assert.equal(view.stepMs, Math.ceil((17_279 * 5000) / 1000));
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
