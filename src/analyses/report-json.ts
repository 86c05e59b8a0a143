import type { Report } from './report.js';
import { describeFinding } from './report-words.js';
import {
  array,
  constant,
  contract,
  enumOf,
  integer,
  nullable,
  object,
  optional,
  string,
  type Static,
} from '../format/json-schema.js';
import { incompleteToJson, scanIncompleteJsonSchema } from './incomplete-json.js';
import { scanSourceJsonSchema } from './source-json.js';

const reclaimableSchema = integer({
  minimum: 0,
  description:
    'What closing every holder frees: heldByDeleted less the blocks FIEMAP flags shared with other files or snapshots (XFS reflink, btrfs); files whose split is unknown count in full.',
});

/** The documented `limbo.report/1` JSON (docs/json.md). */
export const reportJsonSchema = contract(
  'limbo.report-1',
  'limbo --json (limbo.report/1)',
  object({
    schema: constant('limbo.report/1'),
    status: enumOf(['ok', 'warning', 'critical']),
    findings: array(
      object({
        severity: enumOf(['info', 'warning', 'critical']),
        kind: enumOf([
          'deleted-held',
          'process-fd-limit',
          'system-file-max',
          'shm-orphaned',
          'restart-needed',
          'mount-unanswered',
          'partial-view',
        ]),
        message: string(),
        command: nullable(string()),
      }),
    ),
    filesystems: array(
      object({
        mount: string(),
        fstype: string(),
        heldByDeleted: integer({ minimum: 0 }),
        reclaimable: optional(reclaimableSchema),
        heldByDeletedFiles: integer({ minimum: 0 }),
      }),
    ),
    heldByDeleted: integer({ minimum: 0 }),
    reclaimable: optional(reclaimableSchema),
    fileHandles: object({ allocated: nullable(integer()), max: nullable(integer()) }),
    restartProcesses: integer({ minimum: 0 }),
    orphanedShmBytes: integer({ minimum: 0 }),
    source: optional(scanSourceJsonSchema),
    incomplete: optional(scanIncompleteJsonSchema),
  }),
);

export type ReportJson = Static<typeof reportJsonSchema>;

/** Converts a report to the `limbo.report/1` contract. */
export function reportToJson(report: Report): ReportJson {
  return {
    schema: 'limbo.report/1',
    status: report.status,
    findings: report.findings.map((f) => ({ severity: f.severity, kind: f.kind, ...describeFinding(f) })),
    filesystems: report.filesystems.map((fs) => ({
      mount: fs.mount,
      fstype: fs.fstype,
      heldByDeleted: fs.heldByDeletedBytes,
      reclaimable: fs.reclaimableBytes,
      heldByDeletedFiles: fs.heldByDeletedFiles,
    })),
    heldByDeleted: report.heldByDeletedBytes,
    reclaimable: report.reclaimableBytes,
    fileHandles: report.fileHandles,
    restartProcesses: report.restartProcesses,
    orphanedShmBytes: report.orphanedShmBytes,
    incomplete: {
      unreadableProcesses: report.incomplete.unreadableProcesses,
      unreadablePids: report.incomplete.unreadablePids,
      ...incompleteToJson(report.incomplete),
    },
  };
}
