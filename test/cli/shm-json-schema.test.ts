// limbo.shm/1: the documented JSON schema (docs/schemas) and the real output must never drift apart.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import type { ShmJson } from '../../src/analyses/shm-json.js';
import { startHolder, type Holder } from '../helpers/holder.js';
import { runLimbo } from '../helpers/limbo.js';
import { assertMatchesSchema } from '../helpers/schema.js';

const isRoot = process.geteuid?.() === 0;
const holders: Holder[] = [];
const created: number[] = [];
const devShm = Buffer.from(`/dev/shm/limbo-schema-${process.pid}-`);
const badName = Buffer.concat([devShm, Buffer.from([0xff, 0x0a])]);

after(async () => {
  await Promise.all(holders.map((holder) => holder.stop()));
  for (const id of created) {
    try {
      execFileSync('ipcrm', ['-m', String(id)], { stdio: 'ignore' });
    } catch {
      // freed with its last attacher
    }
  }
  rmSync(badName, { force: true });
});

function hex(bytes: Buffer): string {
  return `hex:${bytes.toString('hex')}`;
}

describe('limbo shm --json matches its documented schema', () => {
  it('is valid limbo.shm/1 with every status, an unmatched attach and odd /dev/shm names', async () => {
    const key = `0x6c73${Math.floor(Math.random() * 0x10000)
      .toString(16)
      .padStart(4, '0')}`;
    const orphan = await startHolder(['shmkey', key, '8192', '1']);
    created.push(...orphan.shmids);
    await orphan.stop();
    const live = await startHolder([
      'shm', '4096', '2',
      'shm', '4096', '1', 'shm-rm',
      'create', hex(badName), String(1024 * 1024),
      'create', hex(Buffer.concat([devShm, Buffer.from('gone-\xe9', 'latin1')])), '4096',
      'unlink', hex(Buffer.concat([devShm, Buffer.from('gone-\xe9', 'latin1')])),
    ]); // prettier-ignore
    holders.push(live);
    created.push(...live.shmids);
    if (isRoot) {
      // A segment in a fresh IPC namespace, numbered far from any the host hands out.
      const wrapper = [
        'unshare',
        '-i',
        'sh',
        '-c',
        'echo 1966080007 > /proc/sys/kernel/shm_next_id && exec "$0" "$@"',
      ];
      holders.push(await startHolder(['shmkey', '0x6c736e73', '4096', '1'], { wrapper }));
    }
    const run = runLimbo(['shm', '--json']);
    assert.equal(run.code, 0, run.stderr);
    const report = JSON.parse(run.stdout) as ShmJson;
    const statuses = new Set(
      report.segments
        .filter((s) => [...orphan.shmids, ...live.shmids].includes(s.shmid))
        .map((s) => s.status),
    );
    assert.deepEqual(statuses, new Set(['orphaned', 'attached', 'removed-attached']));
    assert.ok(report.posix.deleted.some((f) => f.pathBytes !== undefined));
    if (isRoot) assert.ok(report.unmatchedAttachments.length > 0);
    assertMatchesSchema('limbo.shm-1', report);
  });
});
