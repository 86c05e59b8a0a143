#!/usr/bin/env node
// Benchmarks limbo against lsof and lsfd on a synthetic load, and checks that limbo finds
// everything lsof finds. Run as root (to see every process) via `npm run bench`, which
// builds dist/ first.
//
//   node bench/run.mjs [SECTION...] [--runs N] [--procs N] [--files N] [--deleted N] [--bytes N] [--targets N]
//
// The load (see bench/load.c) is built once and shared by every section. A section is a
// function taking the context and returning { ok, report }; add one to SECTIONS to benchmark
// another limbo command against the same load. Helpers are compiled with cc into bench/bin/.
//
// Results are printed as a table and written to bench/results/<section>-<timestamp>.json.
// The exit code is non-zero only for a correctness failure (or a broken run), never for a
// missed performance target.

import { spawn, spawnSync } from 'node:child_process';
import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { cpus, loadavg, release, tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BENCH = join(ROOT, 'bench');
const BIN = join(BENCH, 'bin');
const RESULTS = join(BENCH, 'results');
const LIMBO = [process.execPath, join(ROOT, 'bin/limbo.js')];

const TARGET_TIME_RATIO = 4; // limbo's median must be at most 1/4 of lsof's
const TARGET_RSS_MIB = 100;
// The BPF scanner (issue 16): limbo deleted at most 0.04x one lsof -nP +L1, under 150 MiB.
const TARGET_BPF_TIME_RATIO = 25;
const TARGET_BPF_RSS_MIB = 150;
// ...and limbo handles at most 0.08x one lsof -nP +L1, exact; a serve scan under 0.5 s of CPU.
const TARGET_BPF_HANDLES_RATIO = 12.5;
const TARGET_SERVE_SCAN_CPU_S = 0.5;

/** CPU seconds of one warm serve scan (scanSystem in this process, the second of two), by scanner. */
function serveScanCpu(scanner) {
  const script =
    `const { scanSystem } = await import(${JSON.stringify(join(ROOT, 'dist/serve/scan.js'))});` +
    `scanSystem('/proc', '${scanner}'); const t = process.cpuUsage(); scanSystem('/proc', '${scanner}');` +
    `const c = process.cpuUsage(t); console.log((c.user + c.system) / 1e6);`;
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { maxBuffer: 1024 ** 2 });
  return run.status === 0 ? Number(run.stdout.toString().trim()) : null;
}

/** Why the BPF scanner cannot be benched here, or null: it needs root and an addon built with it. */
function bpfProblem() {
  if (process.geteuid?.() !== 0) return 'not root';
  const run = spawnSync(LIMBO[0], [...LIMBO.slice(1), 'snapshot', '--scanner', 'bpf', '--proc', '/proc'], {
    maxBuffer: 1024 ** 3,
  });
  return run.status === 0 ? null : run.stderr.toString().trim();
}

// ---------------------------------------------------------------------------------------
// Options

function usage() {
  return [
    'usage: node bench/run.mjs [SECTION...] [--runs N] [--procs N] [--files N] [--deleted N] [--bytes N] [--targets N]',
    `sections: ${Object.keys(SECTIONS).join(', ')} (default: all)`,
    '  --runs N     measured runs per tool, after one warm-up (default 5, or $LIMBO_BENCH_RUNS)',
    '  --procs N    load processes (default 100)',
    '  --files N    open regular files per load process (default 1000)',
    '  --deleted N  of those, files deleted while open (default 20)',
    '  --bytes N    data written to each deleted file (default 4096)',
    '  --targets N  fleet: simulated nodes a real Prometheus scrapes every second (default 200)',
  ].join('\n');
}

function parseOptions() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      runs: { type: 'string', default: process.env.LIMBO_BENCH_RUNS || '5' },
      procs: { type: 'string', default: '100' },
      files: { type: 'string', default: '1000' },
      deleted: { type: 'string', default: '20' },
      bytes: { type: 'string', default: '4096' },
      targets: { type: 'string', default: '200' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(usage());
    process.exit(0);
  }
  const count = (name, min) => {
    const value = Number(values[name]);
    if (!Number.isInteger(value) || value < min) usageError(`--${name} takes an integer >= ${min}`);
    return value;
  };
  const options = {
    runs: count('runs', 1),
    procs: count('procs', 1),
    files: count('files', 1),
    deleted: count('deleted', 0),
    bytes: count('bytes', 0),
    targets: count('targets', 1),
    sections: positionals.length > 0 ? positionals : Object.keys(SECTIONS),
  };
  if (options.deleted > options.files) usageError('--deleted cannot exceed --files');
  for (const name of options.sections) if (!SECTIONS[name]) usageError(`unknown section '${name}'`);
  return options;
}

function usageError(message) {
  console.error(`bench: ${message}\n${usage()}`);
  process.exit(2);
}

// ---------------------------------------------------------------------------------------
// Teardown: everything the benchmark creates registers an undo here, so that a normal end,
// an exception and a signal all leave no processes or temp files behind. Undos must be
// synchronous, since they also run from the 'exit' event.

const undos = [];

/** Registers an undo; returns a function that unregisters it once no longer needed. */
function onTeardown(undo) {
  undos.push(undo);
  return () => {
    const index = undos.indexOf(undo);
    if (index >= 0) undos.splice(index, 1);
  };
}

function teardownSync() {
  while (undos.length > 0) {
    try {
      undos.pop()();
    } catch (error) {
      console.error(`bench: teardown: ${error.message}`);
    }
  }
}

process.on('exit', teardownSync);
for (const [signal, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
  ['SIGHUP', 129],
]) {
  process.on(signal, () => {
    console.error(`\nbench: ${signal}: tearing down`);
    teardownSync();
    process.exit(code);
  });
}

// ---------------------------------------------------------------------------------------
// Helpers: compiling the C programs, finding executables, running a command under rusage.

/** Compiles bench/NAME.c into bench/bin/NAME unless the binary is newer than the source. */
function compile(name) {
  const source = join(BENCH, `${name}.c`);
  const binary = join(BIN, name);
  if (mtime(binary) > mtime(source)) return binary;
  mkdirSync(BIN, { recursive: true });
  const cc = spawnSync('cc', ['-O2', '-Wall', '-Wextra', '-o', binary, source], { stdio: 'inherit' });
  if (cc.error) throw new Error(`cc: ${cc.error.message}`);
  if (cc.status !== 0) throw new Error(`cc failed on ${source}`);
  return binary;
}

function mtime(path) {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return -1;
  }
}

function which(name) {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const path = join(dir || '.', name);
    try {
      if (statSync(path).isFile()) return path;
    } catch {
      // not in this directory
    }
  }
  return null;
}

function firstLine(argv) {
  const result = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8' });
  return `${result.stdout ?? ''}${result.stderr ?? ''}`.split('\n').find((line) => line.trim()) ?? null;
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

/**
 * Runs argv once under bench/bin/rusage, its stdout and stderr sent to files in ctx.outDir
 * named after `label` (each run of a label overwrites the previous one's).
 * Resolves to { wall (s), maxrssKiB, status, stdout, stderr } (the last two are paths).
 */
function runCommand(ctx, argv, { env = {}, label = 'cmd' } = {}) {
  const base = join(ctx.outDir, label.replace(/[^\w.-]+/g, '_'));
  const paths = { report: `${base}.rusage`, stdout: `${base}.out`, stderr: `${base}.err` };
  const out = openSync(paths.stdout, 'w');
  const err = openSync(paths.stderr, 'w');
  // In its own process group, so that an interrupted benchmark can kill the command that
  // rusage forked as well, not only rusage.
  const child = spawn(ctx.rusage, [paths.report, ...argv], {
    stdio: ['ignore', out, err],
    env: { ...ctx.env, ...env },
    detached: true,
  });
  closeSync(out);
  closeSync(err);
  const forget = onTeardown(() => {
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // the group already exited
    }
  });
  return new Promise((resolve, reject) => {
    child.on('error', (error) => {
      forget();
      reject(error);
    });
    child.on('exit', () => {
      forget();
      let report;
      try {
        report = readFileSync(paths.report, 'utf8').trim().split(' ');
      } catch {
        reject(new Error(`${argv.join(' ')}: no rusage report (see ${paths.stderr})`));
        return;
      }
      const [wall, maxrssKiB, status] = report.map(Number);
      resolve({ wall, maxrssKiB, status, stdout: paths.stdout, stderr: paths.stderr });
    });
  });
}

