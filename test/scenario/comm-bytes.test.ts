// A process whose name is not valid UTF-8: every JSON contract that shows its comm carries the
// exact bytes beside it as `commBytes` (base64), as `pathBytes` does for names.
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, unlinkSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { holderBinary, removeSegments, startHolder, type Holder } from '../helpers/holder.js';
import { runLimbo } from '../helpers/limbo.js';
import { assertMatchesSchema } from '../helpers/schema.js';

const isRoot = process.geteuid?.() === 0;
const comm = Buffer.from([0x68, 0x6f, 0x6c, 0x64, 0xff]); // "hold" + 0xff
const commBytes = comm.toString('base64');
let dir: string;
let mount: string;
let holder: Holder;

interface Named {
  readonly pid?: number;
  readonly comm?: string | null;
  readonly commBytes?: string;
}

/** Every object anywhere in `json` that names the holder's pid beside a comm. */
function namesOf(json: unknown, pid: number): Named[] {
  if (Array.isArray(json)) return json.flatMap((item) => namesOf(item, pid));
  if (json === null || typeof json !== 'object') return [];
  const self = (json as Named).pid === pid && 'comm' in json ? [json as Named] : [];
  return [...self, ...Object.values(json).flatMap((value) => namesOf(value, pid))];
}

function limboJson(args: string[], schema: string): unknown {
  const run = runLimbo([...args, '--json']);
  assert.equal(run.code, 0, run.stderr);
  const json = JSON.parse(run.stdout) as unknown;
  assertMatchesSchema(schema, json);
  return json;
}

before(async () => {
  if (!isRoot) return;
  dir = mkdtempSync(join(tmpdir(), 'limbo-comm-'));
  mount = join(dir, 'mnt');
  mkdirSync(mount);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'limbo-test', mount]);
  // A copy of the holder, deleted once it runs: `limbo restart` lists it too.
  const binary = join(dir, 'holder');
  copyFileSync(holderBinary, binary);
  holder = await startHolder(
    [
      'comm',
      `hex:${comm.toString('hex')}`,
      'create',
      `${mount}/gone`,
      '65536',
      'unlink',
      `${mount}/gone`,
      'create',
      `${mount}/kept`,
      '4096',
      'shm',
      '4096',
      '1',
    ],
    { binary },
  );
  unlinkSync(binary);
});

after(async () => {
  if (!isRoot) return;
  await holder?.stop();
  if (holder) removeSegments(holder);
  execFileSync('umount', ['-l', mount]);
  rmSync(dir, { recursive: true, force: true });
});

describe('commBytes beside every comm', { skip: !isRoot && 'mounts a tmpfs' }, () => {
  const cases: [string, () => string[], string][] = [
    ['limbo deleted', () => ['deleted', '--pid', String(holder.pid)], 'limbo.deleted-1'],
    ['limbo handles', () => ['handles'], 'limbo.handles-1'],
    ['limbo df', () => ['df', mount], 'limbo.df-1'],
    ['limbo links', () => ['links', `${mount}/kept`], 'limbo.links-1'],
    ['limbo shm', () => ['shm'], 'limbo.shm-1'],
    ['limbo restart', () => ['restart'], 'limbo.restart-1'],
    [
      'limbo reclaim',
      () => ['reclaim', `${holder.pid}:${holder.fds[0]}`, '--force', '--dry-run'],
      'limbo.reclaim-1',
    ],
    [
      'limbo close',
      () => ['close', `${holder.pid}:${holder.fds[0]}`, '--force', '--dry-run'],
      'limbo.close-1',
    ],
  ];
  for (const [name, args, schema] of cases) {
    it(`${name} --json`, () => {
      const named = namesOf(limboJson(args(), schema), holder.pid);
      assert.ok(named.length > 0, 'the holder is named');
      for (const entry of named) {
        assert.equal(entry.comm, comm.toString('utf8'));
        assert.equal(entry.commBytes, commBytes);
      }
    });
  }

  it('limbo shm --json: the creator’s comm too', () => {
    const json = limboJson(['shm'], 'limbo.shm-1') as {
      segments: { cpid: number; cpidComm: string | null; cpidCommBytes?: string }[];
    };
    const segment = json.segments.find((s) => s.cpid === holder.pid);
    assert.ok(segment, 'the holder’s segment is listed');
    assert.equal(segment.cpidCommBytes, commBytes);
  });

  it('limbo handles --json: a UTF-8 comm has no commBytes', () => {
    const json = limboJson(['handles'], 'limbo.handles-1') as { processes: Named[] };
    const node = json.processes.find((p) => p.pid === process.pid);
    assert.ok(node && node.commBytes === undefined);
  });
});
