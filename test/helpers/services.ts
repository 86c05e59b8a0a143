// Real Debian programs for the scenario tests: nginx, rsyslogd (with logrotate), PostgreSQL 15,
// Redis and SQLite (python3), each started on loopback with its own configuration and data in a
// directory the test owns, and stopped by pid. No system service is used or needed. Each start
// waits for a real sign of readiness (a pid file, the port answering, a line in a log), never a
// fixed sleep, so a busy machine only makes it slower.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { createSocket } from 'node:dgram';
import { join } from 'node:path';
import { waitUntil } from './scratch.js';

export const PG_BIN = '/usr/lib/postgresql/15/bin';
/** Debian's python3, whose sqlite3 module the SQLite holder uses. */
export const PYTHON = '/usr/bin/python3';

/** Why the real-program tests cannot run here, or null: they need root and the Debian packages. */
export function missingForServices(): string | null {
  if (process.geteuid?.() !== 0) return 'needs root (services run as their own users)';
  const needed = [
    '/usr/sbin/nginx',
    '/usr/sbin/rsyslogd',
    '/usr/sbin/logrotate',
    '/usr/bin/redis-server',
    '/usr/bin/redis-cli',
    `${PG_BIN}/initdb`,
    `${PG_BIN}/pg_ctl`,
    '/usr/bin/psql',
    PYTHON,
  ];
  if (spawnSync('id', ['postgres'], { stdio: 'ignore' }).status !== 0) needed.push('user postgres');
  const missing = needed.filter((path) => path === 'user postgres' || !existsSync(path));
  return missing.length > 0 ? `missing ${missing.join(', ')} (.ci/run installs them)` : null;
}

