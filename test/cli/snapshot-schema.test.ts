// One declaration per contract: the published schemas are what the declarations produce, and a
// snapshot read back with --from is checked against limbo.snapshot/1 before any analysis sees it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { findSchemaError } from '../../src/format/json-schema.js';
import { parseSnapshot, snapshotJsonSchema, stringifySnapshot } from '../../src/snapshot/snapshot-json.js';
import { startHolder, type Holder } from '../helpers/holder.js';
import { runLimbo } from '../helpers/limbo.js';
import { repoRoot } from '../helpers/paths.js';
import { assertMatchesSchema, publishedSchema } from '../helpers/schema.js';

const dir = mkdtempSync(join(tmpdir(), 'limbo-snapshot-schema-'));
let saved = '';
let text = '';
let holder: Holder | undefined;

before(async () => {
  // Hold a deleted file of our own: the cases below edit files[0], and a quiet machine may hold none.
  holder = await startHolder(['create', join(dir, 'held.log'), '8192', 'unlink', join(dir, 'held.log')]);
  saved = join(dir, 'snapshot.json');
  const run = runLimbo(['snapshot', '--handles', '--output', saved]);
  assert.equal(run.code, 0, run.stderr);
  text = readFileSync(saved, 'utf8');
});
after(async () => {
  await holder?.stop();
  rmSync(dir, { recursive: true, force: true });
});

type Json = Record<string, unknown> & {
  processes: Record<string, unknown>[];
  files: Record<string, unknown>[];
};

/** The saved snapshot, changed by `change`, written next to it. */
function broken(name: string, change: (snapshot: Json) => void, rewrite?: (text: string) => string): string {
  const snapshot = JSON.parse(text) as Json;
  change(snapshot);
  const path = join(dir, `${name}.json`);
  const out = JSON.stringify(snapshot);
  writeFileSync(path, rewrite ? rewrite(out) : out);
  return path;
}

describe('docs/schemas come from the declarations', () => {
  it('every committed schema file is what `npm run schemas` would write', () => {
    const run = spawnSync(process.execPath, [`${repoRoot}scripts/schemas.mjs`, '--check'], {
      encoding: 'utf8',
    });
    assert.equal(run.status, 0, run.stderr);
  });
});

describe('limbo.snapshot/1', () => {
  it('a real snapshot is valid against the published schema and round-trips unchanged', () => {
    assertMatchesSchema('limbo.snapshot-1', JSON.parse(text));
    assert.equal(findSchemaError(snapshotJsonSchema, JSON.parse(text)), null);
    assert.equal(`${stringifySnapshot(parseSnapshot(text))}\n`, text);
    const run = runLimbo(['deleted', '--json', '--from', saved]);
    assert.equal(run.code, 0, run.stderr);
  });

  it('a snapshot without the fields added within the version still loads', () => {
    const old = broken('old', (s) => {
      delete s['system'];
      delete s['shmSegments'];
      delete s['posixShm'];
      for (const p of s.processes) {
        delete p['handles'];
        delete p['fdLimit'];
        delete p['deletedExe'];
      }
    });
    const run = runLimbo(['deleted', '--json', '--from', old]);
    assert.equal(run.code, 0, run.stderr);
  });

  const fd = { fd: 'three', tid: null, fileKey: '0:1:2', name: 'x' };
  const cases: [string, (s: Json) => void, RegExp, ((t: string) => string)?][] = [
    ['missing field', (s) => delete s.processes[3]?.['comm'], /: processes\[3\]\.comm: missing$/m],
    ['negative size', (s) => (s.files[0] = { ...s.files[0], sizeBytes: -1 }), /: files\[0\]\.sizeBytes: expected a number ≥ 0$/m],
    ['string size', (s) => (s.files[0] = { ...s.files[0], sizeBytes: '4096' }), /: files\[0\]\.sizeBytes: expected integer$/m],
    [
      'size past any double (1e400)',
      (s) => (s.files[0] = { ...s.files[0], sizeBytes: 123456789 }),
      /: files\[0\]\.sizeBytes: expected integer$/m,
      (t) => t.replace('"sizeBytes":123456789', '"sizeBytes":1e400'),
    ],
    ['fd that is not an integer', (s) => (s.processes[3] = { ...s.processes[3], fds: [fd] }), /: processes\[3\]\.fds\[0\]\.fd: expected integer$/m],
    ['name that is neither text nor base64', (s) => (s.processes[0] = { ...s.processes[0], comm: 7 }), /: processes\[0\]\.comm: expected string, or expected object$/m],
    ['inode that is not decimal', (s) => (s.files[0] = { ...s.files[0], ino: '0x10' }), /: files\[0\]\.ino: expected a string matching/m],
  ]; // prettier-ignore
  for (const [what, change, message, rewrite] of cases) {
    it(`rejects a snapshot with a ${what}: exit 1, the field named, no stack`, () => {
      assert.ok(
        JSON.parse(text).files.length > 0 && JSON.parse(text).processes.length > 3,
        'a busy enough system',
      );
      const path = broken(what.replace(/\W+/g, '-'), change, rewrite);
      const run = runLimbo(['deleted', '--json', '--from', path]);
      assert.equal(run.code, 1);
      assert.ok(run.stderr.includes(`snapshot ${path}: `), run.stderr);
      assert.match(run.stderr, message);
      assert.doesNotMatch(run.stderr, /TypeError|\n\s+at /);
      // ajv, reading the published file, agrees that it is invalid.
      const data: unknown = JSON.parse(readFileSync(path, 'utf8'));
      assert.equal(publishedSchema('limbo.snapshot-1')(data), false);
    });
  }
});