/**
 * A tool to time: a row of the table. `env` is added to the benchmark's environment.
 * `okStatus` lists the exit codes that count as success (lsof exits 1 when some process
 * vanished or could not be read, which is not a failure of the measurement).
 */
function tool(name, argv, { env = {}, okStatus = [0] } = {}) {
  return { name, argv, env, okStatus };
}

/**
 * Times each tool `runs` times after one warm-up run. Runs are interleaved round-robin
 * (A B C, A B C, ...) so that drift on the machine (writeback, another job) spreads over
 * every tool instead of landing on one. Returns one result per tool, in order.
 */
async function measure(ctx, tools, { runs = ctx.options.runs } = {}) {
  const results = tools.map((t) => ({ ...t, runs: [], failures: [] }));
  for (let round = 0; round <= runs; round++) {
    const warmup = round === 0;
    process.stderr.write(warmup ? '  warm-up' : ` ${round}`);
    for (const result of results) {
      const run = await runCommand(ctx, result.argv, { env: result.env, label: result.name });
      if (!result.okStatus.includes(run.status)) {
        const stderr = readFileSync(run.stderr, 'utf8').trim().split('\n').slice(-5).join('\n    ');
        result.failures.push({ round, status: run.status, stderr });
      }
      if (!warmup) result.runs.push({ wall: run.wall, maxrssKiB: run.maxrssKiB, status: run.status });
    }
  }
  process.stderr.write('\n');
  for (const result of results) {
    const walls = result.runs.map((r) => r.wall);
    result.median = median(walls);
    result.min = Math.min(...walls);
    result.max = Math.max(...walls);
    result.peakRssMiB = Math.max(...result.runs.map((r) => r.maxrssKiB)) / 1024;
  }
  return results;
}

// ---------------------------------------------------------------------------------------
// The load

/**
 * Starts `procs` bench/bin/load processes, each holding `files` open regular files of which
 * `deleted` are unlinked. Resolves once all are ready to { pids, deleted, teardown }, where
 * `deleted` maps "MAJ:MIN:INODE" to { pid, fd } for every file the load deleted.
 */