/** A TCP port nobody listens on now: the kernel picks it; the service binds it right after. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Resolves once something accepts TCP connections on 127.0.0.1:port. */
export async function waitForPort(port: number, what: string, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const answered = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (answered) return;
    if (Date.now() > deadline) throw new Error(`${what} did not answer on port ${port}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The pids whose parent is `pid` (CONFIG_PROC_CHILDREN is not always there: scan /proc). */
export function childrenOf(pid: number): number[] {
  const children: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) children.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return children.sort((a, b) => a - b);
}

/** True while `pid` exists and is not a zombie. */
export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Sends `signal` to `pid` and waits until it is gone. */
export async function stopPid(pid: number, signal: NodeJS.Signals = 'SIGTERM', ms = 30_000): Promise<void> {
  try {
    process.kill(pid, signal);
  } catch {
    return;
  }
  await waitUntil(() => !isAlive(pid), `pid ${pid} to exit`, ms);
}

/** Runs a command to completion; throws with its output when it fails. */
export function run(
  command: string,
  args: readonly string[],
  options: { uid?: number; gid?: number; env?: NodeJS.ProcessEnv } = {},
): string {
  const result = spawnSync(command, args, {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    cwd: '/',
    ...options,
    env: { ...process.env, ...options.env },
  });
  if (result.status !== 0) {
    throw new Error(`${command} ${args.join(' ')} exited ${result.status}: ${result.stdout}${result.stderr}`);
  }
  return result.stdout;
}

function spawnQuiet(command: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  // No inherited pipes: a service that keeps the test runner's stdout open would hold it forever.
  return spawn(command, args, { stdio: 'ignore', cwd: '/', env: { ...process.env, ...env } });
}

function idOf(user: string): { uid: number; gid: number } {
  return { uid: Number(run('id', ['-u', user]).trim()), gid: Number(run('id', ['-g', user]).trim()) };
}

// ---------------------------------------------------------------------------------------------
// nginx

export interface Nginx {
  readonly master: number;
  readonly workers: readonly number[];
  readonly port: number;
  readonly accessLog: string;
  /** The arguments that name this instance (-p, -c, -e) for `nginx -s SIGNAL`. */
  readonly args: readonly string[];
  /** One request; resolves when nginx has answered it (and so logged it). */
  request(): Promise<void>;
  stop(): Promise<void>;
}

/** nginx with a master and two workers, logging to DIR/logs; `env` may add LD_PRELOAD. */
export async function startNginx(dir: string, env: NodeJS.ProcessEnv = {}): Promise<Nginx> {
  const logs = join(dir, 'logs');
  mkdirSync(logs, { recursive: true });
  const port = await freePort();
  const conf = join(dir, 'nginx.conf');
  const pidFile = join(dir, 'nginx.pid');
  const accessLog = join(logs, 'access.log');
  writeFileSync(
    conf,
    `daemon off;
master_process on;
worker_processes 2;
pid ${pidFile};
error_log ${logs}/error.log;
events { worker_connections 64; }
http {
  access_log ${accessLog};
  client_body_temp_path ${dir}/tmp;
  proxy_temp_path ${dir}/tmp;
  fastcgi_temp_path ${dir}/tmp;
  uwsgi_temp_path ${dir}/tmp;
  scgi_temp_path ${dir}/tmp;
  server { listen 127.0.0.1:${port}; location / { return 200 "ok\\n"; } }
}
`,
  );
  const args = ['-p', dir, '-c', conf, '-e', `${logs}/error.log`];
  const child = spawnQuiet('/usr/sbin/nginx', args, env);
  const master = child.pid as number;
  // The pid file is written after the listening sockets are open; the workers come after.
  await waitUntil(
    () => existsSync(pidFile) && readFileSync(pidFile, 'utf8').trim() === `${master}`,
    'nginx pid file',
    30_000,
  );
  await waitForPort(port, 'nginx');
  await waitUntil(() => childrenOf(master).length === 2, 'two nginx workers', 30_000);
  const request = () =>
    new Promise<void>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => socket.end('GET / HTTP/1.0\r\n\r\n'));
      socket.on('data', () => undefined);
      socket.on('end', () => resolve());
      socket.on('error', reject);
    });
  return {
    master,
    workers: childrenOf(master),
    port,
    accessLog,
    args,
    request,
    stop: () => stopPid(master, 'SIGTERM'),
  };
}

// ---------------------------------------------------------------------------------------------
// rsyslogd + logrotate

export interface Rsyslog {
  readonly pid: number;
  readonly log: string;
  /** Sends a message over UDP and waits until rsyslogd has written it to `log`. */
  send(message: string): Promise<void>;
  /** `logrotate -f` with `rotate 0`: the log is renamed, then removed, and rsyslogd is not told. */
  rotate(): void;
  stop(): Promise<void>;
}

/** rsyslogd in the foreground, reading UDP on loopback and writing every message to DIR/messages. */
export async function startRsyslog(dir: string): Promise<Rsyslog> {
  mkdirSync(join(dir, 'work'), { recursive: true });
  const port = await freePort(); // a free TCP port number is almost always free for UDP too
  const log = join(dir, 'messages');
  const conf = join(dir, 'rsyslog.conf');
  const pidFile = join(dir, 'rsyslogd.pid');
  writeFileSync(
    conf,
    `global(workDirectory="${dir}/work")
module(load="imudp")
input(type="imudp" address="127.0.0.1" port="${port}")
*.* action(type="omfile" file="${log}")
`,
  );
  const rotateConf = join(dir, 'logrotate.conf');
  writeFileSync(rotateConf, `${log} {\n  rotate 0\n  nocompress\n}\n`);
  const child = spawnQuiet('/usr/sbin/rsyslogd', ['-n', '-f', conf, '-i', pidFile]);
  const pid = child.pid as number;
  await waitUntil(() => udpBound(port), 'rsyslogd to bind its UDP port', 30_000);
  let sent = 0;
  const send = async (message: string) => {
    const line = `${message} #${++sent}`;
    const socket = createSocket('udp4');
    await new Promise<void>((resolve, reject) =>
      socket.send(`<13>limbo-test: ${line}`, port, '127.0.0.1', (error) =>
        error ? reject(error) : resolve(),
      ),
    );
    socket.close();
    await waitUntil(
      () => existsSync(log) && readFileSync(log, 'utf8').includes(line),
      `"${line}" in ${log}`,
      30_000,
    );
  };
  await send('ready');
  return {
    pid,
    log,
    send,
    rotate: () => void run('/usr/sbin/logrotate', ['-f', '-s', join(dir, 'logrotate.state'), rotateConf]),
    stop: () => stopPid(pid),
  };
}

