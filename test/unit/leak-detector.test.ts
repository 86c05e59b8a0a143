import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  LeakDetector,
  type LeakDetectorOptions,
  type LeakResource,
  type LeakVerdict,
  theilSenSlope,
} from '../../src/serve/leak-detector.js';

const T0 = Date.UTC(2025, 0, 1);
const MINUTE = 60_000;
const MIB = 1024 ** 2;

/** A fixed pseudo-random walk (so every run sees the same noise): roughly normal, mean 0, sd 1. */
function noise(seed: number): () => number {
  let state = seed;
  const uniform = () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state / 2147483648;
  };
  return () => {
    let sum = 0;
    for (let i = 0; i < 12; i++) sum += uniform();
    return sum - 6;
  };
}

interface Run {
  /** Every verdict, with the minute it was taken at. */
  readonly verdicts: { readonly minute: number; readonly verdict: LeakVerdict | null }[];
  readonly detector: LeakDetector;
}

/** Feeds `valueAt(minute)` every `stepSeconds` for `minutes`, asking for a verdict after each sample. */
function feed(
  valueAt: (minute: number) => number,
  {
    minutes,
    stepSeconds = 10,
    resource = 'fds',
    limit = null,
    options = {},
  }: {
    minutes: number;
    stepSeconds?: number;
    resource?: LeakResource;
    limit?: number | null;
    options?: LeakDetectorOptions;
  },
): Run {
  const detector = new LeakDetector(options);
  const verdicts: Run['verdicts'] = [];
  for (let second = 0; second <= minutes * 60; second += stepSeconds) {
    const t = T0 + second * 1000;
    detector.observe('pid 42', resource, t, valueAt(second / 60), limit);
    verdicts.push({ minute: second / 60, verdict: detector.verdict('pid 42', resource, t) });
  }
  return { verdicts, detector };
}

const last = (run: Run): LeakVerdict => {
  const verdict = run.verdicts.at(-1)?.verdict;
  assert.ok(verdict, 'a verdict at the end');
  return verdict;
};
const everSuspected = (run: Run) => run.verdicts.some(({ verdict }) => verdict?.suspected);
/** How often the flag went up or down. */
const flips = (run: Run) => {
  let count = 0;
  let previous = false;
  for (const { verdict } of run.verdicts) {
    const now = verdict?.suspected ?? false;
    if (now !== previous) count++;
    previous = now;
  }
  return count;
};

/** A sawtooth: rises by `height` over `periodMinutes`, then drops back at once. */
const sawtooth = (height: number, periodMinutes: number) => (minute: number) =>
  height * ((minute % periodMinutes) / periodMinutes);

describe('LeakDetector: what is not a leak', () => {
  const cases: [string, (minute: number) => number][] = [
    ['a flat series', () => 100],
    [
      'a flat series with noise',
      (() => {
        const n = noise(7);
        return () => 100 + 5 * n();
      })(),
    ],
    ['a single spike, then back down', (minute) => (minute >= 20 && minute < 20.1 ? 5000 : 100)],
    ['a two-minute burst, then back down', (minute) => (minute >= 20 && minute < 22 ? 5000 : 100)],
    ['a sawtooth with flat troughs (5-minute teeth)', (minute) => 100 + sawtooth(300, 5)(minute)],
    ['a sawtooth with flat troughs (10-minute teeth)', (minute) => 100 + sawtooth(300, 10)(minute)],
    ['a steady fall', (minute) => 1000 - minute * 10],
    ['a rise too small to matter (+30 fds in 30 minutes)', (minute) => 100 + minute],
    ['a rise too small for its size (+100 fds on 10,000: 1%)', (minute) => 10_000 + (minute * 100) / 30],
  ];
  for (const [name, valueAt] of cases) {
    it(`never flags ${name}`, () => {
      const run = feed(valueAt, { minutes: 90 });
      assert.equal(everSuspected(run), false);
      const verdict = last(run);
      assert.equal(verdict.since, null);
      assert.equal(verdict.etaSeconds, null);
    });
  }

  it('never flags a slow rise in held bytes (+50 MiB in 30 minutes)', () => {
    const run = feed((minute) => 4096 * MIB + (minute * 50 * MIB) / 30, {
      minutes: 90,
      resource: 'heldBytes',
    });
    assert.equal(everSuspected(run), false);
  });
});

