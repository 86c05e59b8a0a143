import { main } from './cli/main.js';

/** Entry point of the `limbo` binary: real streams in, exit code out. */
export function runCli(): void {
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(0); // `limbo | head` is not a failure
    throw error;
  });
  const io = { stdout: process.stdout, stderr: process.stderr, env: process.env };
  void main(process.argv.slice(2), io).then((code) => {
    process.exitCode = code;
  });
}
