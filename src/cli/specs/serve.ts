import { booleanOption, customOption, defineCommand, numberOption, stringOption } from '../options.js';

/** "127.0.0.1:9469", "[::1]:9469", "0.0.0.0:80" or a bare port; null for anything else. */
export function parseListen(text: string): { host: string; port: number } | null {
  // A host is always followed by a colon, so "9000" is a port, never host "900" and port 0.
  const match = /^(?:(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+))?:)?(\d{1,5})$/.exec(text);
  const port = Number(match?.[3]);
  if (!match || !Number.isInteger(port) || port > 65535) return null;
  return { host: match[1] ?? match[2] ?? '127.0.0.1', port };
}

const positive = { min: 0, minExclusive: true } as const;

export const serveSpec = defineCommand({
  name: 'serve',
  summary: 'Serve Prometheus metrics, the JSON API and a live dashboard (read-only; loopback unless told).',
  usage: 'limbo serve [--listen HOST:PORT] [--token-file FILE] [--interval SECONDS] [--state-dir DIR]',
  // It serves this machine, live, in every format at once: /metrics, the JSON API, the dashboard.
  without: ['from', 'json'],
  options: {
    listen: customOption({
      value: 'HOST:PORT',
      help: 'where to listen; [::1]:9469 for IPv6',
      expects: 'HOST:PORT (e.g. 127.0.0.1:9469)',
      parse: parseListen,
      default: '127.0.0.1:9469',
    }),
    tokenFile: stringOption({
      value: 'FILE',
      help: 'require "Authorization: Bearer <token>" with the token in FILE (a browser: open /?token=TOKEN once)',
    }),
    allowNoToken: booleanOption(
      'listen off loopback without --token-file (refused otherwise: anyone reaching the port reads what root sees)',
    ),
    interval: numberOption({
      ...positive,
      value: 'SECONDS',
      help: 'scan period; scans closer together are shared',
      default: 5,
    }),
    scanTimeout: numberOption({
      ...positive,
      value: 'SECONDS',
      help: 'answer from the last good scan when one runs longer (a hung mount); /healthz fails after 3 times this or the interval',
      default: 10,
    }),
    stateDir: stringOption({ value: 'DIR', help: 'keep history across restarts in DIR/history.json' }),
    history: numberOption({ ...positive, value: 'HOURS', help: 'how far back history reaches', default: 24 }),
    top: numberOption({
      ...positive,
      value: 'N',
      help: 'per-process series in /metrics for the top N only',
      default: 20,
    }),
  },
});
