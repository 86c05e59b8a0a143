import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

describe('History state file', () => {
  // Written in pieces of 500 samples (so that a day of history never holds the event loop for
  // long): 1,234 samples cross two piece boundaries and end in a partial piece.
  const many = (count: number, from: number) =>
    Array.from({ length: count }, (_, i) => ({
      ...sample(from + i * 5000, i),
      topFds: { [`${i}:${i * 7} worker ${i}`]: i },
    }));

  it('reads back exactly what flush wrote', () => {
    const dir = mkdtempSync(join(tmpdir(), 'limbo-history-'));
    try {
      const written = new History(5000, dir);
      for (const s of many(1234, 1_700_000_000_000)) written.add(s);
      written.flush();
      assert.deepEqual(new History(5000, dir).samples(), written.samples());
      assert.equal(JSON.parse(readFileSync(join(dir, 'history.json'), 'utf8')).schema, 'limbo.history/1');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads back exactly what the background save wrote', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'limbo-history-'));
    try {
      const first = new History(5000, dir);
      for (const s of many(1233, 1_700_000_000_000)) first.add(s);
      first.flush();
      // A sample a minute past the last save starts a background save of the whole ring.
      const history = new History(5000, dir);
      history.add({ ...sample(Date.now() + 120_000, 1), topFds: {} });
      const deadline = Date.now() + 10_000;
      let saved: unknown[] = [];
      while (saved.length !== 1234 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        saved = (JSON.parse(readFileSync(join(dir, 'history.json'), 'utf8')) as { samples: unknown[] })
          .samples;
      }
      assert.equal(history.saveError, null);
      assert.deepEqual(saved, history.samples());
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