async function startLoad(ctx, { procs, files, deleted, bytes }) {
  const dir = join(ctx.workDir, 'load');
  mkdirSync(dir);
  const children = [];
  const killAll = () => {
    for (const child of children) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  };
  onTeardown(killAll);

  const ready = [];
  for (let i = 0; i < procs; i++) {
    const child = spawn(ctx.loadBin, [join(dir, `p${i}`), String(files), String(deleted), String(bytes)], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    children.push(child);
    child.stdin.on('error', () => {}); // EPIPE when a load process already exited
    ready.push(
      new Promise((resolve, reject) => {
        let stdout = '';
        let stderr = '';
        child.stdout.setEncoding('utf8').on('data', (chunk) => {
          stdout += chunk;
          if (/^READY \d+$/m.test(stdout)) resolve(stdout);
        });
        child.stderr.setEncoding('utf8').on('data', (chunk) => (stderr += chunk));
        child.on('error', reject);
        child.on('exit', (code, signal) =>
          reject(new Error(`load process ${i} exited (${signal ?? code}) before READY: ${stderr.trim()}`)),
        );
      }),
    );
  }

  const byKey = new Map();
  try {
    for (const [i, stdout] of (await Promise.all(ready)).entries()) {
      for (const [, key, ino, fd] of stdout.matchAll(/^DEL (\d+:\d+) (\d+) (\d+)$/gm)) {
        byKey.set(`${key}:${ino}`, { pid: children[i].pid, fd: Number(fd) });
      }
    }
  } catch (error) {
    killAll();
    throw error;
  }
  // Flush the new inodes and data now, so that background writeback does not land in
  // the middle of the timed runs.
  spawnSync('sync', ['-f', dir]);

  const teardown = async () => {
    // Closing stdin lets each load process exit on its own; SIGKILL the stragglers.
    const exited = children.map((child) =>
      child.exitCode !== null || child.signalCode !== null
        ? Promise.resolve()
        : new Promise((resolve) => child.on('exit', resolve)),
    );
    for (const child of children) child.stdin.end();
    const timeout = new Promise((resolve) => setTimeout(resolve, 5000).unref());
    await Promise.race([Promise.all(exited), timeout]);
    killAll();
  };
  return { pids: children.map((c) => c.pid), deleted: byKey, teardown };
}

// ---------------------------------------------------------------------------------------
// Section: limbo deleted

/** Parses `lsof -nP +L1` into rows of regular files: { command, pid, fd, key, name }. */
function parseLsof(text) {
  const rows = [];
  const unparsed = [];
  for (const line of text.split('\n').slice(1)) {
    if (!line.trim()) continue;
    // COMMAND PID USER FD TYPE DEVICE SIZE/OFF NLINK NODE NAME. COMMAND may contain
    // spaces; the lazy match plus the anchored columns after it backtrack to the right split.
    const match = /^(.+?)\s+(\d+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\d+),(\d+)\s+(\S+)\s+(\d+)\s+(\d+)\s+(.*)$/.exec(
      line,
    );
    if (!match) {
      if (/\sREG\s/.test(line)) unparsed.push(line);
      continue;
    }
    const [, command, pid, , fd, type, major, minor, , , inode, name] = match;
    if (type !== 'REG') continue;
    rows.push({ command, pid: Number(pid), fd, key: `${major}:${minor}:${inode}`, name });
  }
  return { rows, unparsed };
}

async function sectionDeleted(ctx) {
  const lsof = which('lsof');
  if (!lsof) throw new Error('lsof is not installed; it is needed as the reference');
  const lsfd = which('lsfd');
  const tools = [
    tool('limbo --scanner proc', [...LIMBO, 'deleted', '--json', '--scanner', 'proc']),
    tool('limbo --scanner proc (pure JS)', [...LIMBO, 'deleted', '--json', '--scanner', 'proc'], {
      env: { LIMBO_NO_NATIVE: '1' },
    }),
    tool('lsof -nP +L1', [lsof, '-nP', '+L1'], { okStatus: [0, 1] }),
  ];
  const noBpf = bpfProblem();
  if (noBpf === null)
    tools.push(tool('limbo --scanner bpf', [...LIMBO, 'deleted', '--json', '--scanner', 'bpf']));
  else console.log(`  no BPF scanner here (${noBpf}): skipping its row`);
  // lsfd (util-linux >= 2.38) filters with -Q; DELETED is its "unreachable from the file
  // system" boolean column, the same set as lsof's +L1 for fds.
  if (lsfd) tools.push(tool('lsfd -Q DELETED', [lsfd, '-Q', 'DELETED']));
  else console.log('  lsfd not installed: skipping its row');

  const timings = await measure(ctx, tools);
  const correctness = await checkDeleted(ctx, lsof);
  const isLimbo = (t) => t.argv[0] === process.execPath;
  const [limbo] = timings;
  const lsofTiming = timings.find((t) => t.argv[0] === lsof);

  console.log();
  printTable(timings);
  console.log();
  const targets = [
    {
      name: `limbo median <= lsof median / ${TARGET_TIME_RATIO}`,
      pass: limbo.median * TARGET_TIME_RATIO <= lsofTiming.median,
      detail:
        `${fmtSec(limbo.median)} vs ${fmtSec(lsofTiming.median / TARGET_TIME_RATIO)} ` +
        `(lsof ${fmtSec(lsofTiming.median)}; ` +
        `lsof/limbo = ${(lsofTiming.median / limbo.median).toFixed(2)}, ` +
        `target >= ${TARGET_TIME_RATIO})`,
    },
    {
      name: `limbo peak RSS < ${TARGET_RSS_MIB} MiB`,
      pass: limbo.peakRssMiB < TARGET_RSS_MIB,
      detail: `${limbo.peakRssMiB.toFixed(1)} MiB`,
    },
  ];
  const bpf = timings.find((t) => t.name === 'limbo --scanner bpf');
  if (bpf) {
    targets.push(
      {
        name: `limbo --scanner bpf median <= lsof median / ${TARGET_BPF_TIME_RATIO}`,
        pass: bpf.median * TARGET_BPF_TIME_RATIO <= lsofTiming.median,
        detail: `${fmtSec(bpf.median)} vs ${fmtSec(lsofTiming.median / TARGET_BPF_TIME_RATIO)} (lsof/limbo = ${(lsofTiming.median / bpf.median).toFixed(2)})`,
      },
      {
        name: `limbo --scanner bpf peak RSS < ${TARGET_BPF_RSS_MIB} MiB`,
        pass: bpf.peakRssMiB < TARGET_BPF_RSS_MIB,
        detail: `${bpf.peakRssMiB.toFixed(1)} MiB`,
      },
    );
  }
  console.log('Targets:');
  for (const t of targets) console.log(`  ${t.pass ? 'PASS' : 'MISS'}  ${t.name}: ${t.detail}`);
  console.log();
  printCorrectness(correctness);

  const failures = timings.filter((t) => t.failures.length > 0);
  for (const t of failures) {
    for (const f of t.failures) {
      console.log(`  warning: ${t.name} exited ${f.status} in round ${f.round}:\n    ${f.stderr}`);
    }
  }
  // A failing lsof or lsfd only costs its row; a failing limbo is a correctness failure.
  const limboFailed = timings.some((t) => isLimbo(t) && t.failures.length > 0);
  return {
    ok: correctness.ok && !limboFailed,
    report: {
      schema: 'limbo.bench.deleted/1',
      timings: timings.map(({ okStatus: _ok, ...rest }) => rest),
      targets,
      correctness,
    },
  };
}

/**
 * Checks limbo against lsof and against the load. lsof runs before and after limbo: a file
 * both lsof runs saw and limbo did not is a miss. A file only one lsof run saw may have
 * come or gone while limbo ran (another job on the machine), so it is only reported.
 */
async function checkDeleted(ctx, lsof) {
  const before = await runCommand(ctx, [lsof, '-nP', '+L1'], { label: 'check-lsof-before' });
  const limboRun = await runCommand(ctx, [...LIMBO, 'deleted', '--json'], { label: 'check-limbo' });
  const after = await runCommand(ctx, [lsof, '-nP', '+L1'], { label: 'check-lsof-after' });
  if (limboRun.status !== 0) {
    throw new Error(
      `limbo deleted --json exited ${limboRun.status}: ${readFileSync(limboRun.stderr, 'utf8')}`,
    );
  }
  const json = JSON.parse(readFileSync(limboRun.stdout, 'utf8'));
  if (json.schema !== 'limbo.deleted/1') throw new Error(`unexpected limbo schema ${json.schema}`);
  const limbo = new Map(json.files.map((file) => [`${file.dev}:${file.inode}`, file]));

  const lsofBefore = parseLsof(readFileSync(before.stdout, 'utf8'));
  const lsofAfter = parseLsof(readFileSync(after.stdout, 'utf8'));
  const afterKeys = new Set(lsofAfter.rows.map((row) => row.key));
  const beforeKeys = new Set(lsofBefore.rows.map((row) => row.key));

  // Misses: files (and the lsof rows naming them) that lsof saw both times and limbo lacks.
  const misses = lsofBefore.rows.filter((row) => afterKeys.has(row.key) && !limbo.has(row.key));
  const transient = [...lsofBefore.rows, ...lsofAfter.rows].filter(
    (row) => !(beforeKeys.has(row.key) && afterKeys.has(row.key)) && !limbo.has(row.key),
  );
  // The load's own files: limbo must report each one, held by the right pid and fd.
  const loadMissing = [];
  const loadWrongHolder = [];
  for (const [key, { pid, fd }] of ctx.load.deleted) {
    const file = limbo.get(key);
    if (!file) loadMissing.push({ key, pid, fd });
    else if (!file.holders.some((h) => h.pid === pid && h.fds.includes(fd))) {
      loadWrongHolder.push({ key, pid, fd, holders: file.holders.map((h) => ({ pid: h.pid, fds: h.fds })) });
    }
  }
  const lsofMissingLoad = [...ctx.load.deleted].filter(([key]) => !beforeKeys.has(key)).map(([key]) => key);
  const lsofFiles = new Set([...beforeKeys].filter((key) => afterKeys.has(key)));
  const limboOnly = [...limbo.keys()].filter((key) => !beforeKeys.has(key) && !afterKeys.has(key));

  return {
    ok: misses.length === 0 && loadMissing.length === 0 && loadWrongHolder.length === 0,
    loadFiles: ctx.load.deleted.size,
    limboFiles: limbo.size,
    lsofRows: [lsofBefore.rows.length, lsofAfter.rows.length],
    lsofFiles: [beforeKeys.size, afterKeys.size],
    lsofFilesBoth: lsofFiles.size,
    lsofStatus: [before.status, after.status],
    misses,
    transient,
    loadMissing,
    loadWrongHolder,
    lsofMissingLoad,
    lsofUnparsed: [...lsofBefore.unparsed, ...lsofAfter.unparsed],
    limboOnly: limboOnly.map((key) => {
      const file = limbo.get(key);
      return { key, path: file.path, kind: file.kind, holders: file.holders.map((h) => h.pid) };
    }),
    limboIncomplete: json.incomplete ?? null,
  };
}

function printCorrectness(c) {
  console.log('Correctness (limbo deleted --json vs lsof -nP +L1, before and after limbo):');
  console.log(`  load: ${c.loadFiles} deleted files; limbo found ${c.loadFiles - c.loadMissing.length}`);
  console.log(
    `  lsof: ${c.lsofRows.join('/')} REG rows, ${c.lsofFiles.join('/')} distinct files (before/after), ` +
      `${c.lsofFilesBoth} in both; limbo: ${c.limboFiles} files`,
  );
  const limit = 20;
  const show = (title, items, format) => {
    if (items.length === 0) return;
    console.log(`  ${title}: ${items.length}`);
    for (const item of items.slice(0, limit)) console.log(`    ${format(item)}`);
    if (items.length > limit) console.log(`    ... ${items.length - limit} more in the results JSON`);
  };
  const row = (r) => `${r.key} pid ${r.pid} (${r.command}) fd ${r.fd} ${r.name}`;
  show('MISS: lsof found, limbo did not', c.misses, row);
  show('MISS: load files limbo did not report', c.loadMissing, (m) => `${m.key} pid ${m.pid} fd ${m.fd}`);
  show(
    'MISS: load files reported without their holder',
    c.loadWrongHolder,
    (m) => `${m.key} pid ${m.pid} fd ${m.fd}; limbo: ${JSON.stringify(m.holders)}`,
  );
  show('note: load files lsof did not list', c.lsofMissingLoad, (key) => key);
  show('note: seen by one lsof run only, not by limbo (came or went meanwhile)', c.transient, row);
  show('note: lsof REG lines not parsed', c.lsofUnparsed, (line) => line);
  show(
    'note: limbo only (lsof +L1 lists no mapped-only files)',
    c.limboOnly,
    (f) => `${f.key} ${f.kind} ${f.path} pids ${f.holders.join(',')}`,
  );
  if (c.limboIncomplete?.unreadableProcesses) {
    console.log(`  note: limbo could not read ${c.limboIncomplete.unreadableProcesses} process(es)`);
  }
  console.log(`  ${c.ok ? 'PASS' : 'FAIL'}: correctness`);
}

// ---------------------------------------------------------------------------------------
// Output

const fmtSec = (s) => `${s.toFixed(3)} s`;

function printTable(timings) {
  const base = timings[0].median;
  const header = ['tool', 'median', 'min', 'max', 'peak RSS', 'vs limbo'];
  const rows = timings.map((t) => [
    t.name,
    fmtSec(t.median),
    fmtSec(t.min),
    fmtSec(t.max),
    `${t.peakRssMiB.toFixed(1)} MiB`,
    `${(t.median / base).toFixed(2)}x`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) console.log(line(r));
}

// ---------------------------------------------------------------------------------------
// Section: handles (limbo handles --json vs lsof -n, what people run to count fds)

async function sectionHandles(ctx) {
  const lsof = which('lsof');
  if (!lsof) throw new Error('lsof is not installed; it is needed as the reference');
  const lsfd = which('lsfd');
  const proc = [...LIMBO, 'handles', '--json', '--scanner', 'proc'];
  const tools = [
    tool('limbo handles --scanner proc', proc),
    tool('limbo handles --scanner proc (pure JS)', proc, { env: { LIMBO_NO_NATIVE: '1' } }),
    // The reference: one lsof -nP +L1 (lsof walks every fd whatever it prints).
    tool('lsof -nP +L1', [lsof, '-nP', '+L1'], { okStatus: [0, 1] }),
  ];
  const noBpf = bpfProblem();
  const bpfArgs = [...LIMBO, 'handles', '--json', '--scanner', 'bpf'];
  if (noBpf === null) tools.push(tool('limbo handles --scanner bpf', bpfArgs));
  else console.log(`  no BPF scanner here (${noBpf}): skipping its row`);
  if (lsfd) tools.push(tool('lsfd', [lsfd]));
  else console.log('  lsfd not installed: skipping its row');
  const timings = await measure(ctx, tools);
  const [limbo] = timings;
  const lsofTiming = timings.find((t) => t.argv[0] === lsof);
  const bpf = timings.find((t) => t.name === 'limbo handles --scanner bpf');

  // One run of each scanner read back: the load's fds must be counted, grouped exactly (as root).
  const readBack = (argv) =>
    JSON.parse(spawnSync(argv[0], argv.slice(1), { maxBuffer: 1024 ** 3 }).stdout.toString());
  const loadFdsOf = (r) => {
    const byPid = new Map(r.processes.map((p) => [p.pid, p.fds ?? 0]));
    return ctx.load.pids.reduce((sum, pid) => sum + (byPid.get(pid) ?? 0), 0);
  };
  const report = readBack(proc);
  const bpfReport = bpf ? readBack(bpfArgs) : null;
  const loadFds = loadFdsOf(report);
  const expected = ctx.options.procs * ctx.options.files;
  const bpfOk =
    bpfReport === null ||
    (loadFdsOf(bpfReport) >= expected && bpfReport.ledger.openFilesExact && bpfReport.ledger.mappingsExact);
  const correctness = {
    ok: loadFds >= expected && report.ledger.openFilesExact === (process.getuid?.() === 0) && bpfOk,
    loadFds,
    expected,
    ledger: report.ledger,
    fileNr: report.fileNr,
    ...(bpfReport ? { bpfLoadFds: loadFdsOf(bpfReport), bpfLedger: bpfReport.ledger } : {}),
  };
  const serveCpu = bpf ? { proc: serveScanCpu('proc'), bpf: serveScanCpu('bpf') } : null;

  console.log();
  printTable(timings);
  console.log();
  const targets = [
    {
      name: 'limbo handles --scanner proc faster than lsof -nP +L1, with exact open-file grouping',
      pass: limbo.median < lsofTiming.median && report.ledger.openFilesExact,
      detail: `${fmtSec(limbo.median)} vs ${fmtSec(lsofTiming.median)} (lsof/limbo = ${(lsofTiming.median / limbo.median).toFixed(2)}; openFilesExact ${report.ledger.openFilesExact})`,
    },
  ];
  if (bpf && bpfReport) {
    targets.push({
      name: `limbo handles --scanner bpf median <= lsof median / ${TARGET_BPF_HANDLES_RATIO}, exact`,
      pass:
        bpf.median * TARGET_BPF_HANDLES_RATIO <= lsofTiming.median &&
        bpfReport.ledger.openFilesExact &&
        bpfReport.ledger.mappingsExact,
      detail: `${fmtSec(bpf.median)} vs ${fmtSec(lsofTiming.median / TARGET_BPF_HANDLES_RATIO)} (lsof/limbo = ${(lsofTiming.median / bpf.median).toFixed(2)}; mappingsExact ${bpfReport.ledger.mappingsExact})`,
    });
  }
  if (serveCpu) {
    targets.push({
      name: `a warm serve scan on BPF under ${TARGET_SERVE_SCAN_CPU_S} s of CPU`,
      pass: serveCpu.bpf !== null && serveCpu.bpf < TARGET_SERVE_SCAN_CPU_S,
      detail: `bpf ${serveCpu.bpf?.toFixed(2)} s, proc ${serveCpu.proc?.toFixed(2)} s of CPU`,
    });
  }
  console.log('Targets:');
  for (const t of targets) console.log(`  ${t.pass ? 'PASS' : 'MISS'}  ${t.name}: ${t.detail}`);
  console.log();
  console.log(
    `Ledger: file-nr ${report.fileNr.allocated}; descriptors ${report.ledger.descriptors}, open files ` +
      `${report.ledger.openFiles}, mappings ${report.ledger.mappings}, shm ${report.ledger.shmSegments}+` +
      `${report.ledger.shmAttachments}, unexplained ${report.ledger.unexplained}`,
  );
  console.log(
    `Correctness: the load's fds counted ${loadFds} (at least ${expected}): ${correctness.ok ? 'PASS' : 'FAIL'}`,
  );
  const limboFailed = timings.some((t) => t.argv[0] === process.execPath && t.failures.length > 0);
  return {
    ok: correctness.ok && !limboFailed,
    report: {
      schema: 'limbo.bench.handles/1',
      timings: timings.map(({ okStatus: _ok, ...rest }) => rest),
      targets,
      correctness,
      ...(serveCpu ? { serveScanCpuSeconds: serveCpu } : {}),
    },
  };
}

// ---------------------------------------------------------------------------------------
// Section: serve (bounded loopback load on /metrics while the 100,000-fd load is open)

/** The address a `limbo serve` child prints once it listens; rejects if it exits first. */
function serveUrl(child) {
  return new Promise((resolve, reject) => {
    let stderr = '';
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
      const match = /listening on (http:\/\/\S+)/.exec(stderr);
      if (match) resolve(match[1]);
    });
    child.on('exit', (code) => reject(new Error(`serve exited ${code}: ${stderr}`)));
  });
}

