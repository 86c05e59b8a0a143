// Deleted files on mounts whose points are not valid UTF-8: the exact bytes reach the totals and
// the JSON, and two mount points that read alike as text are never merged.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { findDeletedFiles } from '../../src/analyses/deleted.js';
import { deletedReportToJson } from '../../src/analyses/deleted-json.js';
import { buildReport } from '../../src/analyses/report.js';
import { describeFinding } from '../../src/analyses/report-words.js';
import { parseMountinfo } from '../../src/proc/mountinfo.js';
import { processRecord, snapshotRecord } from '../helpers/records.js';

// Two tmpfs mounts at /srv/\xff and /srv/\xfe (latin1 text, as limbo reads /proc), and / itself.
const mounts = parseMountinfo(
  [
    '27 1 254:0 / / rw - ext4 /dev/vda rw',
    '40 27 0:40 / /srv/\xff rw - tmpfs a rw',
    '41 27 0:41 / /srv/\xfe rw - tmpfs b rw',
  ].join('\n'),
);

const holder = processRecord(500, {
  comm: Buffer.from('writer'),
  fds: [
    { fd: 3, tid: null, fileKey: '0:40:7', name: Buffer.from('/srv/\xff/a.log', 'latin1') },
    { fd: 4, tid: null, fileKey: '0:41:7', name: Buffer.from('/srv/\xfe/b.log', 'latin1') },
  ],
});

const snapshot = snapshotRecord({
  processes: [holder],
  files: ['0:40', '0:41'].map((dev) => ({
    key: `${dev}:7`,
    dev,
    ino: 7n,
    nlink: 0,
    sizeBytes: 8192,
    allocatedBytes: 8192,
    mode: 0o100644,
  })),
  mountNamespaces: [{ id: 'mnt:[1]', mounts }],
});

describe('deleted files on mount points that are not UTF-8', () => {
  const report = findDeletedFiles(snapshot);

  it('keeps the two mounts apart in the totals, though their text is the same', () => {
    assert.equal(report.totals.byMount.length, 2);
    assert.deepEqual(report.totals.byMount.map((m) => [m.mount, m.mountBytes?.toString('latin1')]).sort(), [
      ['/srv/\ufffd', '/srv/\xfe'],
      ['/srv/\ufffd', '/srv/\xff'],
    ]);
  });

  it('publishes the exact bytes as mountBytes, beside the text, only where they are not UTF-8', () => {
    const json = deletedReportToJson(report);
    const bytes = json.files.map((f) => Buffer.from(f.mountBytes ?? '', 'base64').toString('latin1')).sort();
    assert.deepEqual(bytes, ['/srv/\xfe', '/srv/\xff']);
    assert.ok(json.totals.byMount.every((m) => m.mountBytes !== undefined));
    const utf8 = findDeletedFiles({
      ...snapshot,
      mountNamespaces: [{ id: 'mnt:[1]', mounts: parseMountinfo('40 27 0:40 / /srv/ok rw - tmpfs a rw') }],
    });
    assert.equal(deletedReportToJson(utf8).files[0]?.mountBytes, undefined);
  });

  it('gives the report one finding per mount, each naming its own bytes, escaped', () => {
    const messages = buildReport(snapshot)
      .findings.filter((f) => f.kind === 'deleted-held')
      .map((f) => describeFinding(f).message)
      .sort();
    assert.deepEqual(messages, [
      '/srv/\\xfe: 8.0 KiB held by 1 deleted file, the biggest by writer (pid 500)',
      '/srv/\\xff: 8.0 KiB held by 1 deleted file, the biggest by writer (pid 500)',
    ]);
  });
});
