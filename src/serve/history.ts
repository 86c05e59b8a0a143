import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
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
 * `<stateDir>/history.json` when a state directory is given (written atomically: temp file, rename).
 */
export class History {
  private readonly ring: HistorySample[] = [];
  private readonly file: string | null;
  private lastSave = 0;

  constructor(
    private readonly capacity: number,
    stateDir: string | null = null,
  ) {
    this.file = stateDir ? join(stateDir, 'history.json') : null;
    if (stateDir) mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    this.load();
  }

  /** Records a sample; the state file is rewritten at most once a minute (and by `flush`). */
  add(sample: HistorySample): void {
    this.ring.push(sample);
    if (this.ring.length > this.capacity) this.ring.splice(0, this.ring.length - this.capacity);
    if (sample.t - this.lastSave >= 60_000) this.flush();
  }

  /** Writes the state file now (on shutdown). */
  flush(): void {
    this.lastSave = Date.now();
    this.save();
  }

  samples(): readonly HistorySample[] {
    return this.ring;
  }

  private load(): void {
    if (!this.file) return;
    try {
      const data = JSON.parse(readFileSync(this.file, 'utf8')) as {
        schema?: string;
        samples?: HistorySample[];
      };
      if (data.schema === 'limbo.history/1' && Array.isArray(data.samples)) {
        this.ring.push(...data.samples.slice(-this.capacity));
      }
    } catch {
      // no history yet, or an unreadable one: start afresh
    }
  }

  private save(): void {
    if (!this.file) return;
    const temporary = `${this.file}.tmp`;
    writeFileSync(temporary, JSON.stringify({ schema: 'limbo.history/1', samples: this.ring }), {
      mode: 0o600,
    });
    renameSync(temporary, this.file);
  }
}
