// The suite under load, as a busy machine runs it: the README's test command (`npm test`) three
// times in a row while two CPU hogs and a process churner run beside it. A race that only shows
// when the scheduler is busy, or when processes come and go during a scan, shows here. The load
// is stopped (by pid, with its whole process group) whatever happens, and the exit code is the
// first failing run's.
//
//   npm run test:stress [-- WORD...]   WORDs are passed to each `npm test` run, as to npm test
import { spawn } from 'node:child_process';

const root = new URL('..', import.meta.url).pathname;
const RUNS = 3;
const words = process.argv.slice(2);

/** Starts a load process in its own process group, so stopping it takes its children too. */
function startLoad(name, script) {
  const child = spawn('sh', ['-c', script], { cwd: root, stdio: 'ignore', detached: true });
  console.log(`test:stress: started ${name} (pid ${child.pid})`);
  return { name, child };
}

const load = [
  // Two busy loops: every core the suite gets, it shares.
  startLoad('cpu hog 1', 'while :; do :; done'),
  startLoad('cpu hog 2', 'while :; do :; done'),
  // Short-lived processes, many per second, each holding a few fds: scans meet processes that
  // exit between listing /proc and reading their fd tables, or between the fd listing and kcmp.
  startLoad(
    'process churner',
    'while :; do for i in 1 2 3 4 5 6 7 8; do sleep 0.0$i < /dev/null & done; wait; done',
  ),
];

let stopped = false;
function stopLoad() {
  if (stopped) return;
  stopped = true;
  for (const { name, child } of load) {
    try {
      process.kill(-child.pid, 'SIGKILL');
      console.log(`test:stress: stopped ${name} (pid ${child.pid})`);
    } catch {
      // already gone
    }
  }
}
// The test run is awaited, not run synchronously, so that a signal is handled at once: the load
// and the run in progress (its whole process group) stop, instead of after the run ends.
let running = null;
process.on('exit', stopLoad);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    stopLoad();
    if (running) {
      try {
        process.kill(-running.pid, signal);
      } catch {
        // already gone
      }
    }
    process.exit(130);
  });
}

/** One `npm test` run in its own process group; resolves with its exit code. */
function runSuite() {
  return new Promise((resolve) => {
    running = spawn('npm', ['test', ...(words.length > 0 ? ['--', ...words] : [])], {
      cwd: root,
      stdio: 'inherit',
      detached: true,
    });
    running.once('exit', (code, signal) => {
      running = null;
      resolve(code ?? (signal ? 1 : 0));
    });
  });
}

let failed = 0;
for (let run = 1; run <= RUNS; run++) {
  console.log(`test:stress: run ${run} of ${RUNS}: npm test ${words.join(' ')}`);
  const started = Date.now();
  const code = await runSuite();
  const seconds = ((Date.now() - started) / 1000).toFixed(0);
  console.log(`test:stress: run ${run} ${code === 0 ? 'passed' : `failed (exit ${code})`} in ${seconds} s`);
  if (code !== 0 && failed === 0) failed = code;
}
stopLoad();
console.log(failed === 0 ? `test:stress: ${RUNS} of ${RUNS} runs passed under load` : 'test:stress: failed');
process.exitCode = failed;
