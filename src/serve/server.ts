import { createHmac, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIP, type AddressInfo } from 'node:net';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LimboError } from '../core/errors.js';
import { History, sampleOf } from './history.js';
import { LeakWatch, type LeakView } from './leak-watch.js';
import { MetricsCache, type MetricsContext } from './metrics.js';
import { ScanUnavailableError, SharedScanner } from './shared-scanner.js';
import type { ScannerRequest } from '../snapshot/bpf-start.js';

/** How `limbo serve` runs. */
export interface ServeOptions {
  /** Address to bind: loopback unless told otherwise. */
  readonly host: string;
  readonly port: number;
  /** Required bearer token, when set. */
  readonly token: string | null;
  /** Listen off loopback without a token: anyone who reaches the port reads what root sees. */
  readonly allowNoToken?: boolean;
  /** Scans closer together than this are shared (default 5 s); also the background scan period. */
  readonly intervalMs: number;
  /**
   * How long a request waits for a scan before it is answered from the last good one; a scan
   * running longer counts as failed (default 10 s). /healthz answers 503 once no scan has
   * completed for three times the longer of this and the interval.
   */
  readonly scanTimeoutMs?: number;
  /** Where history survives restarts; null keeps it in memory only. */
  readonly stateDir: string | null;
  /** How long history reaches back (default 24 h). */
  readonly historyMs: number;
  readonly procRoot: string;
  /** How long a FUSE or network mount has to answer in each scan (default 5 s). */
  readonly mountTimeoutMs?: number;
  /** Who reads the fd tables in each scan (--scanner); default auto. */
  readonly scanner?: ScannerRequest;
  /** Per-process series on /metrics only for the top N processes. */
  readonly top: number;
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
 * no route acts on the system. Scans run in a child process, shared between every client.
 */
export async function startServer(options: ServeOptions): Promise<RunningServer> {
  if (options.token === null && !isLoopback(options.host) && options.allowNoToken !== true) {
    throw new LimboError(
      'usage',
      `refusing to listen on ${options.host} without a token: anyone who reaches it would read every process's files and commands; give --token-file FILE, or --allow-no-token to serve it anyway`,
    );
  }
  const session = options.token === null ? null : sessionOf(options.token);
  const history = new History(
    Math.max(1, Math.ceil(options.historyMs / options.intervalMs)),
    options.stateDir,
  );
  const clients = new Set<ServerResponse>();
  const leakWatch = new LeakWatch();
  // Evaluated once per scan, at its time: the verdicts describe that scan, like every other value
  // served, and a scrape between scans must not redo a Theil–Sen fit for every series.
  let verdicts: readonly LeakView[] = [];
  const leaks = () => verdicts;
  const scanTimeoutMs = options.scanTimeoutMs ?? 10_000;
  const staleMs = 3 * Math.max(options.intervalMs, scanTimeoutMs);
  const scanner = new SharedScanner(
    options.intervalMs,
    options.procRoot,
    (scan) => {
      history.add(sampleOf(scan));
      leakWatch.observe(scan);
      verdicts = leakWatch.leaks(scan.takenAt);
      const event = `event: scan\ndata: ${JSON.stringify({ takenAt: scan.takenAt, status: scan.report.status })}\n\n`;
      for (const client of clients) client.write(event);
    },
    scanTimeoutMs,
    options.intervalMs,
    options.scanner,
    options.mountTimeoutMs,
  );
  const context: MetricsContext = { scanner, history, leaks };
  const metrics = new MetricsCache(context, options.top);
  // Bodies kept as bytes: a 400 KiB string would be encoded again on every write.
  let historyCache: { version: number; body: Buffer } | null = null;
  const apiBodies = new WeakMap<object, Map<string, Buffer>>();

  const server: Server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      if (response.headersSent) response.end();
      else if (error instanceof ScanUnavailableError) {
        response.setHeader('Retry-After', String(Math.ceil(options.intervalMs / 1000)));
        send(response, 503, 'text/plain; charset=utf-8', `${error.message}\n`);
      } else send(response, 500, 'text/plain; charset=utf-8', `scan failed: ${(error as Error).message}\n`);
    });
  });

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    response.setHeader('X-Content-Type-Options', 'nosniff');
    response.setHeader('Content-Security-Policy', "default-src 'self'; style-src 'self' 'unsafe-inline'");
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.setHeader('Allow', 'GET, HEAD');
      return send(response, 405, 'text/plain; charset=utf-8', 'limbo serve is read-only\n');
    }
    let url: URL;
    try {
      url = new URL(request.url ?? '/', 'http://limbo');
    } catch {
      return send(response, 400, 'text/plain; charset=utf-8', 'bad request target\n');
    }
    // Without a token, a page on another site could reach this server through a name that it
    // points at 127.0.0.1 (DNS rebinding): answer only to addresses and loopback names.
    if (options.token === null && !hostAllowed(request.headers.host, options.host)) {
      return send(
        response,
        403,
        'text/plain; charset=utf-8',
        'the Host header names neither this address nor localhost (DNS rebinding?); use the IP address, or require a token with --token-file\n',
      );
    }
    // Health says nothing about the system, so a probe needs no token; it never waits for a scan.
    if (url.pathname === '/healthz') {
      const stale = scanner.staleness(Date.now(), staleMs);
      return stale === null
        ? send(response, 200, 'text/plain; charset=utf-8', 'ok\n')
        : send(response, 503, 'text/plain; charset=utf-8', `${stale}\n`);
    }
    if (options.token !== null && session !== null) {
      const by = authorizedBy(request, url, options.token, session);
      if (by === null) {
        response.setHeader('WWW-Authenticate', 'Bearer');
        return send(
          response,
          401,
          'text/plain; charset=utf-8',
          'a bearer token is required (a browser: open /?token=TOKEN once)\n',
        );
      }
      // The dashboard's first visit: trade the token in the address for a cookie its scripts,
      // styles and data requests carry, and take the token out of the address bar and history.
      if (by === 'query' && url.pathname === '/') {
        response.setHeader('Set-Cookie', `${SESSION_COOKIE}=${session}; Path=/; HttpOnly; SameSite=Strict`);
        response.setHeader('Location', '/');
        return send(response, 303, 'text/plain; charset=utf-8', 'see /\n');
      }
    }
    const path = url.pathname;
    if (path === '/metrics') {
      const scan = await scanner.get();
      const { body, contentType } = metrics.render(scan, request.headers.accept);
      return send(response, 200, contentType, body);
    }
    const api = /^\/api\/([a-z]+)$/.exec(path)?.[1];
    if (api === 'history') {
      const query = historyQuery(url.searchParams, Date.now());
      if (typeof query === 'string') return send(response, 400, 'text/plain; charset=utf-8', `${query}\n`);
      // The dashboard's first view (no parameters) is built once per scan, whoever asks.
      const cacheable = url.search === '';
      if (cacheable && historyCache?.version === history.version) {
        return send(response, 200, 'application/json; charset=utf-8', historyCache.body);
      }
      const view = history.view(query.sinceMs, query.stepMs);
      const body = Buffer.from(
        `${JSON.stringify({
          schema: 'limbo.history/1',
          intervalMs: options.intervalMs,
          stepMs: view.stepMs,
          samples: view.samples,
          leaks: leaks().filter((leak) => leak.suspected),
        })}\n`,
      );
      if (cacheable) historyCache = { version: history.version, body };
      return send(response, 200, 'application/json; charset=utf-8', body);
    }
    if (api && (API as readonly string[]).includes(api)) {
      const scan = await scanner.get();
      // Serialised once per scan, however many clients ask.
      const bodies = apiBodies.get(scan) ?? new Map<string, Buffer>();
      apiBodies.set(scan, bodies);
      const body = bodies.get(api) ?? Buffer.from(`${JSON.stringify(scan[api as (typeof API)[number]])}\n`);
      bodies.set(api, body);
      return send(response, 200, 'application/json; charset=utf-8', body);
    }
    if (path === '/events') {
      response.writeHead(200, {
        'Content-Type': 'text/event-stream',
        'Cache-Control': 'no-cache',
        Connection: 'keep-alive',
      });
      if (request.method === 'HEAD') return void response.end();
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
    // Within about a second: a service manager's SIGKILL must not find the history unsaved.
    close: async () => {
      clearInterval(timer);
      let unsaved: unknown = null;
      try {
        history.flush();
      } catch (error) {
        unsaved = error;
      }
      for (const client of clients) client.end();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      // Requests still running (waiting for a scan) get a moment, then their connections go.
      const cut = setTimeout(() => server.closeAllConnections(), 500);
      await closed;
      clearTimeout(cut);
      await scanner.close();
      if (unsaved !== null) throw unsaved;
    },
  };
}

