// `limbo serve` as an operator and Prometheus meet it: real server on loopback, a real deleted
// file in a test process, a real Prometheus scraping it, and the dashboard in headless Chromium.
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  lchownSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { DeletedJson } from '../../src/analyses/deleted-json.js';
import { startHolder, type Holder } from '../helpers/holder.js';
import { repoRoot } from '../helpers/paths.js';

let dir: string;
const holders: Holder[] = [];
const children: ChildProcess[] = [];

/** Starts `limbo serve` on a free loopback port and resolves with its URL once it listens. */
function serve(args: string[] = []): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(
    process.execPath,
    [`${repoRoot}bin/limbo.js`, 'serve', '--listen', '127.0.0.1:0', ...args],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  children.push(child);
  return new Promise((resolve, reject) => {
    let stderr = '';
    const timer = setTimeout(() => reject(new Error(`serve did not start: ${stderr}`)), 15_000);
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      const match = /listening on (http:\/\/[^ ]+)/.exec(stderr);
      if (match) {
        clearTimeout(timer);
        resolve({ url: match[1] as string, child });
      }
    });
    child.on('exit', (code) => reject(new Error(`serve exited ${code}: ${stderr}`)));
  });
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function until<T>(what: string, probe: () => Promise<T | null>, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe().catch(() => null);
    if (value !== null) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** How many scans the server has completed, by its own counter. */
async function scansOf(url: string): Promise<number> {
  const body = await (await fetch(`${url}/metrics`)).text();
  const match = /^limbo_scans_total (\d+)$/m.exec(body);
  if (!match) throw new Error(`no limbo_scans_total in /metrics:\n${body}`);
  return Number(match[1]);
}

/**
 * Waits for something every scan after the state was reached must show. Bounded by the server's
 * scans, not by a clock: it fails only once a scan that began after the wait did (the second to
 * complete since) was served without it, so a busy machine makes it slower, never wrong.
 */
async function untilScanned<T>(url: string, what: string, probe: () => Promise<T | null>): Promise<T> {
  const first = await scansOf(url);
  for (;;) {
    const seen = await scansOf(url);
    const value = await probe();
    if (value !== null) return value;
    if (seen >= first + 2) throw new Error(`${what}: not in a scan that began after the wait started`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Mounts a small tmpfs on a path of any bytes (argv from Node cannot carry invalid UTF-8). */
function mountTmpfs(path: Buffer): void {
  mkdirSync(path);
  execFileSync('sh', ['-c', 'mount -t tmpfs -o size=16m limbo-test "$(printf "$0")"', octal(path)]);
}

function unmount(path: Buffer): void {
  execFileSync('sh', ['-c', 'umount -l "$(printf "$0")"', octal(path)]);
}

/** A printf format that prints exactly these bytes. */
function octal(bytes: Buffer): string {
  return [...bytes].map((b) => `\\${b.toString(8).padStart(3, '0')}`).join('');
}

/** Headless Chromium, as CI installs it. */
async function launchChromium() {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** A GET with a Host header of our choosing (fetch will not send one). */
function getWithHost(url: string, host: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(url, { headers: { ...headers, Host: host } }, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    request.on('error', reject);
    request.end();
  });
}

/** A raw request line, sent as is (fetch and http.request normalise the target). */
function rawRequest(url: string, text: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.end(text));
    let answer = '';
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')));
    socket.on('end', () => resolve(answer));
    socket.on('error', reject);
  });
}

/** An idle keep-alive connection and an open /events stream, as a browser leaves them. */
async function holdConnections(url: string): Promise<{ close(): void }> {
  const agent = new Agent({ keepAlive: true });
  await new Promise<void>((resolve, reject) => {
    httpRequest(`${url}/healthz`, { agent }, (response) => {
      response.resume();
      response.on('end', resolve);
    })
      .on('error', reject)
      .end();
  });
  const events = new AbortController();
  const stream = await fetch(`${url}/events`, { signal: events.signal });
  assert.equal(stream.status, 200);
  return {
    close: () => {
      events.abort();
      agent.destroy();
    },
  };
}

/** Sends SIGTERM and resolves with the seconds until the process exited. */
function terminate(child: ChildProcess): Promise<number> {
  return new Promise((resolve) => {
    const started = performance.now();
    child.once('exit', () => resolve((performance.now() - started) / 1000));
    child.kill('SIGTERM');
  });
}

const hostileName = '<img src=x onerror="window.__xss=1">.log';
let holder: Holder;
let server: { url: string; child: ChildProcess };

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'limbo-serve-'));
  const path = join(dir, hostileName);
  // fsync: the blocks the kernel accounts are final before any scan (writeback can add an extent block).
  holder = await startHolder(['create', path, String(256 * 1024 * 1024), 'fsync', 'unlink', path]);
  holders.push(holder);
  // --top: every holder gets its per-process series, whatever else this machine holds (tests below
  // look for their own small holders, which a busy machine's bigger ones would push out of the top 20).
  server = await serve(['--interval', '1', '--state-dir', join(dir, 'state'), '--top', '100000']);
});

