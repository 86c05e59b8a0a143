// Feeds every scan to the leak detector and keeps who each series is about, so `limbo serve`
// and `limbo watch` report suspected leaks the same way.
import { LeakDetector, type LeakVerdict } from './leak-detector.js';
import { processKey } from './process-key.js';
import type { ScanResult } from './scan.js';

/** A leak verdict with the process it concerns and what to run next. */
export interface LeakView extends LeakVerdict {
  readonly pid: number | null;
  readonly comm: string;
  /** Base64 of the exact comm bytes, only when they are not valid UTF-8 (as in limbo.handles/1). */
  readonly commBytes?: string;
  readonly unit: string | null;
  readonly mount: string | null;
  readonly label: string;
  readonly command: string;
}

/** The leak detector over successive scans: per process, its fds, deleted bytes, mappings and shm attaches. */
export class LeakWatch {
  private readonly detector = new LeakDetector();
  private readonly about = new Map<string, Omit<LeakView, keyof LeakVerdict>>();

  /** Feeds one scan. */
  observe(scan: ScanResult): void {
    const t = scan.takenAt;
    const held = new Map<number, { bytes: number; mount: string | null }>();
    for (const file of scan.deleted.files) {
      for (const holder of file.holders) {
        const entry = held.get(holder.pid) ?? { bytes: 0, mount: file.mount };
        entry.bytes += file.allocated;
        held.set(holder.pid, entry);
      }
    }
    const available = new Map(scan.df.filesystems.map((fs) => [fs.mount, fs.available]));
    const seen = new Set<string>();
    for (const p of scan.handles.processes) {
      if (p.fds === null) continue;
      const key = processKey(p);
      seen.add(key);
      // A unit under a user manager is restarted through it, a container by its runtime.
      const command = scan.restartCommands[p.pid] ?? `limbo handles (pid ${p.pid})`;
      this.about.set(key, {
        pid: p.pid,
        comm: p.comm,
        ...(p.commBytes === undefined ? {} : { commBytes: p.commBytes }),
        unit: p.unit,
        mount: null,
        label: `${p.pid} ${p.comm}`,
        command,
      });
      this.detector.observe(key, 'fds', t, p.fds, p.limit?.soft ?? null);
      if (p.mappings !== null) this.detector.observe(key, 'mappings', t, p.mappings);
      if (p.shmAttachments !== null) this.detector.observe(key, 'shmAttachments', t, p.shmAttachments);
      const h = held.get(p.pid);
      const room = h?.mount ? available.get(h.mount) : undefined;
      this.detector.observe(
        key,
        'heldBytes',
        t,
        h?.bytes ?? 0,
        room === undefined ? null : (h?.bytes ?? 0) + room,
      );
    }
    // Who a key is about is kept while the detector holds a series for it (bounded), not forever:
    // 100,000 short-lived processes would otherwise each leave an entry behind.
    for (const key of this.about.keys()) {
      if (!seen.has(key) && !this.detector.knows(key)) this.about.delete(key);
    }
  }

  /** How many processes are remembered (for tests of the bound). */
  get remembered(): number {
    return this.about.size;
  }

  /** The current verdicts at time `now` (ms), each with who it is about. */
  leaks(now: number): LeakView[] {
    return this.detector.verdicts(now).flatMap((verdict) => {
      const who = this.about.get(verdict.key);
      return who ? [{ ...verdict, ...who }] : [];
    });
  }
}