/**
 * /api/history's parameters: `since` (unix ms: only newer samples, for a client that has the
 * rest), `range` (seconds back from now) and `step` (seconds per point); an error text when bad.
 */
function historyQuery(params: URLSearchParams, now: number): { sinceMs: number; stepMs: number } | string {
  const number = (name: string): number | null | string => {
    const text = params.get(name);
    if (text === null) return null;
    return /^\d+(\.\d+)?$/.test(text)
      ? Number(text)
      : `${name} must be a non-negative number, not ${JSON.stringify(text)}`;
  };
  const since = number('since');
  const range = number('range');
  const step = number('step');
  for (const value of [since, range, step]) if (typeof value === 'string') return value;
  const sinceMs = Math.max(
    (since as number | null) ?? -Infinity,
    range === null ? -Infinity : now - (range as number) * 1000,
  );
  return { sinceMs, stepMs: ((step as number | null) ?? 0) * 1000 };
}

const SESSION_COOKIE = 'limbo_session';

/** The dashboard cookie's value: derived from the token, so the cookie never holds the token. */
function sessionOf(token: string): string {
  return createHmac('sha256', token).update('limbo dashboard session').digest('base64url');
}

/** How a request proved it holds the token (header, cookie or query), or null. */
function authorizedBy(
  request: IncomingMessage,
  url: URL,
  token: string,
  session: string,
): 'header' | 'cookie' | 'query' | null {
  // The auth scheme is case-insensitive (RFC 9110 §11.1): "bearer" is as good as "Bearer".
  const header = /^bearer +(\S+) *$/i.exec(request.headers.authorization ?? '')?.[1];
  if (header !== undefined) return same(header, token) ? 'header' : null;
  const cookie = cookieOf(request.headers.cookie, SESSION_COOKIE);
  if (cookie !== null && same(cookie, session)) return 'cookie';
  const query = url.searchParams.get('token');
  return query !== null && same(query, token) ? 'query' : null;
}

