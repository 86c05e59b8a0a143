import { readFileSync } from 'node:fs';
import { startServer } from '../serve/server.js';
import { LimboError } from '../core/errors.js';
import type { Io } from './io.js';
import type { CommandSpec, ParsedOptions } from './options.js';

export const serveSpec: CommandSpec = {
  name: 'serve',
  summary: 'Serve Prometheus metrics, the JSON API and a live dashboard (read-only; loopback unless told).',
  usage: 'limbo serve [--listen HOST:PORT] [--token-file FILE] [--interval SECONDS] [--state-dir DIR]',
  options: [
    {
      name: 'listen',
      type: 'string',
      value: 'HOST:PORT',
      help: 'where to listen (default 127.0.0.1:9469; [::1]:9469 for IPv6)',
    },
    {
      name: 'token-file',
      type: 'string',
      value: 'FILE',
      help: 'require "Authorization: Bearer <token>" (or ?token=) with the token in FILE',
    },
    {
      name: 'interval',
      type: 'string',
      value: 'SECONDS',
      help: 'scan period; scans closer together are shared (default 5)',
    },
    {
      name: 'state-dir',
      type: 'string',
      value: 'DIR',
      help: 'keep history across restarts in DIR/history.json',
    },
    { name: 'history', type: 'string', value: 'HOURS', help: 'how far back history reaches (default 24)' },
    {
      name: 'top',
      type: 'string',
      value: 'N',
      help: 'per-process series in /metrics for the top N only (default 20)',
    },
  ],
};

/** Parses "127.0.0.1:9469", "[::1]:9469", "0.0.0.0:80" or a bare port. */
export function parseListen(text: string): { host: string; port: number } {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+))?:?(\d{1,5})$/.exec(text);
  const port = Number(match?.[3]);
  if (!match || !Number.isInteger(port) || port > 65535) {
    throw new LimboError(
      'usage',
      `limbo serve: --listen takes HOST:PORT (e.g. 127.0.0.1:9469), not '${text}'`,
    );
  }
  return { host: match[1] ?? match[2] ?? '127.0.0.1', port };
}

function positive(values: ParsedOptions, name: string, fallback: number): number {
  const value = values[name];
  if (typeof value !== 'string') return fallback;
  if (!/^\d+(\.\d+)?$/.test(value) || Number(value) <= 0) {
    throw new LimboError('usage', `limbo serve: --${name} takes a positive number, not '${value}'`);
  }
  return Number(value);
}

/** `limbo serve`: runs until SIGINT or SIGTERM. */
export async function runServe(values: ParsedOptions, io: Io): Promise<number> {
  const { host, port } = parseListen(
    typeof values['listen'] === 'string' ? values['listen'] : '127.0.0.1:9469',
  );
  let token: string | null = null;
  const tokenFile = values['token-file'];
  if (typeof tokenFile === 'string') {
    try {
      token = readFileSync(tokenFile, 'utf8').trim();
    } catch (error) {
      throw new LimboError(
        'usage',
        `limbo serve: cannot read --token-file ${tokenFile}: ${(error as Error).message}`,
      );
    }
    if (token === '') throw new LimboError('usage', `limbo serve: --token-file ${tokenFile} is empty`);
  }
  const top = positive(values, 'top', 20);
  let server;
  try {
    server = await startServer({
      host,
      port,
      token,
      intervalMs: positive(values, 'interval', 5) * 1000,
      stateDir: typeof values['state-dir'] === 'string' ? values['state-dir'] : null,
      historyMs: positive(values, 'history', 24) * 3600 * 1000,
      procRoot: typeof values['proc'] === 'string' ? values['proc'] : '/proc',
      top,
    });
  } catch (error) {
    throw new LimboError('io', `limbo serve: cannot listen on ${host}:${port}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  io.stderr.write(`limbo serve: listening on ${server.url} (dashboard /, metrics /metrics, JSON /api/...)\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await server.close();
  return 0;
}
