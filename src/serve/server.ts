import { timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { History, sampleOf } from './history.js';
import type { ScanResult } from './scan.js';
import { LeakDetector, type LeakVerdict } from './leak-detector.js';
import { SharedScanner } from './shared-scanner.js';

/** How `limbo serve` runs. */
export interface ServeOptions {
  /** Address to bind: loopback unless told otherwise. */
  readonly host: string;
  readonly port: number;
  /** Required bearer token, when set. */
  readonly token: string | null;
  /** Scans closer together than this are shared (default 5 s); also the background scan period. */
  readonly intervalMs: number;
  /** Where history survives restarts; null keeps it in memory only. */
  readonly stateDir: string | null;
  /** How long history reaches back (default 24 h). */
  readonly historyMs: number;
  readonly procRoot: string;
  /** Renders /metrics for a scan; supplied by the metrics module. */
  readonly renderMetrics: (
    scan: ScanResult,
    context: MetricsContext,
    accept: string | undefined,
  ) => { body: string; contentType: string };
}

/** What /metrics needs besides the scan itself. */
export interface MetricsContext {
  readonly scanner: SharedScanner;
  readonly history: History;
  /** The leak detector's current verdicts, with who they are about. */
  readonly leaks: () => readonly LeakView[];
}

/** A leak verdict with the process it concerns and what to run next. */
export interface LeakView extends LeakVerdict {
  readonly pid: number | null;
  readonly comm: string;
  readonly unit: string | null;
  readonly mount: string | null;
  readonly label: string;
  readonly command: string;
}

/** Feeds one scan to the leak detector: per process, its fds, deleted bytes, mappings and shm attaches. */
export function observeScan(
  detector: LeakDetector,
  scan: ScanResult,
  about: Map<string, Omit<LeakView, keyof LeakVerdict>>,
): void {
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
  for (const p of scan.handles.processes) {
    if (p.fds === null) continue;
    const key = `${p.pid} ${p.comm}`;
    const command = p.unit?.endsWith('.service')
      ? `systemctl restart ${p.unit}`
      : `limbo handles (pid ${p.pid})`;
    about.set(key, {
      pid: p.pid,
      comm: p.comm,
      unit: p.unit,
      mount: null,
      label: `${p.pid} ${p.comm}`,
      command,
    });
    detector.observe(key, 'fds', t, p.fds, p.limit?.soft ?? null);
    if (p.mappings !== null) detector.observe(key, 'mappings', t, p.mappings);
    if (p.shmAttachments !== null) detector.observe(key, 'shmAttachments', t, p.shmAttachments);
    const h = held.get(p.pid);
    const room = h?.mount ? available.get(h.mount) : undefined;
    detector.observe(key, 'heldBytes', t, h?.bytes ?? 0, room === undefined ? null : (h?.bytes ?? 0) + room);
  }
}

/** A running server. */
export interface RunningServer {
  readonly url: string;
  readonly scanner: SharedScanner;
  readonly history: History;
  close(): Promise<void>;
}

const ASSETS = fileURLToPath(new URL('./assets/', import.meta.url));
const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};
const API = ['deleted', 'handles', 'shm', 'restart', 'df', 'report'] as const;

/**
 * Starts the exporter and dashboard. Read-only by construction: only GET and HEAD are served, and
 * no route acts on the system. Scans run in a worker thread, shared between every client.
 */