function same(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

function cookieOf(header: string | undefined, name: string): string | null {
  for (const part of (header ?? '').split(';')) {
    const equals = part.indexOf('=');
    if (equals > 0 && part.slice(0, equals).trim() === name) return part.slice(equals + 1).trim();
  }
  return null;
}

/** 127.0.0.0/8, ::1 (also IPv4-mapped) and the name localhost. */
export function isLoopback(host: string): boolean {
  const name = host.toLowerCase().replace(/^\[(.*)\]$/, '$1');
  if (name === 'localhost' || name.endsWith('.localhost')) return true;
  if (isIP(name) === 4) return name.startsWith('127.');
  if (isIP(name) === 6) return name === '::1' || /^::ffff:127\./.test(name) || name === '0:0:0:0:0:0:0:1';
  return false;
}

/**
 * Whether a Host header may be answered without a token: an IP address (no name to rebind),
 * a loopback name, or the name limbo was told to listen on. No header (HTTP/1.0) is allowed:
 * browsers always send one.
 */
function hostAllowed(header: string | undefined, listenHost: string): boolean {
  if (header === undefined) return true;
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+))(?::\d{1,5})?$/.exec(header);
  if (!match) return false;
  const name = (match[1] ?? match[2] ?? '').toLowerCase();
  return isIP(name) !== 0 || isLoopback(name) || name === listenHost.toLowerCase();
}

function send(response: ServerResponse, status: number, contentType: string, body: string | Buffer): void {
  response.writeHead(status, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body) });
  response.end(response.req.method === 'HEAD' ? undefined : body);
}
