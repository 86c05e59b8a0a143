// Writes docs/schemas/*.schema.json from the contracts declared in src (built into dist first:
// `npm run schemas`). With --check it writes nothing and fails when a committed file differs
// from what its declaration produces, so the published schemas cannot drift from the types.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as prettier from 'prettier';

const root = new URL('..', import.meta.url).pathname;

/** Each published schema, and the module and export in dist that declare it. */
const CONTRACTS = [
  ['limbo.close-1', 'actions/close-json.js', 'closeJsonSchema'],
  ['limbo.deleted-1', 'analyses/deleted-json.js', 'deletedJsonSchema'],
  ['limbo.df-1', 'analyses/df-json.js', 'dfJsonSchema'],
  ['limbo.handles-1', 'analyses/handles-json.js', 'handlesJsonSchema'],
  ['limbo.links-1', 'analyses/links-json.js', 'linksJsonSchema'],
  ['limbo.reclaim-1', 'actions/reclaim-json.js', 'reclaimJsonSchema'],
  ['limbo.recover-1', 'actions/recover-json.js', 'recoverJsonSchema'],
  ['limbo.report-1', 'analyses/report-json.js', 'reportJsonSchema'],
  ['limbo.restart-1', 'analyses/restart-json.js', 'restartJsonSchema'],
  ['limbo.shm-1', 'analyses/shm-json.js', 'shmJsonSchema'],
  ['limbo.snapshot-1', 'snapshot/snapshot-json.js', 'snapshotJsonSchema'],
];

const check = process.argv.includes('--check');
const stale = [];
for (const [name, module, exported] of CONTRACTS) {
  const schema = (await import(join(root, 'dist', module)))[exported];
  if (!schema) throw new Error(`dist/${module} exports no ${exported}: run the build first`);
  const file = join(root, 'docs/schemas', `${name}.schema.json`);
  const options = { ...(await prettier.resolveConfig(file)), filepath: file };
  const text = await prettier.format(JSON.stringify(schema), options);
  let committed = null;
  try {
    committed = readFileSync(file, 'utf8');
  } catch {
    // a new contract: no file yet
  }
  if (committed === text) continue;
  stale.push(`docs/schemas/${name}.schema.json`);
  if (!check) writeFileSync(file, text);
}
if (check && stale.length > 0) {
  console.error(`schemas differ from their declarations (run npm run schemas): ${stale.join(', ')}`);
  process.exitCode = 1;
} else if (!check) {
  console.log(stale.length === 0 ? 'schemas: up to date' : `schemas: wrote ${stale.join(', ')}`);
}