/**
 * Starts `limbo serve` on a free loopback port, then 10 connections request /metrics back to back
 * for 20 s (loopback only, bounded in count and time). Passes with zero errors, scans far fewer
 * than requests (they are shared), and the server's RSS flat between the first and last quarter.
 */
async function sectionServe(_ctx) {
  const child = spawn(LIMBO[0], [...LIMBO.slice(1), 'serve', '--listen', '127.0.0.1:0', '--interval', '5'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  try {
    const url = await serveUrl(child);
    const rssKiB = () =>
      Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1] ?? 0);
    const scans = async () =>
      Number(/^limbo_scans_total (\d+)$/m.exec(await (await fetch(`${url}/metrics`)).text())?.[1]);
    await fetch(`${url}/metrics`); // the first scan
    const seconds = 20;
    const connections = 10;
    const before = await scans();
    const deadline = Date.now() + seconds * 1000;
    const rss = [];
    const sampler = setInterval(() => rss.push(rssKiB()), 1000);
    let requests = 0;
    let errors = 0;
    const latencies = [];
    await Promise.all(
      Array.from({ length: connections }, async () => {
        while (Date.now() < deadline && requests < 100_000) {
          const started = performance.now();
          try {
            const response = await fetch(`${url}/metrics`);
            await response.text();
            if (response.status !== 200) errors++;
          } catch {
            errors++;
          }
          latencies.push(performance.now() - started);
          requests++;
        }
      }),
    );
    clearInterval(sampler);
    const scanCount = (await scans()) - before;
    const quarter = Math.max(1, Math.floor(rss.length / 4));
    const early = median(rss.slice(0, quarter)) / 1024;
    const late = median(rss.slice(-quarter)) / 1024;
    const p50 = median(latencies);
    console.log(
      `  ${requests} requests in ${seconds} s over ${connections} connections: ${errors} errors, ` +
        `${scanCount} scans, median latency ${p50.toFixed(1)} ms; server RSS ${early.toFixed(1)} MiB → ${late.toFixed(1)} MiB`,
    );
    const targets = [
      { name: 'zero errors', pass: errors === 0, detail: `${errors} of ${requests}` },
      {
        name: 'scans shared',
        pass: scanCount * 10 < requests,
        detail: `${scanCount} scans for ${requests} requests`,
      },
      {
        name: 'memory flat (last quarter within 20% of the first)',
        pass: late <= early * 1.2,
        detail: `${early.toFixed(1)} → ${late.toFixed(1)} MiB`,
      },
    ];
    console.log('Targets:');
    for (const t of targets) console.log(`  ${t.pass ? 'PASS' : 'MISS'}  ${t.name}: ${t.detail}`);
    return {
      ok: errors === 0,
      report: {
        schema: 'limbo.bench.serve/1',
        requests,
        errors,
        scans: scanCount,
        medianLatencyMs: p50,
        rssMiB: { early, late },
        targets,
      },
    };
  } finally {
    child.kill('SIGTERM');
  }
}

