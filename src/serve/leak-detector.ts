/** What a series counts: open fds, bytes held by deleted files, files held by mappings, SysV shm attachments. */
export type LeakResource = 'fds' | 'heldBytes' | 'mappings' | 'shmAttachments';

/** How much a series must rise across the window before it is called a leak. */
export interface GrowthThreshold {
  /** Least rise, in the resource's unit (fds, bytes, ...). */
  readonly minGrowth: number;
  /** Least rise relative to the level at the window's start (0.2 = +20%); 0 for none. */
  readonly minGrowthRatio: number;
}

export interface LeakDetectorOptions {
  /** How far back a verdict looks, ms (default 30 min). */
  readonly windowMs?: number;
  /** Fewest samples in the window before any verdict (default 10). */
  readonly minSamples?: number;
  /** Shortest time the window's samples must span before any verdict, ms (default half the window). */
  readonly minSpanMs?: number;
  /** A flag clears when the growth falls below this share of what raised it (default 0.5). */
  readonly clearFraction?: number;
  /** Theil–Sen looks at no more points than this (default 200: 19,900 pairs, about 0.25 ms). */
  readonly maxPoints?: number;
  /** Series kept; beyond it, the one observed least recently is dropped (default 10,000). */
  readonly maxSeries?: number;
  /** Samples kept per series; faster samples are thinned to fit the window (default 720). */
  readonly maxSamplesPerSeries?: number;
  readonly thresholds?: Readonly<Partial<Record<LeakResource, Partial<GrowthThreshold>>>>;
}

/** One series' state at `now`. */
export interface LeakVerdict {
  readonly key: string;
  readonly resource: LeakResource;
  readonly suspected: boolean;
  /** The robust trend, in the resource's unit per hour. */
  readonly slopePerHour: number;
  /** The trend's rise across the window's samples that was not given back since, in the resource's unit. */
  readonly growth: number;
  /** growth over the level at the window's start; null when that level is 0 or below. */
  readonly growthRatio: number | null;
  /** What the trend says the value is at `now`. */
  readonly level: number;
  /** The latest limit observed (an absolute level of the resource), or null. */
  readonly limit: number | null;
  /** Seconds from `now` until the trend reaches the limit; null unless suspected, rising and limited. */
  readonly etaSeconds: number | null;
  /** When the flag was raised: the `now` of the evaluation that raised it (unix ms); null when not suspected. */
  readonly since: number | null;
  readonly samples: number;
  readonly spanSeconds: number;
}

/**
 * Defaults, each a judgement about what is worth waking someone for within half an hour:
 * fds and mapped files: +50 and +20% (a busy server's pool swings by tens; 20% keeps a
 * 100,000-fd proxy's normal drift quiet); held bytes: +100 MiB and no relative bound (what
 * matters is the disk filling, however big the file already is); shm attachments: +10 and
 * +20% (programs attach a handful, and each can pin a large segment).
 */
export const DEFAULT_LEAK_THRESHOLDS: Readonly<Record<LeakResource, GrowthThreshold>> = {
  fds: { minGrowth: 50, minGrowthRatio: 0.2 },
  heldBytes: { minGrowth: 100 * 1024 ** 2, minGrowthRatio: 0 },
  mappings: { minGrowth: 50, minGrowthRatio: 0.2 },
  shmAttachments: { minGrowth: 10, minGrowthRatio: 0.2 },
};

const MINUTE = 60_000;
/** The part of the span whose floor is not trusted: see `evaluate`. */
const SAWTOOTH_TAIL = 1 / 3;
const RESOURCES: readonly LeakResource[] = ['fds', 'heldBytes', 'mappings', 'shmAttachments'];

interface Series {
  readonly key: string;
  readonly resource: LeakResource;
  readonly ring: SampleRing;
  limit: number | null;
  /** When the current flag was raised; null while not flagged. */
  since: number | null;
}

/**
 * Flags series that rise steadily: a robust slope (Theil–Sen) over a sliding window, taken both
 * of the samples and of their floor (the lowest value from each point on), so a spike or a
 * sawtooth whose troughs stay put is not a leak while one whose troughs climb is. A flag stays
 * raised until the growth falls below `clearFraction` of the threshold, so it does not flap.
 *
 * Keys are the caller's: for a process, include its start time with the pid, so a reused pid
 * starts a new series.
 */
