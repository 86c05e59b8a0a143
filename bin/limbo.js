#!/usr/bin/env node
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 20 || (major === 20 && minor < 19)) {
  process.stderr.write(`limbo needs Node.js 20.19 or newer; this is ${process.version}\n`);
  process.exit(1);
}
// A command that scans first thing starts its kernel walk before the CLI loads (src/cli/scan-early.ts).
const { startScanForArgv } = await import('../dist/cli/scan-early.js');
startScanForArgv(process.argv.slice(2));
const { runCli } = await import('../dist/cli.js');
runCli();