/**
 * A scraper on its own: `node -e SCRAPER URL DEADLINE` requests URL once a second until DEADLINE
 * (unix ms) and prints `{ metricsMs, errors }`, each request timed from its start to the body's last byte.
 */
const SCRAPER = `
const [url, deadline] = process.argv.slice(1);
// Node loads its HTTP client on the first fetch (hundreds of ms on a busy machine): a warm-up
// request, so the first scrape times the server and not that.
await (await fetch(new URL('/healthz', url))).text();
const metricsMs = [];
let errors = 0;
while (Date.now() < Number(deadline)) {
  const started = performance.now();
  try {
    const response = await fetch(url);
    await response.text();
    if (response.status !== 200) errors++;
  } catch {
    errors++;
  }
  metricsMs.push(performance.now() - started);
  await new Promise((r) => setTimeout(r, Math.max(0, 1000 - (performance.now() - started))));
}
process.stdout.write(JSON.stringify({ metricsMs, errors }));
`;

// ---------------------------------------------------------------------------------------
// Section: history (a day of history under ten dashboard clients, with a scraper)

/**
 * Starts `limbo serve` with 24 h of history at the default 5 s interval (17,280 samples written
 * to its state directory first), then, from its first scan on, for 20 s ten connections request
 * /api/history back to back while a scraper in a process of its own requests /metrics once a
 * second. Targets: /metrics p99 under 100 ms and the server's peak RSS (VmHWM) under 200 MiB.
 * The load average is printed and recorded: on a machine busy with other work, every process
 * here waits for a CPU, and the slowest of 20 scrapes shows it.
 */
async function sectionHistory(ctx) {
  const stateDir = join(ctx.workDir, 'history-state');
  mkdirSync(stateDir, { mode: 0o700 });
  const intervalMs = 5000;
  const now = Date.now();
  const samples = Array.from({ length: (24 * 3600 * 1000) / intervalMs }, (_, i) => ({
    t: now - (17_280 - i) * intervalMs,
    heldByMount: { '/': 1e9 + i, '/var': 2e8, '/home': 5e7, '(memfd)': 1.5e6, '/dev/shm': 4096 },
    handlesAllocated: 4000 + (i % 100),
    handlesMax: 2 ** 63,
    topFds: Object.fromEntries(
      Array.from({ length: 10 }, (_, k) => [`${1000 + k} process-${k}`, 100 * k + (i % 7)]),
    ),
    scanSeconds: 0.08,
  }));
  writeFileSync(join(stateDir, 'history.json'), JSON.stringify({ schema: 'limbo.history/1', samples }), {
    mode: 0o600,
  });
  const child = spawn(
    LIMBO[0],
    [...LIMBO.slice(1), 'serve', '--listen', '127.0.0.1:0', '--interval', '5', '--state-dir', stateDir],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  try {
    const url = await serveUrl(child);
    const peakMiB = () =>
      Number(/VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
    const first = await (await fetch(`${url}/api/history`)).text();
    // Timed from the first scan on: before it there is nothing to scrape but the wait for it.
    await (await fetch(`${url}/metrics`)).text();
    const seconds = 20;
    const deadline = Date.now() + seconds * 1000;
    // The scraper is a process of its own, as Prometheus is: in this one, its timer and its
    // responses would wait behind the ten clients' JSON (this process's event loop measured
    // a p99 delay of 95 ms, max 460 ms, while the server answered every /metrics in < 25 ms).
    const scraper = spawn(
      process.execPath,
      ['--input-type=module', '-e', SCRAPER, `${url}/metrics`, String(deadline)],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    const scraped = new Promise((resolve, reject) => {
      let out = '';
      scraper.stdout.on('data', (chunk) => (out += chunk));
      scraper.on('exit', (code) =>
        code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`scraper exited ${code}`)),
      );
    });
    let historyRequests = 0;
    let errors = 0;
    await Promise.all(
      Array.from({ length: 10 }, async () => {
        while (Date.now() < deadline) {
          try {
            const response = await fetch(`${url}/api/history`);
            await response.text();
            if (response.status !== 200) errors++;
          } catch {
            errors++;
          }
          historyRequests++;
        }
      }),
    );
    const { metricsMs, errors: scrapeErrors } = await scraped;
    errors += scrapeErrors;
    const sorted = [...metricsMs].sort((a, b) => a - b);
    const p99 = sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.99) - 1)];
    const peak = peakMiB();
    const load = loadavg()[0];
    console.log(
      `  /api/history: ${(first.length / 1024).toFixed(0)} KiB, ${historyRequests} requests in ${seconds} s over 10 connections; ` +
        `/metrics: ${metricsMs.length} scrapes, median ${median(metricsMs).toFixed(1)} ms, p99 ${p99.toFixed(1)} ms; ` +
        `${errors} errors; server peak RSS ${peak.toFixed(1)} MiB; load average ${load.toFixed(1)} on ${cpus().length} CPUs`,
    );
    const targets = [
      { name: 'zero errors', pass: errors === 0, detail: `${errors}` },
      { name: '/metrics p99 under 100 ms', pass: p99 < 100, detail: `${p99.toFixed(1)} ms` },
      { name: 'peak RSS under 200 MiB', pass: peak < 200, detail: `${peak.toFixed(1)} MiB` },
    ];
    console.log('Targets:');
    for (const t of targets) console.log(`  ${t.pass ? 'PASS' : 'MISS'}  ${t.name}: ${t.detail}`);
    return {
      ok: errors === 0,
      report: {
        schema: 'limbo.bench.history/1',
        historyBytes: first.length,
        historyRequests,
        scrapes: metricsMs.length,
        metricsMedianMs: median(metricsMs),
        metricsP99Ms: p99,
        peakRssMiB: peak,
        loadAverage: load,
        errors,
        targets,
      },
    };
  } finally {
    child.kill('SIGTERM');
  }
}

// ---------------------------------------------------------------------------------------
// Section: walk (limbo df PATH, a du-style walk, vs du -sx on a generated tree)

/**
 * Builds 200,000 small files (with some hard links) on a tmpfs of its own, so the walk covers
 * exactly the generated tree, then times `limbo df --json MOUNT` against `du -sx -B1 MOUNT`
 * and checks that both count the same bytes.
 */