describe('LeakDetector: what is a leak', () => {
  it('flags a steady rise, with its slope, growth and an ETA to the fd limit within 2%', () => {
    // 100 fds, +200 an hour, soft limit 1024: at 60 minutes, 300 open, (1024 - 300) / 200 h to go.
    const run = feed((minute) => 100 + (minute * 200) / 60, { minutes: 60, limit: 1024 });
    const verdict = last(run);
    assert.equal(verdict.suspected, true);
    assert.equal(verdict.resource, 'fds');
    assert.equal(verdict.key, 'pid 42');
    assert.ok(Math.abs(verdict.slopePerHour - 200) < 2, `slope ${verdict.slopePerHour}`);
    assert.ok(Math.abs(verdict.growth - 100) < 2, `growth ${verdict.growth}`);
    assert.ok(Math.abs(verdict.level - 300) < 2, `level ${verdict.level}`);
    assert.equal(verdict.limit, 1024);
    const expected = (724 / 200) * 3600;
    assert.ok(
      verdict.etaSeconds !== null && Math.abs(verdict.etaSeconds / expected - 1) < 0.02,
      `eta ${verdict.etaSeconds}`,
    );
    assert.equal(flips(run), 1);
    // Raised at the first verdict that saw +50: half a window in, the earliest any verdict comes.
    const raised = run.verdicts.find(({ verdict: v }) => v?.suspected);
    assert.ok(raised && raised.minute >= 15 && raised.minute <= 16, `raised at ${raised?.minute}`);
    assert.equal(verdict.since, T0 + raised.minute * MINUTE);
  });

  it('flags held bytes rising 300 MiB in 30 minutes, with the time until the filesystem is full', () => {
    // 1 GiB held, 5 GiB free at the start: whatever the file grows by comes out of the free space.
    const held = (minute: number) => 1024 * MIB + minute * 10 * MIB;
    const detector = new LeakDetector();
    for (let second = 0; second <= 45 * 60; second += 30) {
      const minute = second / 60;
      const free = 5 * 1024 * MIB - minute * 10 * MIB;
      detector.observe('/var', 'heldBytes', T0 + second * 1000, held(minute), held(minute) + free);
    }
    const [verdict] = detector.verdicts(T0 + 45 * MINUTE);
    assert.ok(verdict?.suspected);
    assert.ok(Math.abs(verdict.slopePerHour / (600 * MIB) - 1) < 0.01);
    const expected = ((5 * 1024 - 450) / 600) * 3600; // the free bytes left, at 600 MiB an hour
    assert.ok(verdict.etaSeconds !== null && Math.abs(verdict.etaSeconds / expected - 1) < 0.02);
  });

  it('flags a noisy rise (sd 15 on +150 in half an hour), its ETA within 10%', () => {
    // The slope's own standard error here is about 3%: 10% is three of them, with the level's error.
    const n = noise(42);
    const run = feed((minute) => 100 + minute * 5 + 15 * n(), { minutes: 60, limit: 1024 });
    const verdict = last(run);
    assert.equal(verdict.suspected, true);
    assert.ok(Math.abs(verdict.slopePerHour / 300 - 1) < 0.1, `slope ${verdict.slopePerHour}`);
    const expected = ((1024 - 400) / 300) * 3600;
    const eta = verdict.etaSeconds;
    assert.ok(eta !== null && Math.abs(eta / expected - 1) < 0.1, `eta ${eta}, expected ${expected}`);
    assert.equal(flips(run), 1);
  });

  it('flags a sawtooth whose troughs rise (+150 fds an hour under 5-minute teeth)', () => {
    const run = feed((minute) => 100 + sawtooth(200, 5)(minute) + minute * 2.5, { minutes: 60 });
    const verdict = last(run);
    assert.equal(verdict.suspected, true);
    assert.ok(verdict.slopePerHour > 100 && verdict.slopePerHour < 200, `slope ${verdict.slopePerHour}`);
    assert.equal(flips(run), 1);
  });

  it('flags a rise once it is large relative to where it started (+60 on 100, not +60 on 1,000)', () => {
    const small = feed((minute) => 100 + minute * 2, { minutes: 60 });
    const large = feed((minute) => 1000 + minute * 2, { minutes: 60 });
    assert.equal(last(small).suspected, true);
    assert.equal(last(large).suspected, false);
    assert.ok(Math.abs((last(small).growthRatio ?? 0) - 60 / 160) < 0.02);
  });

  it('gives no ETA without a limit, and 0 once past it', () => {
    const unlimited = feed((minute) => 100 + minute * 5, { minutes: 40 });
    assert.equal(last(unlimited).suspected, true);
    assert.equal(last(unlimited).etaSeconds, null);
    const past = feed((minute) => 100 + minute * 5, { minutes: 40, limit: 200 });
    assert.equal(last(past).etaSeconds, 0);
  });
});