export class LeakDetector {
  private readonly windowMs: number;
  private readonly minSamples: number;
  private readonly minSpanMs: number;
  private readonly clearFraction: number;
  private readonly maxPoints: number;
  private readonly maxSeries: number;
  private readonly maxSamples: number;
  private readonly thresholds: Record<LeakResource, GrowthThreshold>;
  /** In order of last observation, least recent first: the first entry is the one to drop. */
  private readonly series = new Map<string, Series>();

  constructor(options: LeakDetectorOptions = {}) {
    this.windowMs = options.windowMs ?? 30 * MINUTE;
    this.minSamples = Math.max(3, options.minSamples ?? 10);
    this.minSpanMs = options.minSpanMs ?? this.windowMs / 2;
    this.clearFraction = options.clearFraction ?? 0.5;
    this.maxPoints = Math.max(3, options.maxPoints ?? 200);
    this.maxSeries = Math.max(1, options.maxSeries ?? 10_000);
    this.maxSamples = Math.max(this.minSamples + 2, options.maxSamplesPerSeries ?? 720);
    const thresholds = {} as Record<LeakResource, GrowthThreshold>;
    for (const resource of RESOURCES) {
      const given = options.thresholds?.[resource];
      const fallback = DEFAULT_LEAK_THRESHOLDS[resource];
      thresholds[resource] = {
        minGrowth: given?.minGrowth ?? fallback.minGrowth,
        minGrowthRatio: given?.minGrowthRatio ?? fallback.minGrowthRatio,
      };
    }
    this.thresholds = thresholds;
  }

  /**
   * Records one sample (t in unix ms). `limit` is the level at which the resource runs out, as
   * an absolute value of the same series: the soft RLIMIT_NOFILE for fds; for heldBytes, the
   * bytes held now plus the filesystem's free bytes. Samples not newer than the series' last, and
   * non-finite values, are ignored.
   */
  observe(key: string, resource: LeakResource, t: number, v: number, limit: number | null = null): void {
    if (!Number.isFinite(t) || !Number.isFinite(v)) return;
    const id = `${resource}\0${key}`;
    let series = this.series.get(id);
    if (series) {
      this.series.delete(id); // re-inserted below: Map order is the staleness order
    } else {
      if (this.series.size >= this.maxSeries) {
        const stalest = this.series.keys().next();
        if (!stalest.done) this.series.delete(stalest.value);
      }
      series = { key, resource, ring: new SampleRing(this.maxSamples), limit: null, since: null };
    }
    this.series.set(id, series);
    const ring = series.ring;
    if (ring.size > 0 && t <= ring.time(ring.size - 1)) return;
    ring.dropBefore(t - this.windowMs);
    // Samples faster than the ring can hold for a whole window are thinned: the last sample stays
    // provisional (each newer one replaces it) until it is `resolution` past the one before.
    const resolution = this.windowMs / (this.maxSamples - 2);
    const last = ring.size - 1;
    if (ring.size >= 2 && ring.time(last) - ring.time(last - 1) < resolution) ring.replaceLast(t, v);
    else ring.push(t, v);
    series.limit = limit !== null && Number.isFinite(limit) ? limit : null;
  }

  /**
   * A verdict for every series with enough samples in the window ending at `now`; series that
   * have not, yet, get none. Evaluating advances each flag (raise, hold or clear) and drops series
   * silent for a whole window.
   */
  verdicts(now: number): LeakVerdict[] {
    const verdicts: LeakVerdict[] = [];
    for (const [id, series] of this.series) {
      const ring = series.ring;
      if (ring.size === 0 || ring.time(ring.size - 1) < now - this.windowMs) {
        this.series.delete(id);
        continue;
      }
      const verdict = this.evaluate(series, now);
      if (verdict) verdicts.push(verdict);
    }
    return verdicts;
  }

  /** The verdict for one series at `now` (advancing its flag like `verdicts`), or null without enough samples. */
  verdict(key: string, resource: LeakResource, now: number): LeakVerdict | null {
    const series = this.series.get(`${resource}\0${key}`);
    return series ? this.evaluate(series, now) : null;
  }