async function sectionWalk(ctx) {
  const root = mkdtempSync(join(tmpdir(), 'limbo-bench-walk-'));
  const mnt = join(root, 'mnt');
  mkdirSync(mnt);
  spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=2g,nr_inodes=1m', 'limbo-bench-walk', mnt]);
  try {
    const files = 200_000;
    const perDir = 500;
    const started = performance.now();
    // A Python one-liner is far faster than 200,000 Node calls to build the tree.
    const build = spawnSync('python3', [
      '-c',
      `import os\nroot=${JSON.stringify(mnt)}\nfor d in range(${files / perDir}):\n p=os.path.join(root,'d%03d'%(d//20),'s%04d'%d)\n os.makedirs(p)\n for f in range(${perDir}):\n  fn=os.path.join(p,'f%d'%f)\n  open(fn,'wb').write(b'x'*((f*37)%9000))\n  if f%50==0: os.link(fn, fn+'.link')\n`,
    ]);
    if (build.status !== 0) throw new Error(`building the tree failed: ${build.stderr}`);
    console.log(
      `  tree: ${files} files (+${files / 50} hard links) on tmpfs at ${mnt}, built in ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );
    const timings = await measure(ctx, [
      tool('limbo df MOUNT', [...LIMBO, 'df', '--json', mnt]),
      tool('limbo df MOUNT (pure JS)', [...LIMBO, 'df', '--json', mnt], { env: { LIMBO_NO_NATIVE: '1' } }),
      tool('du -sx -B1', ['du', '-sx', '-B1', mnt]),
    ]);
    const limbo = JSON.parse(spawnSync(LIMBO[0], [...LIMBO.slice(1), 'df', '--json', mnt]).stdout.toString());
    const visible = limbo.filesystems[0]?.visible;
    const du = Number(spawnSync('du', ['-sx', '-B1', mnt]).stdout.toString().split('\t')[0]);
    console.log();
    printTable(timings);
    const [fast] = timings;
    const duTiming = timings[2];
    const targets = [
      {
        name: 'limbo df walk matches or beats du -sx',
        pass: fast.median <= duTiming.median,
        detail: `${fmtSec(fast.median)} vs ${fmtSec(duTiming.median)} (du/limbo = ${(duTiming.median / fast.median).toFixed(2)})`,
      },
    ];
    console.log();
    console.log('Targets:');
    for (const t of targets) console.log(`  ${t.pass ? 'PASS' : 'MISS'}  ${t.name}: ${t.detail}`);
    const ok = visible === du;
    console.log(
      `Correctness: limbo visible ${visible} bytes, du -sx -B1 ${du} bytes: ${ok ? 'PASS' : 'FAIL'}`,
    );
    return {
      ok,
      report: {
        schema: 'limbo.bench.walk/1',
        timings: timings.map(({ okStatus: _ok, ...rest }) => rest),
        targets,
        visible,
        du,
      },
    };
  } finally {
    spawnSync('umount', ['-l', mnt]);
    rmSync(root, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------
// Section: extents (the cost of FIEMAP on a deleted file with many extents)

/**
 * On an XFS (reflink=1) and a btrfs loop image of its own: a 64 MiB file reflinked from another,
 * then every other 4 KiB block rewritten, so it has about 16,384 extents, half shared. A `sleep`
 * holds it deleted. Times the addon's fileExtents through the holder's fd at limbo's cap and past
 * it, and `limbo deleted --json --pid` against the same holding a one-extent file.
 */
async function sectionExtents(ctx) {
  const { createRequire } = await import('node:module');
  const addon = createRequire(import.meta.url)(join(ROOT, 'build/Release/limbo_native.node'));
  const { EXTENT_WALK_MAX } = await import(join(ROOT, 'dist/proc/extent-sharing.js'));
  const report = { schema: 'limbo.bench.extents/1', filesystems: [] };
  let ok = true;
  for (const fs of [
    { fstype: 'xfs', mkfs: ['mkfs.xfs', '-q', '-f', '-m', 'reflink=1'] },
    { fstype: 'btrfs', mkfs: ['mkfs.btrfs', '-q', '-f'] },
  ]) {
    if (!which(fs.mkfs[0])) {
      console.log(`  ${fs.fstype}: ${fs.mkfs[0]} missing, skipped`);
      continue;
    }
    const root = mkdtempSync(join(tmpdir(), `limbo-bench-${fs.fstype}-`));
    const mnt = join(root, 'mnt');
    mkdirSync(mnt);
    const image = join(root, 'fs.img');
    spawnSync('truncate', ['-s', '512M', image]);
    spawnSync(fs.mkfs[0], [...fs.mkfs.slice(1), image], { stdio: 'ignore' });
    const mounted = spawnSync('mount', ['-o', 'loop', image, mnt]);
    const holders = [];
    const undo = onTeardown(() => {
      for (const h of holders) h.kill('SIGKILL');
      spawnSync('umount', ['-l', mnt]);
      rmSync(root, { recursive: true, force: true });
    });
    try {
      if (mounted.status !== 0) throw new Error(`mount ${fs.fstype}: ${mounted.stderr}`);
      const build = spawnSync('python3', [
        '-c',
        `import os,subprocess\nm=${JSON.stringify(mnt)}\nsrc=os.path.join(m,'src');open(src,'wb').write(os.urandom(64<<20))\nsubprocess.run(['cp','--reflink=always',src,m+'/many'],check=True)\nfd=os.open(m+'/many',os.O_RDWR)\nfor b in range(0,64<<20,8192): os.pwrite(fd,os.urandom(4096),b)\nos.fsync(fd);os.close(fd)\nopen(m+'/one','wb').write(os.urandom(64<<20))\nos.sync()\n`,
      ]);
      if (build.status !== 0) throw new Error(`building the files failed: ${build.stderr}`);
      const hold = (name) => {
        const fd = openSync(join(mnt, name), 'r');
        const child = spawn('sleep', ['100000'], { stdio: [fd, 'ignore', 'ignore'] });
        closeSync(fd);
        rmSync(join(mnt, name));
        holders.push(child);
        return child.pid;
      };
      const many = hold('many');
      const one = hold('one');
      const link = `/proc/${many}/fd/0`;
      const total = addon.fileExtents(link, 1 << 20).extents.length / 4;
      const time = (max) => {
        const walls = [];
        for (let i = 0; i < 21; i++) {
          const t0 = performance.now();
          addon.fileExtents(link, max);
          walls.push(performance.now() - t0);
        }
        return median(walls);
      };
      const atCap = time(EXTENT_WALK_MAX);
      const whole = time(1 << 20);
      console.log(
        `  ${fs.fstype}: ${total} extents; FIEMAP median ${atCap.toFixed(2)} ms for the first ${EXTENT_WALK_MAX} (limbo's cap), ${whole.toFixed(2)} ms for all`,
      );
      const timings = await measure(ctx, [
        tool(`limbo deleted (${fs.fstype}, ${total} extents)`, [
          ...LIMBO,
          'deleted',
          '--json',
          '--pid',
          String(many),
        ]),
        tool(`limbo deleted (${fs.fstype}, 1 extent)`, [...LIMBO, 'deleted', '--json', '--pid', String(one)]),
      ]);
      printTable(timings);
      const file = JSON.parse(
        spawnSync(LIMBO[0], [
          ...LIMBO.slice(1),
          'deleted',
          '--json',
          '--pid',
          String(many),
        ]).stdout.toString(),
      ).files[0];
      const capped =
        total > EXTENT_WALK_MAX ? file?.reclaimableUnknownReason === 'capped' : file?.reclaimable !== null;
      console.log(
        `  Correctness: reclaimable ${file?.reclaimable} (${file?.reclaimableUnknownReason ?? 'known'}): ${capped ? 'PASS' : 'FAIL'}`,
      );
      ok &&= capped;
      report.filesystems.push({
        fstype: fs.fstype,
        extents: total,
        fiemapMedianMs: { cap: EXTENT_WALK_MAX, atCap, whole },
        timings: timings.map(({ okStatus: _ok, ...rest }) => rest),
      });
    } finally {
      for (const h of holders) h.kill('SIGKILL');
      await Promise.all(
        holders.map((h) => (h.exitCode === null ? new Promise((r) => h.on('exit', r)) : null)),
      );
      spawnSync('umount', [mnt]);
      rmSync(root, { recursive: true, force: true });
      undo();
    }
  }
  return { ok, report };
}

// ---------------------------------------------------------------------------------------
// Section: fleet (what a fleet of nodes costs: series, bytes and CPU per scrape, Prometheus)

/** User plus system CPU seconds of a process (from /proc/PID/stat), or 0 once it has gone. */
function cpuSeconds(pid) {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8')
      .replace(/^.*\) /, '')
      .split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in USER_HZ (100)
  } catch {
    return 0;
  }
}

/** The pids of a process and its children (limbo serve scans in a child process). */
function processTree(pid) {
  let children = [];
  try {
    children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
  } catch {
    // gone
  }
  return [pid, ...children.map(Number).flatMap(processTree)];
}

