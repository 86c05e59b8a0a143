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
import { dirname, join, resolve } from 'node:path';
import { LimboError } from '../core/errors.js';
import type { ScanResult } from './scan.js';

/** One point of the recorded time series: what the dashboard charts and the leak detector reads. */
export interface HistorySample {
  /** unix ms */
  readonly t: number;
  /** Bytes held by deleted files, per mount ("(memfd)" for memfd). */
  readonly heldByMount: Readonly<Record<string, number>>;
  readonly handlesAllocated: number | null;
  readonly handlesMax: number | null;
  /** The processes with most fds at that time: "pid comm" → fds. */
  readonly topFds: Readonly<Record<string, number>>;
  readonly scanSeconds: number;
}

const TOP_PROCESSES = 10;
/** About what a chart a thousand pixels wide can show. */
const MAX_POINTS = 1000;

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
    if (p.fds !== null) topFds[`${p.pid} ${p.comm}`] = p.fds;
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
    if (sample.t - this.lastSave >= 60_000) {
      try {
        this.flush();
      } catch (error) {
        this.saveError = (error as Error).message;
      }
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
    const step = Math.max(stepMs, Math.ceil(span / maxPoints));
    return { stepMs: step, samples: step <= 0 ? picked : downsample(picked, step) };
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

  private save(): void {
    if (!this.file) return;
    const dir = dirname(this.file);
    // A name no one can have planted (O_EXCL), and never through a link (O_NOFOLLOW).
    const temporary = join(dir, `.history.json.${randomBytes(8).toString('hex')}.tmp`);
    const fd = openSync(
      temporary,
      constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
      0o600,
    );
    try {
      const data = Buffer.from(JSON.stringify({ schema: 'limbo.history/1', samples: this.ring }));
      for (let written = 0; written < data.length;) written += writeSync(fd, data, written);
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
