import { readFileSync } from 'node:fs';
import { startServer } from '../serve/server.js';
import { bpfProblem } from '../snapshot/bpf-start.js';
import { LimboError, whyFailed } from '../core/errors.js';
import { quote } from '../format/escape.js';
import { mountTimeoutMsOf, refusePathOnSilentMount } from './load-snapshot.js';
import type { Io } from './io.js';
import type { ValuesOf } from './options.js';
import type { serveSpec } from './specs/serve.js';

/** `limbo serve`: runs until SIGINT or SIGTERM. */
export async function runServe(values: ValuesOf<typeof serveSpec>, io: Io): Promise<number> {
  const { host, port } = values.listen;
  let token: string | null = null;
  const { tokenFile, top } = values;
  // Refused at start, not at the first scan: the scans run in a worker.
  const bpfRefused = values.scanner === 'bpf' ? bpfProblem(values.proc) : null;
  if (bpfRefused) throw new LimboError('usage', `limbo serve: --scanner bpf cannot run here: ${bpfRefused}`);
  // Paths given are asked before anything opens them: a mount that does not answer would hold serve for ever.
  for (const [flag, path] of [
    ['--token-file', tokenFile],
    ['--state-dir', values.stateDir],
  ] as const) {
    if (path !== undefined) {
      refusePathOnSilentMount('limbo serve: ', `${flag} ${quote(path)}`, path, values);
    }
  }
  if (tokenFile !== undefined) {
    try {
      token = readFileSync(tokenFile, 'utf8').trim();
    } catch (error) {
      throw new LimboError(
        'usage',
        `limbo serve: cannot read --token-file ${quote(tokenFile)}: ${whyFailed(error)}`,
      );
    }
    if (token === '') throw new LimboError('usage', `limbo serve: --token-file ${quote(tokenFile)} is empty`);
  }
  let server;
  try {
    server = await startServer({
      host,
      port,
      token,
      allowNoToken: values.allowNoToken,
      intervalMs: values.interval * 1000,
      scanTimeoutMs: values.scanTimeout * 1000,
      stateDir: values.stateDir ?? null,
      historyMs: values.history * 3600 * 1000,
      procRoot: values.proc,
      mountTimeoutMs: mountTimeoutMsOf(values),
      scanner: values.scanner,
      top,
    });
  } catch (error) {
    if (error instanceof LimboError) throw new LimboError(error.code, `limbo serve: ${error.message}`);
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
