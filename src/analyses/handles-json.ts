import { commBytesSchema, commToJson } from '../format/json-fields.js';
import type { HandleReport } from './handles.js';
import {
  incompleteToJson,
  unreadableProcessesJsonSchema,
  vanishedProcessesJsonSchema,
  scannerJsonSchema,
  unansweredMountsJsonSchema,
} from './incomplete-json.js';
import { describeHandleWarning } from './handles-words.js';
import {
  array,
  boolean,
  constant,
  contract,
  enumOf,
  integer,
  nullable,
  number,
  object,
  optional,
  record,
  ref,
  string,
  type Static,
} from '../format/json-schema.js';
import { scanSourceJsonSchema } from './source-json.js';

const countSchema = integer({ minimum: 0 });
const countOrNullSchema = nullable(integer({ minimum: 0 }));
const countsSchema = record(integer({ minimum: 0 }));
/** The documented `limbo.handles/1` JSON (docs/json.md). */
export const handlesJsonSchema = contract(
  'limbo.handles-1',
  'limbo handles --json (limbo.handles/1)',
  object(
    {
      schema: constant('limbo.handles/1'),
      fileNr: object({
        allocated: ref('countOrNull', countOrNullSchema),
        max: ref('countOrNull', countOrNullSchema),
      }),
      nrOpen: ref('countOrNull', countOrNullSchema),
      ledger: object({
        descriptors: ref('count', countSchema),
        openFiles: ref('count', countSchema),
        openFilesExact: boolean(),
        unreadableDescriptors: optional(
          integer({
            minimum: 0,
            description:
              'Descriptors of processes whose fd links were refused: counted, their files unknown; kept out of unexplained.',
          }),
        ),
        mappings: ref('count', countSchema),
        mappingsExact: boolean(),
        shmSegments: ref('count', countSchema),
        shmAttachments: ref('count', countSchema),
        unexplained: nullable(integer()),
        fdsInFlight: ref('countOrNull', countOrNullSchema),
      }),
      byType: ref('counts', countsSchema),
      sockets: ref('counts', countsSchema),
      anonInodes: ref('counts', countsSchema),
      processes: array(
        object({
          pid: integer({ minimum: 1 }),
          startTicks: optional(
            nullable(
              integer({
                minimum: 0,
                description:
                  'When it started, in clock ticks since boot (/proc/PID/stat field 22): with the pid, one process, even once the pid is reused; null when unknown (a snapshot from before limbo read it).',
              }),
            ),
          ),
          comm: string(),
          commBytes: optional(commBytesSchema),
          user: string(),
          unit: nullable(string()),
          container: nullable(
            string({
              description:
                'Its container id (or name for LXC and systemd-nspawn), from its cgroup; null outside any container.',
            }),
          ),
          fds: ref('countOrNull', countOrNullSchema),
          openFiles: ref('countOrNull', countOrNullSchema),
          mappings: ref('countOrNull', countOrNullSchema),
          shmAttachments: ref('countOrNull', countOrNullSchema),
          limit: nullable(
            object({
              soft: ref('countOrNull', countOrNullSchema),
              hard: ref('countOrNull', countOrNullSchema),
            }),
          ),
          limitUsedPercent: nullable(number({ minimum: 0 })),
        }),
      ),
      warnings: array(
        object({
          kind: enumOf(['process-fd-limit', 'system-file-max']),
          pid: nullable(integer()),
          message: string(),
          fix: string(),
        }),
      ),
      source: optional(scanSourceJsonSchema),
      incomplete: object({
        unreadableProcesses: ref('count', countSchema),
        unreadablePids: array(integer()),
        processes: optional(unreadableProcessesJsonSchema),
        vanishedProcesses: optional(vanishedProcessesJsonSchema),
        scanner: optional(scannerJsonSchema),
        unansweredMounts: optional(unansweredMountsJsonSchema),
      }),
    },
    { definitions: { count: countSchema, countOrNull: countOrNullSchema, counts: countsSchema } },
  ),
);

export type HandlesJson = Static<typeof handlesJsonSchema>;

/** Converts a report to the `limbo.handles/1` contract; `limit` caps the processes listed (all by default). */
export function handleReportToJson(report: HandleReport, limit = Infinity): HandlesJson {
  const { ledger } = report;
  return {
    schema: 'limbo.handles/1',
    fileNr: { allocated: ledger.allocated, max: ledger.max },
    nrOpen: ledger.nrOpen,
    ledger: {
      descriptors: ledger.descriptors,
      openFiles: ledger.openFiles,
      openFilesExact: ledger.openFilesExact,
      unreadableDescriptors: ledger.unreadableDescriptors,
      mappings: ledger.mappings,
      mappingsExact: ledger.mappingsExact,
      shmSegments: ledger.shmSegments,
      shmAttachments: ledger.shmAttachments,
      unexplained: ledger.unexplained,
      fdsInFlight: ledger.fdsInFlight,
    },
    byType: report.byType,
    sockets: report.sockets,
    anonInodes: report.anonInodes,
    processes: report.processes.slice(0, limit).map((p) => ({
      pid: p.pid,
      startTicks: p.startTicks,
      ...commToJson(p.comm),
      user: p.user,
      unit: p.unit,
      container: p.container,
      fds: p.fds,
      openFiles: p.openFiles,
      mappings: p.mappings,
      shmAttachments: p.shmAttachments,
      limit: p.limit,
      limitUsedPercent: p.limitUsedPercent,
    })),
    warnings: report.warnings.map((w) => ({ kind: w.kind, pid: w.pid, ...describeHandleWarning(w) })),
    incomplete: {
      unreadableProcesses: report.incomplete.unreadableProcesses,
      unreadablePids: report.incomplete.unreadablePids,
      ...incompleteToJson(report.incomplete),
    },
  };
}