/** The bytes the kernel accounts to the main holder's deleted file: st_blocks × 512. */
function heldBytes(): number {
  return statSync(`/proc/${holder.pid}/fd/${holder.fds[0]}`).blocks * 512;
}

after(async () => {
  await Promise.all(children.map(stop));
  await Promise.all(holders.map((h) => h.stop()));
  rmSync(dir, { recursive: true, force: true });
});

describe('limbo serve', () => {
  it('serves the same JSON as the CLI, with the test file in /api/deleted', async () => {
    const deleted = (await (await fetch(`${server.url}/api/deleted`)).json()) as {
      schema: string;
      files: { path: string; holders: { pid: number }[] }[];
    };
    assert.equal(deleted.schema, 'limbo.deleted/1');
    const file = deleted.files.find((f) => f.path === join(dir, hostileName));
    assert.deepEqual(
      file?.holders.map((h) => h.pid),
      [holder.pid],
    );
    for (const api of ['handles', 'shm', 'restart', 'df', 'report']) {
      const response = await fetch(`${server.url}/api/${api}`);
      assert.equal(response.status, 200);
      assert.equal(((await response.json()) as { schema: string }).schema, `limbo.${api}/1`);
    }
  });

  it('exposes Prometheus metrics, and OpenMetrics when asked', async () => {
    const response = await fetch(`${server.url}/metrics`);
    assert.equal(response.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
    assert.match(await response.text(), /^# TYPE limbo_deleted_allocated_bytes gauge$/m);
    const text = await untilScanned(server.url, 'the holder at its st_blocks', async () => {
      const body = await (await fetch(`${server.url}/metrics`)).text();
      const line = `limbo_deleted_holder_allocated_bytes{pid="${holder.pid}",comm="holder",unit="",container=""} ${heldBytes()}\n`;
      return body.includes(line) ? body : null;
    });
    assert.ok(heldBytes() >= 256 * 1024 * 1024);
    assert.match(text, /^limbo_file_handles_allocated \d+$/m);
    const open = await fetch(`${server.url}/metrics`, {
      headers: { Accept: 'application/openmetrics-text; version=1.0.0' },
    });
    assert.match(open.headers.get('content-type') ?? '', /^application\/openmetrics-text/);
    assert.match(await open.text(), /# EOF\n$/);
  });

  it('labels keep kernel bytes: a comm and a mount point with byte 0xff show as \\xff', async (t) => {
    if (process.getuid?.() !== 0) return t.skip('mounting a tmpfs needs root');
    // argv cannot carry invalid UTF-8 from Node: the shell's printf makes the byte.
    const mountPoint = Buffer.concat([Buffer.from(`${dir}/mnt-`), Buffer.from([0xff])]);
    mkdirSync(mountPoint);
    execFileSync('sh', ['-c', 'mount -t tmpfs -o size=16m limbo-test "$(printf "$0")"', `${dir}/mnt-\\377`]);
    t.after(() => execFileSync('sh', ['-c', 'umount -l "$(printf "$0")"', `${dir}/mnt-\\377`]));
    const file = `hex:${Buffer.concat([mountPoint, Buffer.from('/held')]).toString('hex')}`;
    const comm = Buffer.from([0x68, 0x6f, 0x6c, 0x64, 0xff]); // "hold" + 0xff
    const odd = await startHolder([
      'comm',
      `hex:${comm.toString('hex')}`,
      'create',
      file,
      '65536',
      'unlink',
      file,
    ]);
    holders.push(odd);
    t.after(() => odd.stop());
    const mount = `${dir}/mnt-\\\\xff`; // escapeName's \xff, its backslash doubled by the format
    const text = await untilScanned(server.url, 'the odd holder in /metrics', async () => {
      const body = await (await fetch(`${server.url}/metrics`)).text();
      return body.includes(`{pid="${odd.pid}"`) ? body : null;
    });
    assert.ok(
      text.includes(
        `limbo_deleted_holder_allocated_bytes{pid="${odd.pid}",comm="hold\\\\xff",unit="",container=""} 65536\n`,
      ),
      text,
    );
    assert.ok(text.includes(`limbo_deleted_files{mount="${mount}",fstype="tmpfs",container=""} 1\n`), text);
    assert.ok(
      text.includes(`limbo_deleted_allocated_bytes{mount="${mount}",fstype="tmpfs",container=""} 65536\n`),
      text,
    );
    // tmpfs shares no blocks between files: all 64 KiB come back on close, none of it unknown.
    assert.ok(
      text.includes(`limbo_deleted_reclaimable_bytes{mount="${mount}",fstype="tmpfs",container=""} 65536\n`),
      text,
    );
    assert.ok(
      text.includes(
        `limbo_deleted_reclaimable_unknown_bytes{mount="${mount}",fstype="tmpfs",container=""} 0\n`,
      ),
      text,
    );
    assert.doesNotMatch(text, /\ufffd/);
    const deleted = (await (await fetch(`${server.url}/api/deleted`)).json()) as DeletedJson;
    const holder = deleted.files.flatMap((f) => f.holders).find((h) => h.pid === odd.pid);
    assert.equal(holder?.commBytes, comm.toString('base64'));
  });

  it('keeps hostile mount names apart, and every scrape answers', async (t) => {
    if (process.getuid?.() !== 0) return t.skip('mounting a tmpfs needs root');
    const names: Buffer[] = [
      Buffer.from(`long-${'L'.repeat(200)}-1`),
      Buffer.from(`long-${'L'.repeat(200)}-2`), // the same first 128 characters as the one above
      Buffer.from('nl\nx'), // a real newline
      Buffer.from('nl\\nx'), // a backslash and "n"
      Buffer.from('q"uote'),
      Buffer.from([0x62, 0x61, 0x64, 0xff]), // "bad" + an invalid UTF-8 byte
      Buffer.from('bidi\u202egnp.exe'),
    ];
    const ops: string[] = [];
    const sizes: number[] = [];
    for (const [i, name] of names.entries()) {
      const mountPoint = Buffer.concat([Buffer.from(`${dir}/m-`), name]);
      mountTmpfs(mountPoint);
      t.after(() => unmount(mountPoint));
      const file = `hex:${Buffer.concat([mountPoint, Buffer.from('/held')]).toString('hex')}`;
      sizes.push(65536 * (i + 1));
      ops.push('create', file, String(65536 * (i + 1)), 'unlink', file);
    }
    const hostile = await startHolder(ops);
    holders.push(hostile);
    t.after(() => hostile.stop());
    const series = (body: string) =>
      [
        ...body.matchAll(
          /^limbo_deleted_allocated_bytes\{mount="([^\n]*)",fstype="tmpfs",container=""\} (\d+)$/gm,
        ),
      ]
        .filter((m) => m[1]?.startsWith(`${dir}/m-`))
        .map((m) => ({ mount: m[1] as string, bytes: Number(m[2]) }));
    const body = await untilScanned(server.url, 'every hostile mount in /metrics', async () => {
      const response = await fetch(`${server.url}/metrics`);
      assert.equal(response.status, 200);
      const text = await response.text();
      return series(text).length === names.length ? text : null;
    });
    const found = series(body);
    assert.deepEqual(
      found.map((s) => s.bytes).sort((a, b) => a - b),
      sizes,
      'one series per mount, each with its own bytes',
    );
    assert.equal(new Set(found.map((s) => s.mount)).size, names.length);
    const long = found.filter((s) => s.mount.includes('LLL'));
    for (const s of long) assert.match(s.mount, /…[0-9a-f]{16}$/, 'a cut name ends in a hash of the whole');
    assert.ok(
      found.some((s) => s.mount.endsWith('/m-nl\\\\nx')),
      'the newline, escaped',
    );
    assert.ok(
      found.some((s) => s.mount.endsWith('/m-nl\\\\\\\\nx')),
      'the backslash, doubled',
    );
    assert.ok(found.some((s) => s.mount.endsWith('/m-bidi\\\\u{202e}gnp.exe')));
    if (existsSync('/usr/bin/promtool')) {
      const check = spawnSync('promtool', ['check', 'metrics'], { input: body, encoding: 'utf8' });
      assert.equal(check.status, 0, `${check.stdout}${check.stderr}`);
    }
  });

  it('changes nothing: every method but GET and HEAD is refused', async () => {
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
      const response = await fetch(`${server.url}/api/deleted`, { method });
      assert.equal(response.status, 405, method);
    }
  });

  it('shares scans between concurrent requests, with no errors under bounded load', async () => {
    const scansOf = async () =>
      Number(/^limbo_scans_total (\d+)$/m.exec(await (await fetch(`${server.url}/metrics`)).text())?.[1]);
    const before = await scansOf();
    const started = Date.now();
    const statuses: number[] = [];
    // 10 connections, 300 requests in all, within a few seconds: bounded, loopback only.
    await Promise.all(
      Array.from({ length: 10 }, async () => {
        for (let i = 0; i < 30; i++) statuses.push((await fetch(`${server.url}/api/report`)).status);
      }),
    );
    const seconds = (Date.now() - started) / 1000;
    const scans = (await scansOf()) - before;
    assert.equal(statuses.filter((s) => s !== 200).length, 0, 'no errors');
    assert.ok(scans <= Math.ceil(seconds) + 2, `${scans} scans for 300 requests in ${seconds.toFixed(1)} s`);
  });

  it('requires the bearer token when given one', async () => {
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, 's3cret\n', { mode: 0o600 });
    const guarded = await serve(['--token-file', tokenFile]);
    assert.equal((await fetch(`${guarded.url}/metrics`)).status, 401);
    assert.equal(
      (await fetch(`${guarded.url}/metrics`, { headers: { Authorization: 'Bearer wrong' } })).status,
      401,
    );
    assert.equal(
      (await fetch(`${guarded.url}/api/report`, { headers: { Authorization: 'Bearer s3cret' } })).status,
      200,
    );
    assert.equal(
      (await fetch(`${guarded.url}/api/report`, { headers: { Authorization: 'bearer s3cret' } })).status,
      200,
      'the scheme is case-insensitive',
    );
    assert.equal((await fetch(`${guarded.url}/healthz`)).status, 200, 'a liveness probe needs no token');
    // The token is the guard here, so any Host is answered.
    assert.equal(
      await getWithHost(`${guarded.url}/api/report`, 'limbo.example.com', { Authorization: 'Bearer s3cret' }),
      200,
    );
    await stop(guarded.child);
  });

  it('refuses to listen off loopback without a token, unless told to', async () => {
    const run = spawnSync(process.execPath, [`${repoRoot}bin/limbo.js`, 'serve', '--listen', '0.0.0.0:0'], {
      encoding: 'utf8',
      timeout: 15_000,
    });
    assert.notEqual(run.status, 0);
    assert.match(run.stderr, /refusing to listen on 0\.0\.0\.0 without a token/);
    const open = await serve(['--listen', '0.0.0.0:0', '--allow-no-token', '--interval', '60']);
    assert.match(open.url, /^http:\/\/0\.0\.0\.0:\d+$/);
    assert.equal((await fetch(`${open.url}/healthz`)).status, 200);
    await stop(open.child);
  });

  it('answers without a token only to an address or a loopback name in Host (DNS rebinding)', async () => {
    const port = new URL(server.url).port;
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, 'LOCALHOST', `[::1]:${port}`, '10.0.0.7']) {
      assert.equal(await getWithHost(`${server.url}/api/report`, host), 200, host);
    }
    for (const host of [`attacker.example:${port}`, 'localhost.attacker.example', 'a@127.0.0.1', 'x y']) {
      assert.equal(await getWithHost(`${server.url}/api/report`, host), 403, host);
    }
  });

  it('answers odd requests without a 500, and HEAD /events completes', async () => {
    assert.match(
      await rawRequest(server.url, 'GET //[ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n'),
      /^HTTP\/1\.1 400 /,
    );
    const head = await fetch(`${server.url}/events`, { method: 'HEAD', signal: AbortSignal.timeout(5000) });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-type'), 'text/event-stream');
    assert.equal(await head.text(), '');
  });

  it(
    'draws the dashboard behind the token in Chromium, which trades it for an HttpOnly cookie',
    { skip: !existsSync('/usr/bin/chromium') && 'chromium is not installed' },
    async () => {
      const tokenFile = join(dir, 'token-browser');
      writeFileSync(tokenFile, 'br0wser-s3cret\n', { mode: 0o600 });
      const guarded = await serve(['--token-file', tokenFile, '--interval', '1']);
      const browser = await launchChromium();
      try {
        const context = await browser.newContext();
        const page = await context.newPage();
        await page.goto(`${guarded.url}/?token=br0wser-s3cret`);
        await page.waitForSelector('body[data-ready="true"]', { timeout: 30_000 });
        await page.waitForFunction("document.querySelectorAll('#chart-handles canvas').length > 0");
        assert.equal(page.url(), `${guarded.url}/`, 'the token left the address bar');
        assert.ok((await page.textContent('#holders'))?.includes(`${holder.pid} holder`));
        const [cookie, ...others] = await context.cookies();
        assert.equal(others.length, 0);
        assert.equal(cookie?.name, 'limbo_session');
        assert.equal(cookie?.httpOnly, true);
        assert.equal(cookie?.sameSite, 'Strict');
        assert.ok(!cookie?.value.includes('br0wser-s3cret'), 'the cookie does not hold the token');
        // Scans keep arriving over /events, which carries the cookie too.
        const updated = await page.textContent('#updated');
        await until('a refresh after a scan event', async () =>
          (await page.textContent('#updated')) !== updated ? true : null,
        );
        const stranger = await (await browser.newContext()).newPage();
        assert.equal((await stranger.goto(guarded.url))?.status(), 401);
        assert.equal((await stranger.goto(`${guarded.url}/?token=wrong`))?.status(), 401);
      } finally {
        await browser.close();
        await stop(guarded.child);
      }
    },
  );

  it('keeps history across a restart in its state directory', async () => {
    const stateDir = join(dir, 'state-restart');
    const first = await serve(['--interval', '1', '--state-dir', stateDir]);
    await until('two samples', async () => {
      const history = (await (await fetch(`${first.url}/api/history`)).json()) as { samples: unknown[] };
      return history.samples.length >= 2 ? true : null;
    });
    await stop(first.child);
    const saved = JSON.parse(readFileSync(join(stateDir, 'history.json'), 'utf8')) as {
      samples: { t: number }[];
    };
    assert.ok(saved.samples.length >= 2);
    const second = await serve(['--interval', '60', '--state-dir', stateDir]);
    const history = (await (await fetch(`${second.url}/api/history`)).json()) as { samples: { t: number }[] };
    assert.ok(
      history.samples.some((s) => s.t === saved.samples[0]?.t),
      'the old samples are back',
    );
    await stop(second.child);
  });

  it('serves history whole, by range and step, or only what is newer than `since`', async () => {
    type History = { stepMs: number; samples: { t: number }[] };
    const whole = await until('two samples', async () => {
      const history = (await (await fetch(`${server.url}/api/history`)).json()) as History;
      return history.samples.length >= 2 ? history : null;
    });
    assert.ok(whole.stepMs < 1000, 'a short history comes at full resolution');
    const since = (whole.samples.at(-2) as { t: number }).t;
    const newer = (await (await fetch(`${server.url}/api/history?since=${since}`)).json()) as History;
    assert.ok(newer.samples.length >= 1);
    assert.ok(newer.samples.every((s) => s.t > since));
    const hourly = (await (await fetch(`${server.url}/api/history?range=86400&step=3600`)).json()) as History;
    assert.equal(hourly.stepMs, 3_600_000);
    assert.ok(hourly.samples.length <= 2, 'this history fits in one or two hour buckets');
    assert.equal((await fetch(`${server.url}/api/history?step=soon`)).status, 400);
  });

  it('starts a fresh series when a pid comes back to a new process (a pid namespace of its own)', async (t) => {
    if (process.getuid?.() !== 0) {
      return t.skip('needs root: a pid namespace, and ns_last_pid to hand the same pid out again');
    }
    // In a pid namespace of its own, with its own /proc, nothing else takes pids: the shell ends
    // `sleep` A, then sets ns_last_pid so that the next fork, `sleep` B, gets A's pid back.
    const port = await freePort();
    const go = join(dir, 'reuse-go');
    execFileSync('mkfifo', [go]);
    const script = [
      `"$0" "$1" serve --listen 127.0.0.1:${port} --interval 1 &`,
      'sleep 1000 & A=$!',
      'echo "A=$A"',
      'read line < "$2"',
      'kill $A; wait $A',
      'echo $((A - 1)) > /proc/sys/kernel/ns_last_pid',
      'sleep 1000 & B=$!',
      'echo "B=$B"',
      'wait',
    ].join('\n');
    const child = spawn(
      'unshare',
      [
        '--pid',
        '--fork',
        '--kill-child',
        '--mount-proc',
        'sh',
        '-c',
        script,
        process.execPath,
        `${repoRoot}bin/limbo.js`,
        go,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    // unshare ignores SIGTERM while it waits; SIGKILL ends it, and --kill-child the namespace.
    const exited = new Promise((resolve) => child.once('exit', resolve));
    t.after(() => {
      child.kill('SIGKILL');
      return exited;
    });
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const url = `http://127.0.0.1:${port}`;
    type Handles = { processes: { pid: number; comm: string; startTicks?: number | null }[] };
    type History = { samples: { t: number; topFds: Record<string, number> }[] };
    const pidOf = async (name: string) => {
      const match = new RegExp(`^${name}=(\\d+)$`, 'm').exec(out);
      return match ? Number(match[1]) : null;
    };
    const startOf = async (pid: number) => {
      const handles = (await (await fetch(`${url}/api/handles`)).json()) as Handles;
      return handles.processes.find((p) => p.pid === pid && p.comm === 'sleep')?.startTicks ?? null;
    };
    const inHistory = async (key: string) => {
      const history = (await (await fetch(`${url}/api/history`)).json()) as History;
      return history.samples.some((s) => key in s.topFds) ? history : null;
    };
    const a = await until('sleep A', () => pidOf('A'));
    const startA = await until('A in a scan', () => startOf(a));
    await until('A in the history', () => inHistory(`${a}:${startA} sleep`));
    writeFileSync(go, 'go\n');
    const b = await until('sleep B', () => pidOf('B'));
    assert.equal(b, a, 'the namespace handed the same pid out again');
    const startB = await until('B in a scan', async () => {
      const start = await startOf(b);
      return start !== null && start !== startA ? start : null;
    });
    assert.ok(startB > startA);
    const history = await until('B in the history', () => inHistory(`${b}:${startB} sleep`));
    // Two series for one pid, one after the other: the new process does not continue the old one.
    const old = `${a}:${startA} sleep`;
    const fresh = `${b}:${startB} sleep`;
    const lastOld = Math.max(...history.samples.filter((s) => old in s.topFds).map((s) => s.t));
    const firstFresh = Math.min(...history.samples.filter((s) => fresh in s.topFds).map((s) => s.t));
    assert.ok(lastOld < firstFresh, 'the old series ends before the new one begins');
    assert.ok(history.samples.every((s) => !(old in s.topFds && fresh in s.topFds)));
  });

  it('refuses a state directory another user could turn against root', async (t) => {
    if (process.getuid?.() !== 0) return t.skip('handing a directory to another user needs root');
    const victim = join(dir, 'victim');
    writeFileSync(victim, 'precious\n');
    // Another user's directory, with that user's link where the old code wrote history.json.tmp.
    const theirs = join(dir, 'state-theirs');
    mkdirSync(theirs, { mode: 0o700 });
    symlinkSync(victim, join(theirs, 'history.json.tmp'));
    lchownSync(join(theirs, 'history.json.tmp'), 65534, 65534);
    chownSync(theirs, 65534, 65534);
    const open = join(dir, 'state-open');
    mkdirSync(open);
    chmodSync(open, 0o777);
    for (const [stateDir, why] of [
      [theirs, /refusing the state directory .*state-theirs: it is owned by uid 65534/],
      [open, /refusing the state directory .*state-open: others can write to it \(mode 777\)/],
      [join(open, 'below'), /others can write to .*state-open on its way, which is not sticky/],
    ] as const) {
      const run = spawnSync(
        process.execPath,
        [`${repoRoot}bin/limbo.js`, 'serve', '--listen', '127.0.0.1:0', '--state-dir', stateDir],
        { encoding: 'utf8', timeout: 15_000 },
      );
      assert.notEqual(run.status, 0, run.stderr);
      assert.match(run.stderr, why);
    }
    assert.equal(readFileSync(victim, 'utf8'), 'precious\n');
  });

  it('writes history through no link: a planted one is replaced, never followed', async (t) => {
    if (process.getuid?.() !== 0) return t.skip('root is who the links would fool');
    const victim = join(dir, 'victim-2');
    writeFileSync(victim, 'precious\n');
    // Given through root's link, as systemd's DynamicUser lays out /var/lib/NAME.
    const stateDir = join(dir, 'state-links');
    mkdirSync(join(dir, 'state-links-real'), { mode: 0o700 });
    symlinkSync('state-links-real', stateDir);
    symlinkSync(victim, join(stateDir, 'history.json'));
    symlinkSync(victim, join(stateDir, 'history.json.tmp'));
    const linked = await serve(['--interval', '1', '--state-dir', stateDir]);
    await until('a sample', async () => {
      const history = (await (await fetch(`${linked.url}/api/history`)).json()) as { samples: unknown[] };
      return history.samples.length >= 1 ? true : null;
    });
    await stop(linked.child);
    assert.equal(readFileSync(victim, 'utf8'), 'precious\n');
    assert.ok(lstatSync(join(stateDir, 'history.json')).isFile(), 'the link at history.json was replaced');
    assert.ok(lstatSync(join(stateDir, 'history.json.tmp')).isSymbolicLink());
    const saved = JSON.parse(readFileSync(join(stateDir, 'history.json'), 'utf8')) as { samples: unknown[] };
    assert.ok(saved.samples.length >= 1);
    assert.equal(lstatSync(join(stateDir, 'history.json')).mode & 0o777, 0o600);
  });

  it('serves every metric the deploy/ alert rules and Grafana dashboard use, and promtool accepts the rules', async () => {
    const served = new Set(
      [...(await (await fetch(`${server.url}/metrics`)).text()).matchAll(/^# TYPE (limbo_[a-z_]+)/gm)].map(
        (m) => m[1],
      ),
    );
    for (const file of ['deploy/prometheus/alerts.yml', 'deploy/grafana/limbo-dashboard.json']) {
      const used = new Set(
        [...readFileSync(join(repoRoot, file), 'utf8').matchAll(/\b(limbo_[a-z_]+)/g)].map((m) => m[1]),
      );
      for (const name of used) assert.ok(served.has(name), `${file} uses ${name}, which /metrics serves`);
    }
    if (existsSync('/usr/bin/promtool')) {
      execFileSync('promtool', ['check', 'rules', join(repoRoot, 'deploy/prometheus/alerts.yml')], {
        stdio: 'pipe',
      });
    }
  });

  it('on SIGTERM closes idle and streaming connections, saves history and exits within 2 s', async () => {
    const stateDir = join(dir, 'state-term');
    const served = await serve(['--interval', '1', '--state-dir', stateDir]);
    const newest = await until('a sample', async () => {
      const { samples } = (await (await fetch(`${served.url}/api/history`)).json()) as {
        samples: { t: number }[];
      };
      return samples.at(-1)?.t ?? null;
    });
    const held = await holdConnections(served.url);
    const seconds = await terminate(served.child);
    held.close();
    assert.ok(seconds < 2, `exited after ${seconds.toFixed(2)} s`);
    const saved = JSON.parse(readFileSync(join(stateDir, 'history.json'), 'utf8')) as {
      samples: { t: number }[];
    };
    assert.ok((saved.samples.at(-1)?.t ?? 0) >= newest, 'the latest samples were saved');
  });

  it(
    'answers from the last good scan when a mount hangs, fails /healthz with the reason, and still exits at once',
    {
      skip:
        (!existsSync('/usr/bin/bindfs') && 'bindfs is not installed') ||
        (process.getuid?.() !== 0 && 'FUSE mounts here need root'),
    },
    async (t) => {
      // The FUSE mount lives in a mount namespace of its own, with the server: a stopped FUSE
      // daemon hangs statfs for anyone who can see the mount, and no one else should.
      const source = join(dir, 'fuse-source');
      const mountPoint = join(dir, 'fuse-mount');
      mkdirSync(source);
      mkdirSync(mountPoint);
      const stateDir = join(dir, 'state-hung');
      const child = spawn(
        'unshare',
        [
          '-m',
          '--propagation',
          'private',
          'sh',
          '-c',
          'bindfs -f "$1" "$2" & echo "bindfs $!" >&2; until mountpoint -q "$2"; do sleep 0.1; done; shift 2; exec "$@"',
          'sh',
          source,
          mountPoint,
          process.execPath,
          `${repoRoot}bin/limbo.js`,
          'serve',
          '--listen',
          '127.0.0.1:0',
          '--interval',
          '1',
          '--scan-timeout',
          '2',
          '--state-dir',
          stateDir,
        ],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
      children.push(child);
      let stderr = '';
      child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const started = await until('the server in its namespace', async () => {
        const daemon = /^bindfs (\d+)$/m.exec(stderr)?.[1];
        const url = /listening on (http:\/\/[^ ]+)/.exec(stderr)?.[1];
        return daemon && url ? { daemon: Number(daemon), url } : null;
      });
      t.after(() => {
        try {
          process.kill(started.daemon, 'SIGCONT');
          process.kill(started.daemon, 'SIGTERM');
        } catch {
          // already gone with its namespace
        }
      });
      const gauge = (body: string, name: string) =>
        Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(body)?.[1]);
      const before = await until('a completed scan', async () => {
        const body = await (await fetch(`${started.url}/metrics`)).text();
        return gauge(body, 'limbo_scans_total') >= 1 ? body : null;
      });
      assert.equal((await fetch(`${started.url}/healthz`)).status, 200);
      process.kill(started.daemon, 'SIGSTOP');
      // Scans now hang in statfs on the mount: each is stopped after 2 s and counted.
      const during = await until('a hung scan counted as an error', async () => {
        const response = await fetch(`${started.url}/metrics`);
        assert.equal(response.status, 200, 'the last good scan answers');
        const body = await response.text();
        return gauge(body, 'limbo_scan_errors_total') > gauge(before, 'limbo_scan_errors_total')
          ? body
          : null;
      });
      const lastScan = gauge(during, 'limbo_last_scan_timestamp_seconds');
      assert.equal((await fetch(`${started.url}/api/report`)).status, 200);
      const unhealthy = await until('/healthz failing', async () => {
        const response = await fetch(`${started.url}/healthz`);
        return response.status === 503 ? response.text() : null;
      });
      assert.match(unhealthy, /^no scan has completed for \d+ s/);
      const after = await (await fetch(`${started.url}/metrics`)).text();
      assert.equal(gauge(after, 'limbo_last_scan_timestamp_seconds'), lastScan, 'no scan completed since');
      assert.ok(gauge(after, 'limbo_scan_errors_total') > gauge(during, 'limbo_scan_errors_total'));
      const held = await holdConnections(started.url);
      const seconds = await terminate(child);
      held.close();
      assert.ok(seconds < 2, `exited after ${seconds.toFixed(2)} s with a scan hung in the kernel`);
      const saved = JSON.parse(readFileSync(join(stateDir, 'history.json'), 'utf8')) as {
        samples: { t: number }[];
      };
      assert.equal(saved.samples.at(-1)?.t, Math.round(lastScan * 1000));
    },
  );

  it(
    'is scraped by a real Prometheus, and PromQL finds the series',
    { skip: !existsSync('/usr/bin/prometheus') && 'prometheus is not installed' },
    async () => {
      const port = await freePort();
      const target = new URL(server.url).host;
      const config = join(dir, 'prometheus.yml');
      writeFileSync(
        config,
        `global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: limbo\n    static_configs:\n      - targets: ['${target}']\n`,
      );
      mkdirSync(join(dir, 'tsdb'));
      const prometheus = spawn(
        '/usr/bin/prometheus',
        [
          `--config.file=${config}`,
          `--storage.tsdb.path=${join(dir, 'tsdb')}`,
          `--web.listen-address=127.0.0.1:${port}`,
        ],
        { stdio: 'ignore' },
      );
      children.push(prometheus);
      const query = `limbo_deleted_holder_allocated_bytes{pid="${holder.pid}"}`;
      const value = await until(
        'the series in Prometheus',
        async () => {
          const response = await fetch(
            `http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(query)}`,
          );
          const body = (await response.json()) as { data: { result: { value: [number, string] }[] } };
          const found = body.data.result[0]?.value[1];
          return found === String(heldBytes()) ? found : null;
        },
        60_000,
      );
      assert.ok(Number(value) >= 256 * 1024 * 1024);
      await stop(prometheus);
    },
  );

  it(
    'draws the dashboard in headless Chromium, with a hostile file name shown as text',
    { skip: !existsSync('/usr/bin/chromium') && 'chromium is not installed' },
    async () => {
      const browser = await launchChromium();
      try {
        const page = await browser.newPage({ viewport: { width: 1280, height: 1400 } });
        await page.goto(server.url);
        await page.waitForSelector('body[data-ready="true"]', { timeout: 30_000 });
        await page.waitForFunction("document.querySelectorAll('#chart-handles canvas').length > 0");
        mkdirSync(join(repoRoot, 'test-artifacts'), { recursive: true });
        await page.screenshot({ path: join(repoRoot, 'test-artifacts', 'dashboard.png'), fullPage: true });
        const holders = await page.textContent('#holders');
        assert.ok(holders?.includes(hostileName), 'the file name appears as text');
        assert.ok(holders?.includes(`${holder.pid} holder`));
        assert.equal(await page.evaluate('window.__xss'), undefined, 'no markup ran');
        assert.equal(await page.locator('#holders img').count(), 0);
        assert.ok((await page.locator('#filesystems .bar').count()) > 0, 'filesystem bars are drawn');
      } finally {
        await browser.close();
      }
    },
  );
});