describe('LeakDetector: hysteresis', () => {
  it('clears the flag once a window of no growth has passed after a rise, and does not raise it again', () => {
    const run = feed((minute) => 100 + Math.min(minute, 30) * 10, { minutes: 120 });
    const during = run.verdicts.find(({ minute }) => minute === 25)?.verdict;
    assert.equal(during?.suspected, true);
    const cleared = run.verdicts.find(({ minute, verdict }) => minute > 30 && verdict?.suspected === false);
    assert.ok(cleared && cleared.minute <= 60, `cleared at ${cleared?.minute}`);
    assert.equal(flips(run), 2);
    assert.equal(last(run).since, null);
    assert.equal(last(run).slopePerHour, 0);
  });

  it('holds the flag while the growth wavers around the threshold', () => {
    // +50 fds per half hour (exactly the threshold) with noise: the estimate crosses it again and again.
    const n = noise(3);
    const values = new Map<number, number>();
    const valueAt = (minute: number) => {
      if (!values.has(minute)) values.set(minute, 1000 + (minute * 50) / 30 + 4 * n());
      return values.get(minute) as number;
    };
    const thresholds = { fds: { minGrowth: 50, minGrowthRatio: 0 } };
    const withHysteresis = feed(valueAt, { minutes: 240, options: { thresholds } });
    const without = feed(valueAt, { minutes: 240, options: { thresholds, clearFraction: 1 } });
    assert.ok(flips(without) > 10, `without hysteresis it flaps (${flips(without)} flips)`);
    assert.equal(flips(withHysteresis), 1);
  });

  it('drops the flag when the series falls silent for a whole window', () => {
    const detector = new LeakDetector();
    for (let minute = 0; minute <= 40; minute++)
      detector.observe('p', 'fds', T0 + minute * MINUTE, 100 + minute * 10);
    assert.equal(detector.verdict('p', 'fds', T0 + 40 * MINUTE)?.suspected, true);
    assert.deepEqual(detector.verdicts(T0 + 71 * MINUTE), []);
    assert.equal(detector.stats().series, 0);
  });
});

describe('LeakDetector: too little to judge', () => {
  const cases: [string, number, number][] = [
    ['nine samples over half an hour', 9, 30],
    ['a hundred samples over five minutes', 100, 5],
    ['a hundred samples over fourteen minutes', 100, 14],
  ];
  for (const [name, count, minutes] of cases) {
    it(`gives no verdict on ${name}, however steep`, () => {
      const detector = new LeakDetector();
      for (let i = 0; i < count; i++) {
        detector.observe('p', 'fds', T0 + (i * minutes * MINUTE) / (count - 1), 100 + i * 1000);
      }
      const now = T0 + minutes * MINUTE;
      assert.equal(detector.verdict('p', 'fds', now), null);
      assert.deepEqual(detector.verdicts(now), []);
    });
  }

  it('takes the window and the thresholds it is given', () => {
    const run = feed((minute) => 10 + minute, {
      minutes: 12,
      options: { windowMs: 10 * MINUTE, minSpanMs: 5 * MINUTE, thresholds: { fds: { minGrowth: 5 } } },
    });
    assert.equal(last(run).suspected, true);
    assert.ok(Math.abs(last(run).spanSeconds - 600) < 1);
  });

  it('ignores samples out of order, repeated, or not finite', () => {
    const detector = new LeakDetector();
    detector.observe('p', 'fds', T0 + 1000, 1);
    detector.observe('p', 'fds', T0 + 1000, 2);
    detector.observe('p', 'fds', T0, 3);
    detector.observe('p', 'fds', T0 + 2000, NaN);
    detector.observe('p', 'fds', NaN, 4);
    assert.deepEqual(detector.stats(), { series: 1, samples: 1 });
  });
});

