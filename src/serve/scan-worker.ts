// A worker thread that scans on request, so a long scan (a second on 100,000 fds) never blocks
// the server's event loop.
import { parentPort, workerData } from 'node:worker_threads';
import { scanSystem } from './scan.js';

const procRoot = (workerData as { procRoot?: string } | undefined)?.procRoot ?? '/proc';
parentPort?.on('message', (id: number) => {
  try {
    parentPort?.postMessage({ id, result: scanSystem(procRoot) });
  } catch (error) {
    parentPort?.postMessage({ id, error: (error as Error).stack ?? String(error) });
  }
});