/** True when something is bound to UDP 127.0.0.1:port (/proc/net/udp, addresses in hex). */
function udpBound(port: number): boolean {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  return readFileSync('/proc/net/udp', 'utf8')
    .split('\n')
    .some((line) => line.trim().split(/\s+/)[1] === local);
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL 15

export interface Postgres {
  readonly postmaster: number;
  /** The logging collector ("postgres: logger"). */
  readonly logger: number;
  readonly port: number;
  /** The directory of its Unix socket (-k): what PGHOST names for psql. */
  readonly socketDir: string;
  readonly dataDir: string;
  /** The logging collector's file (logging_collector=on, one fixed name). */
  readonly log: string;
  /** Runs SQL in a new connection (psql -c) and returns its unaligned output. */
  sql(query: string): string;
  /** A connection that stays open, for state that lives in one backend (cursors). */
  session(): Promise<PsqlSession>;
  /** `pg_ctl logrotate`, as the postgres user. */
  logrotate(): void;
  stop(): Promise<void>;
}

export interface PsqlSession {
  /** The backend process serving this connection. */
  readonly backend: number;
  /** Sends SQL and resolves with what psql printed for it. */
  query(sql: string): Promise<string>;
  close(): Promise<void>;
}

/** initdb as the postgres user, then a postmaster on loopback with its logger writing DIR/log. */
export async function startPostgres(dir: string): Promise<Postgres> {
  const postgres = idOf('postgres');
  mkdirSync(dir, { recursive: true });
  chownSync(dir, postgres.uid, postgres.gid);
  const dataDir = join(dir, 'data');
  const as = { uid: postgres.uid, gid: postgres.gid };
  run(`${PG_BIN}/initdb`, ['-D', dataDir, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8'], as);
  const port = await freePort();
  const options = [
    `-p ${port}`,
    `-k ${dir}`,
    '-c listen_addresses=127.0.0.1',
    '-c logging_collector=on',
    `-c log_directory=${dir}/log`,
    '-c log_filename=postgresql.log',
    '-c work_mem=64kB',
    '-c fsync=off',
  ].join(' ');
  // -w: pg_ctl returns once the postmaster says "ready" in postmaster.pid.
  run(
    `${PG_BIN}/pg_ctl`,
    ['-D', dataDir, '-w', '-t', '60', '-l', join(dir, 'startup.log'), '-o', options, 'start'],
    as,
  );
  const postmaster = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  const psql = (query: string) =>
    run('/usr/bin/psql', ['-h', dir, '-p', `${port}`, '-U', 'postgres', '-X', '-q', '-A', '-t', '-c', query]);
  const logger = childrenOf(postmaster).find((pid) =>
    readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('postgres: logger'),
  );
  if (logger === undefined) throw new Error('no PostgreSQL logger process');
  return {
    postmaster,
    logger,
    port,
    socketDir: dir,
    dataDir,
    log: join(dir, 'log', 'postgresql.log'),
    sql: psql,
    session: () => openSession(dir, port),
    logrotate: () => void run(`${PG_BIN}/pg_ctl`, ['-D', dataDir, 'logrotate'], as),
    stop: () => stopPid(postmaster, 'SIGINT'), // fast shutdown
  };
}

/** psql reading its stdin: each query is followed by \echo of a marker that says it is done. */
async function openSession(dir: string, port: number): Promise<PsqlSession> {
  const child = spawn(
    '/usr/bin/psql',
    ['-h', dir, '-p', `${port}`, '-U', 'postgres', '-X', '-q', '-A', '-t'],
    {
      stdio: ['pipe', 'pipe', 'pipe'],
      cwd: '/',
    },
  );
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  let count = 0;
  const query = async (sql: string) => {
    const marker = `--done ${++count}--`;
    const start = output.length;
    child.stdin?.write(`${sql}\n\\echo '${marker}'\n`);
    await waitUntil(() => output.includes(`${marker}\n`, start), `psql to run ${sql}`, 60_000);
    return output.slice(start, output.indexOf(`${marker}\n`, start));
  };
  const backend = Number((await query('SELECT pg_backend_pid();')).trim());
  return {
    backend,
    query,
    close: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.on('exit', () => resolve());
        child.stdin?.end();
      }),
  };
}

// ---------------------------------------------------------------------------------------------
// Redis 7

export interface Redis {
  readonly pid: number;
  readonly port: number;
  readonly dir: string;
  /** redis-cli against this instance; returns its output. */
  cli(...args: string[]): string;
  stop(): Promise<void>;
}

/** redis-server with appendonly yes (multi-part AOF in DIR/appendonlydir), no RDB snapshots. */
export async function startRedis(dir: string): Promise<Redis> {
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const conf = join(dir, 'redis.conf');
  writeFileSync(
    conf,
    `bind 127.0.0.1\nport ${port}\ndir ${dir}\nappendonly yes\nsave ""\ndaemonize no\nlogfile ${dir}/redis.log\n`,
  );
  const child = spawnQuiet('/usr/bin/redis-server', [conf]);
  const pid = child.pid as number;
  await waitForPort(port, 'redis-server');
  const cli = (...args: string[]) => run('/usr/bin/redis-cli', ['-p', `${port}`, ...args]);
  await waitUntil(() => cli('ping').trim() === 'PONG', 'redis PONG', 30_000);
  return { pid, port, dir, cli, stop: () => stopPid(pid) };
}

// ---------------------------------------------------------------------------------------------
// SQLite in WAL mode (python3's sqlite3)

export interface SqliteHolder {
  readonly pid: number;
  /** Rows committed (in "wal" mode all still in the -wal: nothing is checkpointed). */
  readonly rows: number;
  stop(): Promise<void>;
}

// Creates the database and commits ROWS rows, 100 per transaction, then keeps the connection
// open and says READY. "wal": in WAL mode, never checkpointed, so every row is in the -wal.
// "unfinished": in rollback-journal mode, inside a transaction that rewrote every row and spilled
// its pages to the main file (a 5-page cache), so only the -journal can undo it.
const SQLITE_HOLDER = `
import sqlite3, sys, os
path, rows, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
db = sqlite3.connect(path, isolation_level=None)
if mode == 'wal':
    assert db.execute('PRAGMA journal_mode=WAL').fetchone()[0] == 'wal'
    db.execute('PRAGMA wal_autocheckpoint=0')
db.execute('CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL)')
for start in range(0, rows, 100):
    db.execute('BEGIN')
    db.executemany('INSERT INTO t VALUES (?, ?)', ((i, 'row %d ' % i + 'x' * 200) for i in range(start, min(rows, start + 100))))
    db.execute('COMMIT')
if mode == 'unfinished':
    db.execute('PRAGMA cache_size=5')
    db.execute('BEGIN')
    db.execute("UPDATE t SET body = 'changed ' || id || ' ' || hex(randomblob(100))")
print('READY', os.getpid(), flush=True)
sys.stdin.read()
`;

/** A python3 process (as `uid`:`gid` when given) holding an SQLite database at `path` in `mode` (see SQLITE_HOLDER). */
export function startSqliteHolder(
  path: string,
  rows: number,
  as: { uid?: number; gid?: number; mode?: 'wal' | 'unfinished' } = {},
): Promise<SqliteHolder> {
  const { mode = 'wal', ...user } = as;
  const child = spawn(PYTHON, ['-c', SQLITE_HOLDER, path, `${rows}`, mode], {
    stdio: ['pipe', 'pipe', 'pipe'],
    cwd: '/',
    ...user,
  });
  let stdout = '';
  let stderr = '';
  return new Promise((resolve, reject) => {
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('exit', (code) => reject(new Error(`sqlite holder exited ${code}: ${stderr}`)));
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const match = /READY (\d+)\n/.exec(stdout);
      if (!match) return;
      child.removeAllListeners('exit');
      resolve({
        pid: Number(match[1]),
        rows,
        // SIGKILL: a clean close would checkpoint the -wal into the main file.
        stop: () => stopPid(Number(match[1]), 'SIGKILL'),
      });
    });
  });
}

export interface SqliteContent {
  readonly rows: number;
  /** The sum of the ids: every row, not just as many. */
  readonly ids: number;
  /** Rows the unfinished transaction rewrote. */
  readonly changed: number;
  /** PRAGMA integrity_check's first line: "ok" when sound. */
  readonly integrity: string;
}

/** Opens the database at `path` (SQLite replays a -wal or rolls back a -journal beside it) and reads it. */
export function inspectSqlite(path: string): SqliteContent {
  const out = run(PYTHON, [
    '-c',
    `import sqlite3, sys, json
db = sqlite3.connect(sys.argv[1])
print(json.dumps({'rows': db.execute('SELECT count(*) FROM t').fetchone()[0],
  'ids': db.execute('SELECT coalesce(sum(id), 0) FROM t').fetchone()[0],
  'changed': db.execute("SELECT count(*) FROM t WHERE body LIKE 'changed %'").fetchone()[0],
  'integrity': db.execute('PRAGMA integrity_check').fetchone()[0]}))`,
    path,
  ]);
  return JSON.parse(out) as SqliteContent;
}