describe('LeakDetector: bounded memory', () => {
  it('keeps at most maxSeries series, dropping the one observed least recently', () => {
    const detector = new LeakDetector({ maxSeries: 100 });
    for (let i = 0; i < 1000; i++) detector.observe(`pid ${i}`, 'fds', T0 + i, i);
    detector.observe('pid 900', 'fds', T0 + 2000, 1); // touched again: now the freshest
    for (let i = 1000; i < 1050; i++) detector.observe(`pid ${i}`, 'fds', T0 + 3000 + i, i);
    assert.equal(detector.stats().series, 100);
    const keys = new Set(detector.verdicts(T0 + 5000).map((v) => v.key));
    assert.equal(keys.size, 0); // far too few samples for a verdict, but...
    for (let minute = 1; minute <= 20; minute++) detector.observe('pid 900', 'fds', T0 + minute * MINUTE, 1);
    assert.ok(detector.verdict('pid 900', 'fds', T0 + 20 * MINUTE)); // ...pid 900 survived
    assert.equal(detector.verdict('pid 901', 'fds', T0 + 20 * MINUTE), null);
  });

  it('drops samples older than the window', () => {
    const detector = new LeakDetector();
    for (let minute = 0; minute <= 180; minute++) detector.observe('p', 'fds', T0 + minute * MINUTE, minute);
    assert.equal(detector.stats().samples, 31); // minutes 150..180
  });

  it('thins samples that come faster than maxSamplesPerSeries allows, still covering the window', () => {
    const detector = new LeakDetector({ maxSamplesPerSeries: 100 });
    for (let second = 0; second <= 2 * 3600; second++) {
      detector.observe('p', 'fds', T0 + second * 1000, 100 + second / 6); // +600 an hour, every second
    }
    assert.ok(detector.stats().samples <= 100, `${detector.stats().samples} samples`);
    const verdict = detector.verdict('p', 'fds', T0 + 2 * 3600 * 1000);
    assert.ok(verdict?.suspected);
    assert.ok(verdict.spanSeconds > 29 * 60, `span ${verdict.spanSeconds}`);
    assert.ok(Math.abs(verdict.slopePerHour - 600) < 6);
  });

  it('forgets a key, all its resources or one', () => {
    const detector = new LeakDetector();
    for (const resource of ['fds', 'mappings', 'shmAttachments'] as const)
      detector.observe('p', resource, T0, 1);
    detector.observe('q', 'fds', T0, 1);
    detector.forget('p', 'mappings');
    assert.equal(detector.stats().series, 3);
    detector.forget('p');
    assert.equal(detector.stats().series, 1);
  });

  it('judges 1,000 half-hour series of 361 samples, each on its own (its speed: npm run bench leaks)', () => {
    const detector = new LeakDetector();
    for (let second = 0; second <= 1800; second += 5) {
      for (let i = 0; i < 1000; i++) {
        detector.observe(
          `pid ${i}`,
          'fds',
          T0 + second * 1000,
          i % 10 === 0 ? 100 + second / 10 : 100 + (i % 7),
        );
      }
    }
    const verdicts = detector.verdicts(T0 + 1800 * 1000);
    assert.equal(verdicts.length, 1000);
    assert.deepEqual(
      verdicts.filter((v) => v.suspected).map((v) => v.key),
      Array.from({ length: 100 }, (_, k) => `pid ${k * 10}`),
      'exactly the growing tenth',
    );
  });
});

describe('theilSenSlope', () => {
  const cases: [string, number[], number[], number][] = [
    ['a straight line', [0, 1, 2, 3, 4], [1, 3, 5, 7, 9], 2],
    ['a line with one wild point', [0, 1, 2, 3, 4, 5, 6], [0, 1, 2, 300, 4, 5, 6], 1],
    ['a falling line', [0, 10, 20], [5, 4, 3], -0.1],
    ['uneven spacing', [0, 1, 5, 6], [0, 2, 10, 12], 2],
    ['a flat line', [0, 1, 2], [7, 7, 7], 0],
    ['one point', [0], [5], 0],
    ['no points', [], [], 0],
    ['only equal x', [3, 3, 3], [1, 2, 3], 0],
    ['an even number of pairs (the mean of the middle two)', [0, 1, 2, 3], [0, 1, 1, 4], 7 / 6],
  ];
  for (const [name, x, y, expected] of cases) {
    it(`gives ${expected} for ${name}`, () => {
      assert.ok(Math.abs(theilSenSlope(x, y) - expected) < 1e-12, `${theilSenSlope(x, y)}`);
    });
  }
});
