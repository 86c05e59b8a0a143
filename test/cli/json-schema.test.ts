// The documented JSON schema (docs/schemas) and the real output must never drift apart.
import assert from 'node:assert/strict';
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Ajv } from 'ajv';
import { startHolder, type Holder } from '../helpers/holder.js';
import { repoRoot } from '../helpers/paths.js';
import { limboDeleted } from '../helpers/limbo.js';

const holders: Holder[] = [];
const dir = mkdtempSync(join(tmpdir(), 'limbo-schema-'));

after(async () => {
  await Promise.all(holders.map((holder) => holder.stop()));
  rmSync(dir, { recursive: true, force: true });
});

function loadSchema(name: string): object {
  return JSON.parse(readFileSync(`${repoRoot}docs/schemas/${name}`, 'utf8')) as object;
}

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
    const validate = new Ajv({ strict: false }).compile(loadSchema('limbo.deleted-1.schema.json'));
    assert.ok(validate(report), JSON.stringify(validate.errors, null, 2));
  });
});