/** Samples per metric family in a Prometheus text exposition. */
function seriesByMetric(body) {
  const counts = {};
  for (const line of body.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const name = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line)?.[0];
    if (name) counts[name] = (counts[name] ?? 0) + 1;
  }
  return counts;
}

async function promQuery(url, query) {
  const body = await (await fetch(`${url}/api/v1/query?query=${encodeURIComponent(query)}`)).json();
  if (body.status !== 'success') throw new Error(`${query}: ${body.error}`);
  return body.data.result;
}

/**
 * The cost of a fleet, in three parts, on the process load:
 * 1. one node: `limbo serve --top N` (N = 5, 20, 100) on this machine's /proc; series per metric
 *    and bytes per scrape, in both formats;
 * 2. the node's CPU at the DaemonSet's settings (--interval 15): CPU per scan (the scanning child)
 *    and per scrape answered (the server, 200 scrapes from the cached scan);
 * 3. Prometheus: a real one scrapes --targets simulated nodes every second, each serving the
 *    --top 20 body from part 1 under its own node label (one target at 1 s ingests what 30 nodes
 *    at the DaemonSet's 30 s do), with alerts.yml loaded; its CPU, memory per head series and
 *    each alert rule's evaluation time, read from its own metrics and /api/v1/rules.
 */
