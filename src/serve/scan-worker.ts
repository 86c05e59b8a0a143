// A child process that scans on request, so a long scan (a second on 100,000 fds) never blocks
// the server's event loop, and a scan stuck in the kernel on a hung mount can be killed: a thread
// blocked there cannot be stopped, and would keep the whole server from exiting.
import type { ScannerRequest } from '../snapshot/bpf-start.js';
import { scanSystem } from './scan.js';

const procRoot = process.argv[2] ?? '/proc';
const scanner = (process.argv[3] ?? 'auto') as ScannerRequest;
const mountTimeoutMs = process.argv[4] === undefined ? undefined : Number(process.argv[4]);
process.on('message', (id: number) => {
  try {
    process.send?.({ id, result: scanSystem(procRoot, scanner, mountTimeoutMs) });
  } catch (error) {
    process.send?.({ id, error: (error as Error).stack ?? String(error) });
  }
});
// The server is gone: so is the reason to scan.
process.on('disconnect', () => process.exit(0));