  /** Whether any series of `key` is still held. */
  knows(key: string): boolean {
    return RESOURCES.some((resource) => this.series.has(`${resource}\0${key}`));
  }

  /** Drops a key's series (all resources, or one): its process exited or its filesystem was unmounted. */
  forget(key: string, resource?: LeakResource): void {
    for (const r of resource ? [resource] : RESOURCES) this.series.delete(`${r}\0${key}`);
  }

  /** How much is held: series, and samples across them. */
  stats(): { readonly series: number; readonly samples: number } {
    let samples = 0;
    for (const series of this.series.values()) samples += series.ring.size;
    return { series: this.series.size, samples };
  }

  private evaluate(series: Series, now: number): LeakVerdict | null {
    const ring = series.ring;
    const first = ring.countBefore(now - this.windowMs, false);
    const end = ring.countBefore(now, true);
    const n = end - first;
    const span = n > 0 ? ring.time(end - 1) - ring.time(first) : 0;
    if (n < this.minSamples || span < this.minSpanMs) {
      series.since = null;
      return null;
    }
    const t0 = ring.time(first);
    const spanSeconds = span / 1000;
    const times = new Float64Array(n); // seconds since the window's first sample
    const values = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      times[i] = (ring.time(first + i) - t0) / 1000;
      values[i] = ring.value(first + i);
    }
    const floor = floorOf(values);
    const threshold = this.thresholds[series.resource];
    const flagged = series.since !== null;
    // growth ≤ the floor's rise: a series whose floor cannot change its state gets coarse slopes only.
    const floorRise = (floor[n - 1] as number) - (floor[0] as number);
    const decided = floorRise < (flagged ? this.clearFraction : 1) * threshold.minGrowth;
    const points = decided ? Math.min(this.maxPoints, 50) : this.maxPoints;
    const [x, y] = subsample(times, values, points);
    const rawSlope = theilSenSlope(x, y);
    // The floor's slope before the last third: the last tooth of a sawtooth always rises, and only
    // a trough after it shows it was one; a tooth shorter than a third of the span leaves the head flat.
    const head = times.findLastIndex((time) => time <= spanSeconds * (1 - SAWTOOTH_TAIL)) + 1;
    const floorSlope = theilSenSlope(...subsample(times.subarray(0, head), floor.subarray(0, head), points));
    const slope = Math.min(rawSlope, floorSlope); // per second
    const residuals = new Float64Array(x.length);
    for (let i = 0; i < x.length; i++) residuals[i] = (y[i] as number) - rawSlope * (x[i] as number);
    const intercept = medianOf(residuals);
    const growth = Math.max(0, Math.min(slope * spanSeconds, floorRise));
    const growthRatio = intercept > 0 ? growth / intercept : null;
    const required = Math.max(threshold.minGrowth, threshold.minGrowthRatio * Math.max(0, intercept));
    if (!flagged && !decided && growth >= required) series.since = now;
    else if (flagged && (decided || growth < this.clearFraction * required)) series.since = null;

    const level = intercept + rawSlope * ((now - t0) / 1000);
    const suspected = series.since !== null;
    const limit = series.limit;
    let etaSeconds: number | null = null;
    if (suspected && limit !== null && slope > 0) etaSeconds = Math.max(0, (limit - level) / slope);
    return {
      key: series.key,
      resource: series.resource,
      suspected,
      slopePerHour: slope * 3600,
      growth,
      growthRatio,
      level,
      limit,
      etaSeconds,
      since: series.since,
      samples: n,
      spanSeconds,
    };
  }
}

/**
 * The series' floor: each point's lowest value from there to the end, after a 3-point median
 * (so one stray low sample does not sink everything before it). A leak's floor climbs with it; a
 * spike leaves no trace in it; a sawtooth's floor sits on the last trough until the last tooth.
 */
function floorOf(values: Float64Array): Float64Array {
  const n = values.length;
  const floor = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const a = values[Math.max(0, i === n - 1 ? i - 2 : i - 1)] as number;
    const b = values[i === 0 ? 1 : i === n - 1 ? n - 2 : i] as number;
    const c = values[Math.min(n - 1, i === 0 ? 2 : i + 1)] as number;
    floor[i] = Math.max(Math.min(a, b), Math.min(Math.max(a, b), c));
  }
  for (let i = n - 2; i >= 0; i--) floor[i] = Math.min(floor[i] as number, floor[i + 1] as number);
  return floor;
}

