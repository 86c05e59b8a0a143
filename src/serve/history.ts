import { randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  fstatSync,
  fsyncSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  realpathSync,
  renameSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { LimboError } from '../core/errors.js';
import { processKey } from './process-key.js';
import type { ScanResult } from './scan.js';

/** One point of the recorded time series: what the dashboard charts and the leak detector reads. */
export interface HistorySample {
  /** unix ms */
  readonly t: number;
  /** Bytes held by deleted files, per mount ("(memfd)" for memfd). */
  readonly heldByMount: Readonly<Record<string, number>>;
  readonly handlesAllocated: number | null;
  readonly handlesMax: number | null;
  /**
   * The processes with most fds at that time: "PID:START COMM" → fds, START its start time in
   * clock ticks since boot, so a reused pid is a new key ("PID COMM" in history saved before).
   */
  readonly topFds: Readonly<Record<string, number>>;
  readonly scanSeconds: number;
}

const TOP_PROCESSES = 10;
/**
 * Samples per piece of the state file. A day at 5 s is 17,280 samples, 7 MB of JSON: stringified
 * whole it held the event loop for 90–170 ms (then as long again to encode), once a minute,
 * and a scrape arriving then waited for it. A piece of 500 takes a few milliseconds.
 */
const SAVE_CHUNK = 500;
/** About what a chart a thousand pixels wide can show. */
const MAX_POINTS = 1000;

/**
 * The step for a span: whole seconds from one second on, whole tens of seconds from ten, so that scans
 * a few milliseconds late do not change it (and with it every bucket) from one scan to the next.
 */
function steadyStep(rawMs: number): number {
  if (rawMs <= 0) return 0;
  if (rawMs < 1000) return Math.ceil(rawMs); // under 1,000 s of history: cheap to redo every time
  return rawMs < 10_000 ? Math.ceil(rawMs / 1000) * 1000 : Math.ceil(rawMs / 10_000) * 10_000;
}

/** One sample per `stepMs` bucket of time: each field's highest value, at the bucket's last time. */
function downsample(samples: readonly HistorySample[], stepMs: number): HistorySample[] {
  const out: HistorySample[] = [];
  let bucket: HistorySample[] = [];
  const flush = () => {
    if (bucket.length === 1) out.push(bucket[0] as HistorySample);
    else if (bucket.length > 1) out.push(merge(bucket));
    bucket = [];
  };
  for (const sample of samples) {
    const first = bucket[0];
    if (first && Math.floor(sample.t / stepMs) !== Math.floor(first.t / stepMs)) flush();
    bucket.push(sample);
  }
  flush();
  return out;
}

function merge(bucket: readonly HistorySample[]): HistorySample {
  const max = (pick: (s: HistorySample) => number | null) =>
    bucket.reduce<number | null>((m, s) => {
      const v = pick(s);
      return v === null ? m : m === null ? v : Math.max(m, v);
    }, null);
  const maxOfRecords = (pick: (s: HistorySample) => Readonly<Record<string, number>>) => {
    const out: Record<string, number> = {};
    for (const s of bucket) for (const [k, v] of Object.entries(pick(s))) out[k] = Math.max(out[k] ?? v, v);
    return out;
  };
  return {
    t: (bucket.at(-1) as HistorySample).t,
    heldByMount: maxOfRecords((s) => s.heldByMount),
    handlesAllocated: max((s) => s.handlesAllocated),
    handlesMax: max((s) => s.handlesMax),
    topFds: maxOfRecords((s) => s.topFds),
    scanSeconds: max((s) => s.scanSeconds) ?? 0,
  };
}

/** The sample one scan contributes. */
export function sampleOf(scan: ScanResult): HistorySample {
  const heldByMount: Record<string, number> = {};
  for (const m of scan.deleted.totals.byMount) heldByMount[m.mount ?? '(memfd)'] = m.allocated;
  const topFds: Record<string, number> = {};
  for (const p of scan.handles.processes.slice(0, TOP_PROCESSES)) {
    if (p.fds !== null) topFds[`${processKey(p)} ${p.comm}`] = p.fds;
  }
  return {
    t: scan.takenAt,
    heldByMount,
    handlesAllocated: scan.handles.fileNr.allocated,
    handlesMax: scan.handles.fileNr.max,
    topFds,
    scanSeconds: scan.durationSeconds,
  };
}

/**
 * A ring of samples (default 24 h at the scan interval), kept across restarts in
 * `<stateDir>/history.json` when a state directory is given. The server runs as root, so the
 * directory must be one no one else can write to (checked up to /), and the file is written to a
 * fresh name that follows no link, synced, then renamed over the old one.
 */
export class History {
  private readonly ring: HistorySample[] = [];
  private readonly file: string | null;
  private lastSave = 0;
  private added = 0;
  /** The whole ring downsampled at `step`, for `view` (see wholeRing). */
  private downsampled: { step: number; buckets: HistorySample[] } | null = null;
  /** Bumped by every write of the state file, so an older background write never replaces a newer one. */
  private saves = 0;
  private saving = false;
  /** Why the last write of the state file failed, or null; a failed write never stops a scan. */
  saveError: string | null = null;

  constructor(
    private readonly capacity: number,
    stateDir: string | null = null,
  ) {
    const dir = stateDir === null ? null : prepareStateDir(resolve(stateDir));
    this.file = dir === null ? null : join(dir, 'history.json');
    this.load();
  }

  /** Records a sample; the state file is rewritten at most once a minute (and by `flush`). */
  add(sample: HistorySample): void {
    this.added++;
    this.ring.push(sample);
    if (this.ring.length > this.capacity) this.ring.splice(0, this.ring.length - this.capacity);
    if (sample.t - this.lastSave >= 60_000 && !this.saving && this.file) {
      // In the background: a day of samples is megabytes to write and fsync, and the event loop
      // serves /metrics meanwhile.
      this.lastSave = Date.now();
      this.saving = true;
      this.saveInBackground()
        .then(() => (this.saveError = null))
        .catch((error: unknown) => (this.saveError = (error as Error).message))
        .finally(() => (this.saving = false));
    }
  }

  /** Writes the state file now (on shutdown); throws when it cannot. */
  flush(): void {
    this.lastSave = Date.now();
    this.save();
    this.saveError = null;
  }

  samples(): readonly HistorySample[] {
    return this.ring;
  }

  /** Bumped by every sample: what a cached view of the history is valid for. */
  get version(): number {
    return this.added;
  }

  /**
   * The samples newer than `sinceMs`, one per `stepMs` bucket (each field its bucket's highest
   * value, at the bucket's last time, so a spike survives), at most about `maxPoints` of them:
   * a step too fine for that is widened.
   */
  view(
    sinceMs: number,
    stepMs: number,
    maxPoints = MAX_POINTS,
  ): { stepMs: number; samples: HistorySample[] } {
    const from = this.ring.findIndex((sample) => sample.t > sinceMs);
    const picked = from < 0 ? [] : this.ring.slice(from);
    const span = picked.length < 2 ? 0 : (picked.at(-1) as HistorySample).t - (picked[0] as HistorySample).t;
    const step = Math.max(stepMs, steadyStep(span / maxPoints));
    if (step <= 0) return { stepMs: step, samples: picked };
    if (from === 0) return { stepMs: step, samples: this.wholeRing(step) };
    return { stepMs: step, samples: downsample(picked, step) };
  }

  /**
   * The whole ring downsampled, kept between calls: buckets are aligned to multiples of the step
   * in absolute time, so a new scan changes only the last bucket and the oldest sample leaving
   * the ring only the first. Each call merges those two buckets again instead of the whole day
   * (17,280 samples at the default interval), which kept the server's event loop busy for tens of
   * milliseconds after every scan, delaying /metrics.
   */
  private wholeRing(step: number): HistorySample[] {
    const bucketOf = (sample: HistorySample) => Math.floor(sample.t / step);
    const cache = this.downsampled;
    const first = this.ring[0] as HistorySample;
    if (!cache || cache.step !== step || cache.buckets.length === 0) {
      const buckets = downsample(this.ring, step);
      this.downsampled = { step, buckets };
      return buckets;
    }
    const { buckets } = cache;
    // Drop buckets now wholly older than the ring; rebuild the oldest one left and the newest one.
    while (buckets.length > 0 && bucketOf(buckets[0] as HistorySample) < bucketOf(first)) buckets.shift();
    const lastKept = buckets.length > 0 ? bucketOf(buckets.at(-1) as HistorySample) : -Infinity;
    const oldest = buckets.length > 0 ? bucketOf(buckets[0] as HistorySample) : -Infinity;
    if (buckets.length > 0) buckets.pop();
    const tail = this.ring.filter((sample) => bucketOf(sample) >= lastKept);
    buckets.push(...downsample(tail, step));
    if (buckets.length > 1 && oldest === bucketOf(first)) {
      const head = this.ring.filter((sample) => bucketOf(sample) === oldest);
      buckets[0] = downsample(head, step)[0] as HistorySample;
    }
    return buckets.slice();
  }

  private load(): void {
    if (!this.file) return;
    let fd: number;
    try {
      fd = openSync(this.file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch {
      return; // no history yet, or a link where it should be: start afresh
    }
    try {
      if (!fstatSync(fd).isFile()) return;
      const data = JSON.parse(readFileSync(fd, 'utf8')) as { schema?: string; samples?: HistorySample[] };
      if (data.schema === 'limbo.history/1' && Array.isArray(data.samples)) {
        this.ring.push(...data.samples.slice(-this.capacity));
      }
    } catch {
      // an unreadable history: start afresh
    } finally {
      closeSync(fd);
    }
  }

  /** What `save` does, off the event loop but for the JSON text, made a piece at a time; a newer save wins the rename. */
  private async saveInBackground(): Promise<void> {
    if (!this.file) return;
    const generation = ++this.saves;
    const dir = dirname(this.file);
    const temporary = join(dir, `.history.json.${randomBytes(8).toString('hex')}.tmp`);
    const samples = this.ring.slice(); // samples are never changed, only added and dropped
    const handle = await open(
      temporary,
      constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
      0o600,
    );
    try {
      // A piece at a time, each write a turn of the event loop.
      for (const piece of stateFilePieces(samples)) await handle.writeFile(piece); // from the current position
      await handle.sync();
    } catch (error) {
      await handle.close();
      await unlink(temporary);
      throw error;
    }
    await handle.close();
    if (generation !== this.saves) {
      await unlink(temporary); // flush() wrote newer samples meanwhile
      return;
    }
    await rename(temporary, this.file);
    const dirHandle = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
    try {
      await dirHandle.sync();
    } finally {
      await dirHandle.close();
    }
  }

  private save(): void {
    if (!this.file) return;
    this.saves++;
    const dir = dirname(this.file);
    // A name no one can have planted (O_EXCL), and never through a link (O_NOFOLLOW).
    const temporary = join(dir, `.history.json.${randomBytes(8).toString('hex')}.tmp`);
    const fd = openSync(
      temporary,
      constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
      0o600,
    );
    try {
      for (const piece of stateFilePieces(this.ring)) {
        const data = Buffer.from(piece);
        for (let written = 0; written < data.length;) written += writeSync(fd, data, written);
      }
      fsyncSync(fd);
    } catch (error) {
      closeSync(fd);
      unlinkSync(temporary);
      throw error;
    }
    closeSync(fd);
    renameSync(temporary, this.file); // replaces a link at history.json, never follows it
    const dirFd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
  }
}

/** `{"schema":"limbo.history/1","samples":[...]}` in pieces of SAVE_CHUNK samples. */
function* stateFilePieces(samples: readonly HistorySample[]): Generator<string> {
  yield '{"schema":"limbo.history/1","samples":[';
  for (let i = 0; i < samples.length; i += SAVE_CHUNK) {
    const part = JSON.stringify(samples.slice(i, i + SAVE_CHUNK));
    yield `${i === 0 ? '' : ','}${part.slice(1, -1)}`;
  }
  yield ']}';
}

/**
 * Creates the state directory (0700) or checks an existing one: a directory owned by this user,
 * writable by no one else, with every directory above it owned by root or this user and
 * writable by others only when sticky (like /tmp). Links on the way (systemd's DynamicUser makes
 * /var/lib/NAME a link into /var/lib/private) must be root's or this user's, and both the path
 * as given and the one they lead to are checked. Otherwise someone else could put a link where
 * root writes, or swap the directory itself. Returns the real path.
 */
function prepareStateDir(given: string): string {
  const uid = process.geteuid?.() ?? 0;
  let dir: string;
  try {
    mkdirSync(given, { recursive: true, mode: 0o700 });
    dir = realpathSync(given);
  } catch (error) {
    throw new LimboError('io', `cannot create the state directory ${given}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const refuse = (why: string) => new LimboError('usage', `refusing the state directory ${given}: ${why}`);
  const own = lstatSync(dir);
  if (!own.isDirectory()) throw refuse('it is not a directory');
  if (own.uid !== uid) throw refuse(`it is owned by uid ${own.uid}, not by uid ${uid}, which runs limbo`);
  if ((own.mode & 0o022) !== 0) {
    throw refuse(`others can write to it (mode ${(own.mode & 0o7777).toString(8)}); chmod go-w it`);
  }
  const checkAbove = (start: string) => {
    for (let above = start; ; above = dirname(above)) {
      const st = lstatSync(above);
      if (st.uid !== 0 && st.uid !== uid) throw refuse(`${above} on its way is owned by uid ${st.uid}`);
      // A link's own mode means nothing; the directory holding it is checked next.
      if (!st.isSymbolicLink() && (st.mode & 0o022) !== 0 && (st.mode & 0o1000) === 0) {
        throw refuse(`others can write to ${above} on its way, which is not sticky`);
      }
      if (above === dirname(above)) break;
    }
  };
  checkAbove(dirname(dir));
  const lexical = resolve(given);
  if (lexical !== dir) {
    const link = lstatSync(lexical);
    if (link.uid !== 0 && link.uid !== uid) throw refuse(`it is a link owned by uid ${link.uid}`);
    checkAbove(dirname(lexical));
  }
  return dir;
}
