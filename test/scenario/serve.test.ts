// `limbo serve` as an operator and Prometheus meet it: real server on loopback, a real deleted
// file in a test process, a real Prometheus scraping it, and the dashboard in headless Chromium.
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
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

const hostileName = '<img src=x onerror="window.__xss=1">.log';
let holder: Holder;
let server: { url: string; child: ChildProcess };

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'limbo-serve-'));
  const path = join(dir, hostileName);
  holder = await startHolder(['create', path, String(256 * 1024 * 1024), 'unlink', path]);
  holders.push(holder);
  server = await serve(['--interval', '1', '--state-dir', join(dir, 'state')]);
});

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
    const text = await response.text();
    assert.match(text, /^# TYPE limbo_deleted_allocated_bytes gauge$/m);
    assert.match(
      text,
      new RegExp(
        `^limbo_deleted_holder_allocated_bytes\\{pid="${holder.pid}",comm="holder",unit=""\\} ${256 * 1024 * 1024}$`,
        'm',
      ),
    );
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
    const text = await until('the odd holder in /metrics', async () => {
      const body = await (await fetch(`${server.url}/metrics`)).text();
      return body.includes(`{pid="${odd.pid}"`) ? body : null;
    });
    assert.ok(
      text.includes(
        `limbo_deleted_holder_allocated_bytes{pid="${odd.pid}",comm="hold\\\\xff",unit=""} 65536\n`,
      ),
      text,
    );
    assert.ok(text.includes(`limbo_deleted_files{mount="${mount}",fstype="tmpfs"} 1\n`), text);
    assert.ok(text.includes(`limbo_deleted_allocated_bytes{mount="${mount}",fstype="tmpfs"} 65536\n`), text);
    // tmpfs shares no blocks between files: all 64 KiB come back on close, none of it unknown.
    assert.ok(
      text.includes(`limbo_deleted_reclaimable_bytes{mount="${mount}",fstype="tmpfs"} 65536\n`),
      text,
    );
    assert.ok(
      text.includes(`limbo_deleted_reclaimable_unknown_bytes{mount="${mount}",fstype="tmpfs"} 0\n`),
      text,
    );
    assert.doesNotMatch(text, /\ufffd/);
    const deleted = (await (await fetch(`${server.url}/api/deleted`)).json()) as DeletedJson;
    const holder = deleted.files.flatMap((f) => f.holders).find((h) => h.pid === odd.pid);
    assert.equal(holder?.commBytes, comm.toString('base64'));
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
    assert.equal((await fetch(`${guarded.url}/healthz`)).status, 200, 'a liveness probe needs no token');
    await stop(guarded.child);
  });

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
          return body.data.result[0]?.value[1] ?? null;
        },
        60_000,
      );
      assert.equal(value, String(256 * 1024 * 1024));
      await stop(prometheus);
    },
  );

  it(
    'draws the dashboard in headless Chromium, with a hostile file name shown as text',
    { skip: !existsSync('/usr/bin/chromium') && 'chromium is not installed' },
    async () => {
      const { chromium } = await import('playwright-core');
      const browser = await chromium.launch({
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