/** At most `count` points, evenly spaced by index, first and last kept. */
function subsample(x: Float64Array, y: Float64Array, count: number): [Float64Array, Float64Array] {
  const n = x.length;
  if (n <= count) return [x, y];
  const xs = new Float64Array(count);
  const ys = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    const k = Math.round((i * (n - 1)) / (count - 1));
    xs[i] = x[k] as number;
    ys[i] = y[k] as number;
  }
  return [xs, ys];
}

let scratch = new Float64Array(0);

/** The Theil–Sen estimator: the median of the slopes between every pair of points; 0 without any pair. */
export function theilSenSlope(x: ArrayLike<number>, y: ArrayLike<number>): number {
  const n = x.length;
  const pairs = (n * (n - 1)) / 2;
  if (scratch.length < pairs) scratch = new Float64Array(pairs);
  let m = 0;
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const dx = (x[j] as number) - (x[i] as number);
      if (dx !== 0) scratch[m++] = ((y[j] as number) - (y[i] as number)) / dx;
    }
  }
  return m === 0 ? 0 : medianOf(scratch.subarray(0, m));
}

/** The median, reordering `values` in place (quickselect: linear on average). */
function medianOf(values: Float64Array): number {
  const m = values.length;
  if (m === 0) return 0;
  const k = m >> 1;
  const upper = select(values, k);
  if (m % 2 === 1) return upper;
  let lower = -Infinity; // after select, everything below k is ≤ values[k]
  for (let i = 0; i < k; i++) lower = Math.max(lower, values[i] as number);
  return (lower + upper) / 2;
}

/** Hoare's quickselect: puts the k-th smallest at k, smaller ones before it, and returns it. */
function select(a: Float64Array, k: number): number {
  let lo = 0;
  let hi = a.length - 1;
  while (hi > lo) {
    const pivot = a[(lo + hi) >> 1] as number;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while ((a[i] as number) < pivot) i++;
      while ((a[j] as number) > pivot) j--;
      if (i <= j) {
        const swap = a[i] as number;
        a[i] = a[j] as number;
        a[j] = swap;
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else break;
  }
  return a[k] as number;
}

/** A series' samples, oldest first: grows by doubling up to `capacity`, then drops the oldest. */
class SampleRing {
  private times: Float64Array;
  private values: Float64Array;
  private head = 0;
  size = 0;

  constructor(private readonly capacity: number) {
    this.times = new Float64Array(Math.min(16, capacity));
    this.values = new Float64Array(Math.min(16, capacity));
  }

  time(i: number): number {
    return this.times[(this.head + i) % this.times.length] as number;
  }

  value(i: number): number {
    return this.values[(this.head + i) % this.values.length] as number;
  }

  push(t: number, v: number): void {
    if (this.size === this.times.length) {
      if (this.size < this.capacity) this.grow(Math.min(this.capacity, this.size * 2));
      else this.dropOldest();
    }
    const at = (this.head + this.size) % this.times.length;
    this.times[at] = t;
    this.values[at] = v;
    this.size++;
  }

  /** How many samples are older than `t` (or at `t` too, when `inclusive`): a binary search, times only grow. */
  countBefore(t: number, inclusive: boolean): number {
    let lo = 0;
    let hi = this.size;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const time = this.time(mid);
      if (time < t || (inclusive && time === t)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  replaceLast(t: number, v: number): void {
    const at = (this.head + this.size - 1) % this.times.length;
    this.times[at] = t;
    this.values[at] = v;
  }

  /** Drops samples older than `t`. */
  dropBefore(t: number): void {
    while (this.size > 0 && this.time(0) < t) this.dropOldest();
  }

  private dropOldest(): void {
    this.head = (this.head + 1) % this.times.length;
    this.size--;
  }

  private grow(length: number): void {
    const times = new Float64Array(length);
    const values = new Float64Array(length);
    for (let i = 0; i < this.size; i++) {
      times[i] = this.time(i);
      values[i] = this.value(i);
    }
    this.times = times;
    this.values = values;
    this.head = 0;
  }
}
