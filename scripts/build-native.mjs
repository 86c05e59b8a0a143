// Builds the optional native addon (native/limbo.c). limbo works without it, only slower,
// so a machine without a compiler still installs: a failed build is a warning, not an error.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

if (process.env.LIMBO_SKIP_NATIVE) {
  console.warn('limbo: LIMBO_SKIP_NATIVE is set; using the pure JavaScript scanner');
  process.exit(0);
}

function findNodeGyp() {
  const candidates = [
    process.env.npm_config_node_gyp,
    join(dirname(process.execPath), '../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js'),
  ];
  return candidates.find((path) => path && existsSync(path)) ?? null;
}

const nodeGyp = findNodeGyp();
if (!nodeGyp) {
  console.warn('limbo: node-gyp not found; using the pure JavaScript scanner (slower)');
  process.exit(0);
}
// Build against the headers installed beside this node when there are any, so no download is needed.
const localHeaders = join(dirname(process.execPath), '..');
const args = [nodeGyp, 'rebuild'];
if (!process.env.npm_config_nodedir && existsSync(join(localHeaders, 'include/node/node_api.h'))) {
  args.push(`--nodedir=${localHeaders}`);
}
const result = spawnSync(process.execPath, args, { stdio: 'inherit' });
if (result.status !== 0) {
  console.warn('limbo: the native addon did not build; using the pure JavaScript scanner (slower)');
}
