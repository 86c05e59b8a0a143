import { Worker } from 'node:worker_threads';
import type { ScanResult } from './scan.js';

/**
 * Hands out scans so that load never multiplies them: callers within `minIntervalMs` of the last
 * scan get its result, and callers during a scan share the one in flight. A slow scan never piles
 * up: at most one runs at a time, in a worker thread.
 */
export class SharedScanner {
  private last: ScanResult | null = null;
  private inFlight: Promise<ScanResult> | null = null;
  private worker: Worker | null = null;
  private nextId = 0;
  /** Scans actually run (for /metrics and for tests that prove sharing). */
  scans = 0;
  /** Scans that failed. */
  failures = 0;

  constructor(
    private readonly minIntervalMs: number,
    private readonly procRoot = '/proc',
    private readonly onScan?: (result: ScanResult) => void,
  ) {}

  /** The latest scan, fresh enough, or the one in flight. */
  get(): Promise<ScanResult> {
    if (this.last && Date.now() - this.last.takenAt < this.minIntervalMs) return Promise.resolve(this.last);
    if (!this.inFlight) {
      this.inFlight = this.runScan().finally(() => {
        this.inFlight = null;
      });
    }
    return this.inFlight;
  }

  /** Ends the worker thread. */
  async close(): Promise<void> {
    await this.worker?.terminate();
    this.worker = null;
  }

  private runScan(): Promise<ScanResult> {
    const worker = this.ensureWorker();
    const id = this.nextId++;
    return new Promise<ScanResult>((resolve, reject) => {
      const onMessage = (message: { id: number; result?: ScanResult; error?: string }) => {
        if (message.id !== id) return;
        worker.off('message', onMessage);
        worker.off('error', onError);
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
      const onError = (error: Error) => {
        worker.off('message', onMessage);
        this.failures++;
        this.worker = null;
        reject(error);
      };
      worker.on('message', onMessage);
      worker.once('error', onError);
      worker.postMessage(id);
    });
  }

  private ensureWorker(): Worker {
    if (!this.worker) {
      this.worker = new Worker(new URL('./scan-worker.js', import.meta.url), {
        workerData: { procRoot: this.procRoot },
      });
      this.worker.unref();
    }
    return this.worker;
  }
}