export async function startServer(options: ServeOptions): Promise<RunningServer> {
  const history = new History(
    Math.max(1, Math.ceil(options.historyMs / options.intervalMs)),
    options.stateDir,
  );
  const clients = new Set<ServerResponse>();
  const detector = new LeakDetector();
  const about = new Map<string, Omit<LeakView, keyof LeakVerdict>>();
  const leaks = (): LeakView[] =>
    detector.verdicts(Date.now()).flatMap((verdict) => {
      const who = about.get(verdict.key);
      return who ? [{ ...verdict, ...who }] : [];
    });
  const scanner = new SharedScanner(options.intervalMs, options.procRoot, (scan) => {
    history.add(sampleOf(scan));
    observeScan(detector, scan, about);
    const event = `event: scan\ndata: ${JSON.stringify({ takenAt: scan.takenAt, status: scan.report.status })}\n\n`;
    for (const client of clients) client.write(event);
  });
  const context: MetricsContext = { scanner, history, leaks };

  const server: Server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      if (!response.headersSent)
        send(response, 500, 'text/plain; charset=utf-8', `scan failed: ${(error as Error).message}\n`);
      else response.end();
    });
  });

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    response.setHeader('X-Content-Type-Options', 'nosniff');
    response.setHeader('Content-Security-Policy', "default-src 'self'; style-src 'self' 'unsafe-inline'");
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.setHeader('Allow', 'GET, HEAD');
      return send(response, 405, 'text/plain; charset=utf-8', 'limbo serve is read-only\n');
    }
    const url = new URL(request.url ?? '/', 'http://limbo');
    // Liveness says nothing about the system, so a probe needs no token.
    if (url.pathname === '/healthz') return send(response, 200, 'text/plain; charset=utf-8', 'ok\n');
    if (options.token !== null && !authorized(request, url, options.token)) {
      response.setHeader('WWW-Authenticate', 'Bearer');
      return send(response, 401, 'text/plain; charset=utf-8', 'a bearer token is required\n');
    }
    const path = url.pathname;
    if (path === '/metrics') {
      const scan = await scanner.get();
      const { body, contentType } = options.renderMetrics(scan, context, request.headers.accept);
      return send(response, 200, contentType, body);
    }
    const api = /^\/api\/([a-z]+)$/.exec(path)?.[1];
    if (api === 'history') {
      return sendJson(response, {
        schema: 'limbo.history/1',
        intervalMs: options.intervalMs,
        samples: history.samples(),
        leaks: leaks().filter((leak) => leak.suspected),
      });
    }
    if (api && (API as readonly string[]).includes(api)) {
      const scan = await scanner.get();
      return sendJson(response, scan[api as (typeof API)[number]]);
    }
    if (path === '/events') {
      response.writeHead(200, {
        'Content-Type': 'text/event-stream',
        'Cache-Control': 'no-cache',
        Connection: 'keep-alive',
      });
      response.write(': limbo\n\n');
      clients.add(response);
      request.on('close', () => clients.delete(response));
      return;
    }
    const asset = path === '/' ? 'index.html' : /^\/assets\/([a-zA-Z0-9._-]+)$/.exec(path)?.[1];
    if (asset && CONTENT_TYPES[extname(asset)]) {
      try {
        return send(
          response,
          200,
          CONTENT_TYPES[extname(asset)] as string,
          readFileSync(`${ASSETS}${asset}`),
        );
      } catch {
        // fall through to 404
      }
    }
    return send(response, 404, 'text/plain; charset=utf-8', 'not found\n');
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  // Scan continuously, so history and leak detection do not depend on anyone watching.
  void scanner.get().catch(() => undefined);
  const timer = setInterval(() => void scanner.get().catch(() => undefined), options.intervalMs);
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}`,
    scanner,
    history,
    close: async () => {
      clearInterval(timer);
      for (const client of clients) client.end();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      history.flush();
      await scanner.close();
    },
  };
}

function authorized(request: IncomingMessage, url: URL, token: string): boolean {
  const header = request.headers.authorization;
  const given = header?.startsWith('Bearer ') ? header.slice(7) : url.searchParams.get('token');
  if (!given) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

function send(response: ServerResponse, status: number, contentType: string, body: string | Buffer): void {
  response.writeHead(status, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body) });
  response.end(response.req.method === 'HEAD' ? undefined : body);
}

function sendJson(response: ServerResponse, value: unknown): void {
  send(response, 200, 'application/json; charset=utf-8', `${JSON.stringify(value)}\n`);
}
