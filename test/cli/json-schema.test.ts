// The documented JSON schema (docs/schemas) and the real output must never drift apart.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { RestartJson } from '../../src/analyses/restart-json.js';
import { holderBinary, startHolder, type Holder } from '../helpers/holder.js';
import { limboDeleted, runLimbo } from '../helpers/limbo.js';
import { assertMatchesSchema } from '../helpers/schema.js';

const holders: Holder[] = [];
const dir = mkdtempSync(join(tmpdir(), 'limbo-schema-'));

after(async () => {
  await Promise.all(holders.map((holder) => holder.stop()));
  rmSync(dir, { recursive: true, force: true });
});

describe('JSON output matches its documented schema', () => {
  it('limbo deleted --json is valid limbo.deleted/1, with every kind and an invalid-UTF-8 name', async () => {
    const bad = `hex:${Buffer.concat([Buffer.from(`${dir}/bad-`), Buffer.from([0xff])]).toString('hex')}`;
    const holder = await startHolder([
      'create', bad, '4096', 'unlink', bad,
      'memfd', 'schema', '4096',
      'tmpfile', dir, '4096',
      'create', join(dir, 'mapped'), '4096', 'mmap', 'close', 'unlink', join(dir, 'mapped'),
    ]); // prettier-ignore
    holders.push(holder);
    const report = limboDeleted(['--pid', String(holder.pid)]);
    assert.deepEqual(new Set(report.files.map((f) => f.kind)), new Set(['file', 'memfd', 'tmpfile']));
    assert.ok(report.files.some((f) => f.pathBytes !== undefined));
    assertMatchesSchema('limbo.deleted-1', report);
  });

  it('limbo restart --json --all is valid limbo.restart/1, with exe, library and mapped reasons', async () => {
    const binary = join(dir, 'stale-binary');
    const library = join(dir, 'libstale.so');
    const data = join(dir, 'data.bin');
    copyFileSync(holderBinary, binary);
    writeFileSync(`${library}.c`, 'int stale(void) { return 1; }\n');
    execFileSync('cc', ['-shared', '-fPIC', '-o', library, `${library}.c`]);
    writeFileSync(data, Buffer.alloc(4096, 7));
    const holder = await startHolder(['dlopen', library, 'open', data, 'mmap', 'close'], { binary });
    holders.push(holder);
    for (const path of [binary, library, data]) unlinkSync(path);
    const run = runLimbo(['restart', '--json', '--all']);
    const report = JSON.parse(run.stdout) as RestartJson;
    const kinds = report.processes.find((p) => p.pid === holder.pid)?.reasons.map((r) => r.kind);
    assert.deepEqual(new Set(kinds), new Set(['exe', 'library', 'mapped']));
    assertMatchesSchema('limbo.restart-1', report);
  });
});
