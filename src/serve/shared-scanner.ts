import { fork, type ChildProcess } from 'node:child_process';
import type { ScannerRequest } from '../snapshot/bpf-start.js';
import { fileURLToPath } from 'node:url';
import type { ScanResult } from './scan.js';

/** No scan to answer with: none has completed yet, and the one running has passed its time. */
export class ScanUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ScanUnavailableError';
  }
}

/**
 * Hands out scans so that load never multiplies them: callers within `minIntervalMs` of the last
 * scan get its result, and callers during a scan share the one in flight. A slow scan never piles
 * up: at most one runs at a time, in a child process. A scan that cannot finish (a hung FUSE or
 * NFS mount blocks statfs and stat in the kernel) is given `timeoutMs`: then the child is killed
 * (such waits yield to SIGKILL), the overrun counts as a failure, callers get the last good scan,
 * and the next scan starts afresh.
 */
export class SharedScanner {
  private last: ScanResult | null = null;
  private inFlight: Promise<ScanResult> | null = null;
  private inFlightSince = 0;
  private worker: ChildProcess | null = null;
  private nextId = 0;
  private readonly createdAt = Date.now();
  /** Scans actually run (for /metrics and for tests that prove sharing). */
  scans = 0;
  /** Scans that failed or overran their time. */
  failures = 0;

  constructor(
    private readonly minIntervalMs: number,
    private readonly procRoot = '/proc',
    private readonly onScan?: (result: ScanResult) => void,
    private readonly timeoutMs = Infinity,
    /**
     * A scan younger than `minIntervalMs + graceMs` is answered at once while the next one runs
     * in the background: a scraper never waits for a scan the periodic loop is about to make.
     */
    private readonly graceMs = 0,
    /** Who reads the fd tables in each scan (--scanner). */
    private readonly scanner: ScannerRequest = 'auto',
    /** How long a FUSE or network mount has to answer in each scan (default 5 s). */
    private readonly mountTimeoutMs?: number,
  ) {}

  /**
   * The latest scan, fresh enough, or the one in flight; once that has run past its time, the
   * last good one. Rejects with ScanUnavailableError when there is none to give.
   */
  async get(): Promise<ScanResult> {
    if (this.last && Date.now() - this.last.takenAt < this.minIntervalMs) return this.last;
    if (!this.inFlight) this.start();
    if (this.last && Date.now() - this.last.takenAt < this.minIntervalMs + this.graceMs) return this.last;
    const running = this.inFlight as Promise<ScanResult>;
    const waitMs = this.inFlightSince + this.timeoutMs - Date.now();
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      running.then(
        (result) => ({ result }),
        (error: unknown) => ({ error }),
      ),
      ...(Number.isFinite(waitMs)
        ? [new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), Math.max(0, waitMs))))]
        : []),
    ]);
    clearTimeout(timer);
    if (outcome && 'result' in outcome) return outcome.result;
    if (this.last) return this.last;
    if (outcome) throw outcome.error;
    throw new ScanUnavailableError(this.unavailableReason(Date.now()));
  }

  /** The last completed scan, or null; never starts one. */
  latest(): ScanResult | null {
    return this.last;
  }

  /**
   * Why scans are stale at `now`, or null when one completed within `staleMs` (counted from
   * the start when none has completed yet). Cheap: it reads state, it never scans.
   */
  staleness(now: number, staleMs: number): string | null {
    const since = this.last?.takenAt ?? this.createdAt;
    if (now - since <= staleMs) return null;
    const seconds = Math.round((now - since) / 1000);
    const running = this.inFlight
      ? `; the scan running has taken ${Math.round((now - this.inFlightSince) / 1000)} s`
      : '';
    return this.last
      ? `no scan has completed for ${seconds} s${running} (a hung mount?)`
      : `no scan has completed in the ${seconds} s since the start${running} (a hung mount?)`;
  }

  /** Ends the scanning child process. */
  close(): Promise<void> {
    this.worker?.kill('SIGKILL');
    this.worker = null;
    return Promise.resolve();
  }

  private unavailableReason(now: number): string {
    const seconds = Math.round((now - this.inFlightSince) / 1000);
    return `no scan has completed yet: the first has run for ${seconds} s (a hung mount?)`;
  }

  private start(): void {
    this.inFlightSince = Date.now();
    this.inFlight = this.runScan().finally(() => {
      this.inFlight = null;
    });
    this.inFlight.catch(() => undefined);
  }

  private runScan(): Promise<ScanResult> {
    const worker = this.ensureWorker();
    const id = this.nextId++;
    return new Promise<ScanResult>((resolve, reject) => {
      const done = () => {
        worker.channel?.unref();
        clearTimeout(overrun);
        worker.off('message', onMessage);
        worker.off('exit', onExit);
      };
      const onMessage = (message: { id: number; result?: ScanResult; error?: string }) => {
        if (message.id !== id) return;
        done();
        if (message.result) {
          this.scans++;
          this.last = message.result;
          this.onScan?.(message.result);
          resolve(message.result);
        } else {
          this.failures++;
          reject(new Error(message.error ?? 'scan failed'));
        }
      };
      const onExit = (code: number | null, signal: string | null) => {
        done();
        this.failures++;
        if (this.worker === worker) this.worker = null;
        reject(new Error(`the scanning process ended (${signal ?? `exit ${code}`})`));
      };
      const overrun = Number.isFinite(this.timeoutMs)
        ? setTimeout(() => {
            done();
            this.failures++;
            if (this.worker === worker) this.worker = null;
            worker.kill('SIGKILL');
            reject(new Error(`the scan ran past ${this.timeoutMs / 1000} s and was stopped (a hung mount?)`));
          }, this.timeoutMs).unref()
        : undefined;
      worker.on('message', onMessage);
      worker.once('exit', onExit);
      // A scan awaited keeps the process alive (`limbo watch --once` has nothing else to wait on).
      worker.channel?.ref();
      worker.send(id);
    });
  }

  private ensureWorker(): ChildProcess {
    if (!this.worker) {
      const args = [
        this.procRoot,
        this.scanner,
        ...(this.mountTimeoutMs === undefined ? [] : [String(this.mountTimeoutMs)]),
      ];
      this.worker = fork(fileURLToPath(new URL('./scan-worker.js', import.meta.url)), args, {
        serialization: 'advanced',
        stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      });
      const worker = this.worker;
      worker.on('error', () => {
        if (this.worker === worker) this.worker = null;
      });
      // Between scans, neither the child nor its channel keeps the process alive.
      this.worker.unref();
      this.worker.channel?.unref();
    }
    return this.worker;
  }
}