async function sectionFleet(ctx) {
  const prometheusBinary = which('prometheus');
  const nodes = [];
  const report = { schema: 'limbo.bench.fleet/1', node: {}, prometheus: null };

  // 1. Series and bytes per node, by --top.
  for (const top of [5, 20, 100]) {
    // In a mount namespace with this host's own mounts only: a hung FUSE mount another process
    // left behind would fail every scan.
    const child = spawn(
      'unshare',
      [
        '--mount',
        join(ROOT, 'test/fixtures/host-mounts-only.sh'),
        '',
        ...LIMBO,
        'serve',
        '--listen',
        '127.0.0.1:0',
        '--interval',
        '15',
        // Measured for cost, not speed: on a shared 2-core machine a 100,000-fd scan can pass the
        // default 10 s.
        '--scan-timeout',
        '120',
        '--top',
        String(top),
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    const undo = onTeardown(() => child.kill('SIGKILL'));
    try {
      const url = await serveUrl(child);
      const response = await fetch(`${url}/metrics`);
      const text = await response.text();
      if (response.status !== 200) throw new Error(`/metrics answered ${response.status}: ${text}`);
      const openMetrics = await (
        await fetch(`${url}/metrics`, { headers: { Accept: 'application/openmetrics-text; version=1.0.0' } })
      ).text();
      const byMetric = seriesByMetric(text);
      const series = Object.values(byMetric).reduce((a, b) => a + b, 0);
      const entry = {
        top,
        series,
        byMetric,
        bytes: { text: Buffer.byteLength(text), openMetrics: Buffer.byteLength(openMetrics) },
      };
      if (top === 20) {
        // 2. CPU at the DaemonSet's settings: scans (the child) and scrapes answered (the server).
        const tree = () => processTree(child.pid);
        const scansOf = async () =>
          Number(/^limbo_scans_total (\d+)$/m.exec(await (await fetch(`${url}/metrics`)).text())?.[1]);
        // Aligned on scan boundaries (the scanning child idles between scans): CPU over two scans.
        const scanCpu = () =>
          tree()
            .slice(1)
            .reduce((sum, pid) => sum + cpuSeconds(pid), 0);
        const nextScan = async (after) => {
          const deadline = Date.now() + 120_000;
          for (;;) {
            const count = await scansOf();
            if (count > after) return count;
            if (Date.now() > deadline) throw new Error('no scan in 120 s');
            await new Promise((resolve) => setTimeout(resolve, 200));
          }
        };
        const first = await nextScan(await scansOf());
        const cpuAtFirst = scanCpu();
        const last = await nextScan(await nextScan(first));
        const scans = last - first;
        const scanCpuSeconds = scanCpu() - cpuAtFirst;
        const serverCpu0 = cpuSeconds(child.pid);
        const scrapes = 200;
        for (let i = 0; i < scrapes; i++) await (await fetch(`${url}/metrics`)).text();
        const serverCpu = cpuSeconds(child.pid) - serverCpu0;
        entry.cpu = {
          scans,
          cpuSecondsPerScan: scanCpuSeconds / scans,
          cpuSecondsPerScrape: serverCpu / scrapes,
          scanDurationSeconds: Number(/^limbo_scan_duration_seconds (\S+)$/m.exec(text)?.[1]),
          // A scan reads every process on the machine, the load's and any other: its size then.
          fileHandlesAllocated: Number(/^limbo_file_handles_allocated (\S+)$/m.exec(text)?.[1]),
        };
        nodes.push({ text });
      }
      report.node[top] = entry;
      console.log(
        `  --top ${String(top).padStart(3)}: ${series} series, ${entry.bytes.text} bytes (text), ${entry.bytes.openMetrics} bytes (OpenMetrics)`,
      );
    } finally {
      child.kill('SIGTERM');
      undo();
    }
  }
  const cpu = report.node[20].cpu;
  console.log(
    `  node at --interval 15: ${cpu.cpuSecondsPerScan.toFixed(3)} CPU s per scan (${cpu.scans} scans), ` +
      `${(cpu.cpuSecondsPerScrape * 1000).toFixed(2)} CPU ms per scrape answered ` +
      `(the machine had ${cpu.fileHandlesAllocated} file handles allocated)`,
  );
  console.log('  series per metric at --top 20:');
  for (const [name, count] of Object.entries(report.node[20].byMetric))
    console.log(`    ${String(count).padStart(4)}  ${name}`);

  // 3. Prometheus scraping simulated nodes.
  if (!prometheusBinary) {
    console.log('  prometheus not installed: the Prometheus part is left out');
    return { ok: true, report };
  }
  const targets = ctx.options.targets;
  const body = nodes[0].text;
  const server = createHttpServer((_request, response) => {
    response.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' });
    response.end(body);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  onTeardown(() => server.close());
  const exporter = `127.0.0.1:${server.address().port}`;
  const dir = join(ctx.workDir, 'prometheus');
  mkdirSync(dir);
  writeFileSync(
    join(dir, 'prometheus.yml'),
    JSON.stringify({
      global: { scrape_interval: '1s', evaluation_interval: '1s' },
      rule_files: [join(ROOT, 'deploy/prometheus/alerts.yml')],
      scrape_configs: [
        {
          job_name: 'limbo',
          static_configs: Array.from({ length: targets }, (_, i) => ({
            targets: [exporter],
            labels: { node: `node-${i}` },
          })),
        },
      ],
    }),
  );
  const port = await new Promise((resolve) => {
    const probe = createNetServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
  const prometheus = spawn(
    prometheusBinary,
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'tsdb')}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    { stdio: 'ignore' },
  );
  onTeardown(() => prometheus.kill('SIGKILL'));
  const url = `http://127.0.0.1:${port}`;
  const seriesPerNode = report.node[20].series;
  const deadline = Date.now() + 60_000;
  for (;;) {
    const up = await promQuery(url, 'sum(up{job="limbo"})').catch(() => []);
    if (Number(up[0]?.value[1]) === targets) break;
    if (Date.now() > deadline) throw new Error('Prometheus did not scrape every simulated node');
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  await new Promise((resolve) => setTimeout(resolve, 10_000)); // past the first head growth
  // Prometheus's own metrics, read from its /metrics (no job scrapes it): a family's samples summed.
  const own = async () => {
    const text = await (await fetch(`${url}/metrics`)).text();
    return (name) =>
      [...text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))].reduce(
        (sum, match) => sum + Number(match[1]),
        0,
      );
  };
  const window = 30;
  const cpu0 = cpuSeconds(prometheus.pid);
  const samples0 = (await own())('prometheus_tsdb_head_samples_appended_total');
  // Each rule's last evaluation time, sampled once a second over the window: the median per rule.
  const evaluations = new Map();
  const groupDurations = [];
  for (let second = 0; second < window; second++) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const groups = (await (await fetch(`${url}/api/v1/rules`)).json()).data.groups;
    for (const group of groups) {
      groupDurations.push(group.evaluationTime);
      for (const rule of group.rules) {
        evaluations.set(rule.name, [...(evaluations.get(rule.name) ?? []), rule.evaluationTime]);
      }
    }
  }
  const cpu1 = cpuSeconds(prometheus.pid);
  const after = await own();
  const samples = after('prometheus_tsdb_head_samples_appended_total') - samples0;
  const headSeries = after('prometheus_tsdb_head_series');
  const rss = after('process_resident_memory_bytes');
  const heap = after('go_memstats_heap_inuse_bytes');
  const scrapeSeconds = Number(
    (await promQuery(url, 'avg(scrape_duration_seconds{job="limbo"})'))[0]?.value[1],
  );
  const rules = [...evaluations].map(([name, times]) => ({ name, medianEvaluationSeconds: median(times) }));
  const groupSeconds = median(groupDurations);
  prometheus.kill('SIGTERM');
  server.close();
  report.prometheus = {
    version: firstLine([prometheusBinary, '--version']),
    targets,
    seriesPerNode,
    scrapeInterval: '1s',
    windowSeconds: window,
    headSeries,
    samplesPerSecond: samples / window,
    cpuSecondsPerSecond: (cpu1 - cpu0) / window,
    cpuSecondsPerMillionSamples: ((cpu1 - cpu0) / samples) * 1e6,
    residentBytes: rss,
    heapInUseBytes: heap,
    residentBytesPerHeadSeries: rss / headSeries,
    avgScrapeDurationSeconds: scrapeSeconds,
    ruleGroupSeconds: groupSeconds,
    rules,
  };
  const p = report.prometheus;
  console.log(
    `  Prometheus, ${targets} simulated nodes at 1 s (${headSeries} head series): ${p.samplesPerSecond.toFixed(0)} samples/s, ` +
      `${p.cpuSecondsPerSecond.toFixed(3)} CPU s/s (${p.cpuSecondsPerMillionSamples.toFixed(1)} CPU s per million samples), ` +
      `RSS ${(rss / 2 ** 20).toFixed(0)} MiB (${(p.residentBytesPerHeadSeries / 1024).toFixed(1)} KiB per head series), ` +
      `scrape ${(scrapeSeconds * 1000).toFixed(1)} ms`,
  );
  console.log(
    `  alert rules (median of ${window} evaluations): the group ${(groupSeconds * 1000).toFixed(2)} ms; per rule:`,
  );
  for (const rule of rules)
    console.log(`    ${(rule.medianEvaluationSeconds * 1000).toFixed(3)} ms  ${rule.name}`);
  return { ok: true, report };
}

// ---------------------------------------------------------------------------------------
// Main

/** Sections that need no process load (they run before it is built). */
// ---------------------------------------------------------------------------------------
// Section: leaks (the leak detector's verdicts over a half-hour window, as limbo serve runs it)

/**
 * 1,000 series (one per process) of 361 samples each, a half hour at the 5 s interval, one in
 * ten growing; times `verdicts()` over them, the work each scan of `limbo serve` adds.
 * Target: under 1 s (median of --runs).
 */
async function sectionLeaks(ctx) {
  const { LeakDetector } = await import(join(ROOT, 'dist/serve/leak-detector.js'));
  const t0 = Date.UTC(2026, 0, 1);
  const times = [];
  let suspected = 0;
  for (let run = 0; run <= ctx.options.runs; run++) {
    const detector = new LeakDetector();
    for (let second = 0; second <= 1800; second += 5) {
      for (let i = 0; i < 1000; i++) {
        detector.observe(
          `pid ${i}`,
          'fds',
          t0 + second * 1000,
          i % 10 === 0 ? 100 + second / 10 : 100 + (i % 7),
        );
      }
    }
    const started = performance.now();
    suspected = detector.verdicts(t0 + 1800 * 1000).filter((v) => v.suspected).length;
    if (run > 0) times.push(performance.now() - started); // run 0 is the warm-up
  }
  const p50 = median(times);
  console.log(
    `  verdicts over 1,000 series x 361 samples: median ${p50.toFixed(1)} ms, ${suspected} suspected`,
  );
  const targets = [{ name: 'verdicts under 1 s', pass: p50 < 1000, detail: `${p50.toFixed(1)} ms` }];
  console.log('Targets:');
  for (const t of targets) console.log(`  ${t.pass ? 'PASS' : 'MISS'}  ${t.name}: ${t.detail}`);
  return {
    ok: suspected === 100,
    report: { schema: 'limbo.bench.leaks/1', series: 1000, samples: 361, medianMs: p50, suspected, targets },
  };
}

const WITHOUT_LOAD = new Set(['walk', 'extents', 'history', 'leaks']);

const SECTIONS = {
  deleted: sectionDeleted,
  handles: sectionHandles,
  serve: sectionServe,
  history: sectionHistory,
  walk: sectionWalk,
  extents: sectionExtents,
  leaks: sectionLeaks,
  fleet: sectionFleet,
};

async function main() {
  const options = parseOptions();
  if (process.getuid?.() !== 0) console.warn('bench: not root: the tools will not see every process');

  const workDir = mkdtempSync(join(tmpdir(), 'limbo-bench-'));
  onTeardown(() => rmSync(workDir, { recursive: true, force: true }));
  if (statSync(workDir).dev !== statSync('/').dev) {
    console.warn(`bench: ${tmpdir()} is not on the root filesystem; the load lives there anyway`);
  }
  const outDir = join(workDir, 'out');
  mkdirSync(outDir);
  // The tools under test get our environment minus anything that would change limbo's path.
  const env = { ...process.env };
  delete env.LIMBO_NO_NATIVE;
  const ctx = { options, workDir, outDir, env, rusage: compile('rusage'), loadBin: compile('load') };

  const host = {
    kernel: release(),
    cpus: cpus().length,
    node: process.version,
    lsof: which('lsof') ? lsofVersion() : null,
    lsfd: which('lsfd') ? firstLine(['lsfd', '-V']) : null,
    nativeAddon: mtime(join(ROOT, 'build/Release/limbo_native.node')) >= 0,
  };
  if (!host.nativeAddon) {
    console.warn('bench: build/Release/limbo_native.node is missing: limbo runs pure JS');
  }

  const { procs, files, deleted, bytes } = options;
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  let ok = true;
  const runSection = async (name) => {
    const runs = `${options.runs} run${options.runs === 1 ? '' : 's'}`;
    console.log(`\n== ${name}: ${runs} per tool (median), after one warm-up`);
    const result = await SECTIONS[name](ctx);
    ok &&= result.ok;
    mkdirSync(RESULTS, { recursive: true });
    const path = join(RESULTS, `${name}-${stamp}.json`);
    const load = ctx.load
      ? { procs, files, deleted, bytes, fds: procs * files, deletedFiles: ctx.load.deleted.size }
      : null;
    const report = { ...result.report, date: new Date().toISOString(), host, load, runs: options.runs };
    writeFileSync(path, `${JSON.stringify(report, null, 2)}\n`);
    console.log(`\nResults: ${path}`);
  };
  // Sections that measure something else than fds run first, on a machine without the load.
  for (const name of options.sections.filter((n) => WITHOUT_LOAD.has(n))) await runSection(name);
  const withLoad = options.sections.filter((n) => !WITHOUT_LOAD.has(n));
  if (withLoad.length === 0) return ok ? 0 : 1;

  console.log(
    `\nLoad: ${procs} processes x ${files} open files (${procs * files} fds), ${deleted} deleted per process ` +
      `(${procs * deleted} files of ${bytes} bytes), under ${workDir}`,
  );
  const started = performance.now();
  ctx.load = await startLoad(ctx, options);
  console.log(`Load ready in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  try {
    for (const name of withLoad) await runSection(name);
  } finally {
    await ctx.load.teardown();
    teardownSync();
  }
  return ok ? 0 : 1;
}

function lsofVersion() {
  const text = spawnSync('lsof', ['-v'], { encoding: 'utf8' }).stderr ?? '';
  return /revision: (\S+)/.exec(text)?.[1] ?? null;
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(`bench: ${error.stack ?? error}`);
    teardownSync();
    process.exit(1);
  },
);
