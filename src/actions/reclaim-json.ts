import { DELETED_KINDS } from '../analyses/choices.js';
import { base64JsonSchema, devJsonSchema, inodeJsonSchema } from '../format/json-fields.js';
import {
  holderToJson,
  inodeToJson,
  nameToJson,
  riskToJson,
  viaToJson,
  holderJsonSchema,
  viaJsonSchema,
  warningJsonSchema,
} from './action-json.js';
import {
  array,
  boolean,
  constant,
  contract,
  enumOf,
  integer,
  nullable,
  nullType,
  object,
  oneOf,
  optional,
  ref,
  string,
  type Static,
} from '../format/json-schema.js';
import type { ReclaimReport } from './reclaim.js';

const viaSchema = nullable(viaJsonSchema);
/** The documented `limbo.reclaim/1` JSON (docs/json.md, docs/schemas/limbo.reclaim-1.schema.json). */
export const reclaimJsonSchema = contract(
  'limbo.reclaim-1',
  'limbo reclaim --json (limbo.reclaim/1)',
  object(
    {
      schema: constant('limbo.reclaim/1'),
      dryRun: boolean(),
      results: array(
        object({
          target: string(),
          dev: nullable(devJsonSchema),
          inode: oneOf([ref('inode', inodeJsonSchema), nullType()]),
          path: nullable(string()),
          pathBytes: optional(base64JsonSchema),
          kind: enumOf([...DELETED_KINDS, null]),
          status: enumOf(['truncated', 'refused', 'skipped']),
          reason: nullable(string()),
          expectedBytes: integer({
            minimum: 0,
            description:
              'What truncating it frees: st_blocks × 512 less the blocks FIEMAP flags shared with other files or snapshots (XFS reflink, btrfs), which stay in use; all of st_blocks when sharedBytes is null (an upper bound).',
          }),
          sharedBytes: optional(
            nullable(
              integer({
                minimum: 0,
                description:
                  'Its blocks shared with other files or snapshots, freed by no truncation; 0 where the filesystem cannot share extents; null when unknown.',
              }),
            ),
          ),
          freedBytes: integer({
            minimum: 0,
            description: 'What the filesystem got back from it: expectedBytes less st_blocks × 512 after.',
          }),
          size: integer({ minimum: 0 }),
          sizeAfter: nullable(integer({ minimum: 0 })),
          via: ref('via', viaSchema),
          holders: array(ref('holder', holderJsonSchema)),
          warnings: array(ref('warning', warningJsonSchema)),
          decision: optional(
            nullable(
              object({
                verdict: enumOf(['truncate', 'needs-force', 'never'], {
                  description:
                    'truncate: every holder only appends and nothing maps it; needs-force: a holder loses data, crashes or regrows a hole, or the file is durable program state; never: mapped as code.',
                }),
                reasons: array(
                  object({
                    code: enumOf([
                      'appenders-only',
                      'mapped-code',
                      'durable-state',
                      'reads-data',
                      'flags-unknown',
                      'mapped',
                      'writes-at-offset',
                    ]),
                    pid: nullable(integer({ minimum: 1 })),
                    fd: nullable(integer({ minimum: 0 })),
                    message: string(),
                  }),
                ),
                durableState: nullable(object({ program: string(), what: string(), safeStep: string() })),
              }),
            ),
          ),
          release: optional(
            array(
              object({
                kind: enumOf(['reopen', 'restart', 'terminate']),
                command: nullable(
                  string({ description: 'A shell command to paste; null when there is none to give.' }),
                ),
                message: string(),
                pids: array(integer({ minimum: 1 })),
                loses: nullable(string()),
              }),
            ),
          ),
          recoverFirst: optional(
            nullable(
              string({
                description:
                  'Truncation destroys the content: the limbo recover command that keeps a copy first, when the file is not a log.',
              }),
            ),
          ),
        }),
      ),
      covers: optional(
        nullable(
          object(
            {
              dev: devJsonSchema,
              mount: string(),
              fstype: nullable(string()),
              mountNamespace: optional(
                string({
                  description:
                    "The mount namespace mount is in, when not limbo's own (--mount /proc/PID/root/MOUNTPOINT).",
                }),
              ),
            },
            { description: 'The filesystem --mount or --filesystem-of chose files on; null without one.' },
          ),
        ),
      ),
      filesystems: array(
        object({
          dev: devJsonSchema,
          mount: nullable(string()),
          fstype: nullable(string()),
          freeBefore: nullable(integer({ minimum: 0 })),
          freeAfter: nullable(integer({ minimum: 0 })),
          freedBytes: nullable(integer()),
          expectedBytes: integer({
            minimum: 0,
            description:
              "Sum of the truncated files' expectedBytes: blocks shared with other files are not expected back.",
          }),
        }),
      ),
    },
    {
      definitions: {
        inode: inodeJsonSchema,
        holder: holderJsonSchema,
        warning: warningJsonSchema,
        via: viaSchema,
      },
    },
  ),
);

export type ReclaimJson = Static<typeof reclaimJsonSchema>;

/** Converts a report to the `limbo.reclaim/1` contract. */
export function reclaimReportToJson(report: ReclaimReport): ReclaimJson {
  return {
    schema: 'limbo.reclaim/1',
    dryRun: report.dryRun,
    results: report.results.map((result) => ({
      target: result.target,
      dev: result.dev,
      inode: result.ino === null ? null : inodeToJson(result.ino),
      ...nameToJson(result.name),
      kind: result.kind,
      status: result.status,
      reason: result.reason,
      expectedBytes: result.expectedBytes,
      sharedBytes: result.sharedBytes,
      freedBytes: result.freedBytes,
      size: result.sizeBytes,
      sizeAfter: result.sizeAfterBytes,
      via: viaToJson(result.via),
      holders: result.holders.map(holderToJson),
      warnings: result.risks.map(riskToJson),
      decision:
        result.truncation === null
          ? null
          : {
              verdict: result.truncation.decision,
              reasons: result.truncation.reasons.map((reason) => ({
                code: reason.code,
                pid: reason.pid,
                fd: reason.fd,
                message: reason.text,
              })),
              durableState: result.truncation.durableState,
            },
      release: result.steps.map((step) => ({
        kind: step.kind,
        command: step.command,
        message: step.text,
        pids: [...step.pids],
        loses: step.loses,
      })),
      recoverFirst: result.recoverFirst,
    })),
    covers: report.covers
      ? {
          dev: report.covers.dev,
          mount: report.covers.mountPoint,
          fstype: report.covers.fstype,
          ...(report.covers.mountNamespace ? { mountNamespace: report.covers.mountNamespace } : {}),
        }
      : null,
    filesystems: report.filesystems.map((fs) => ({
      dev: fs.dev,
      mount: fs.mount,
      fstype: fs.fstype,
      freeBefore: fs.availableBeforeBytes,
      freeAfter: fs.availableAfterBytes,
      freedBytes:
        fs.availableBeforeBytes === null || fs.availableAfterBytes === null
          ? null
          : fs.availableAfterBytes - fs.availableBeforeBytes,
      expectedBytes: fs.expectedBytes,
    })),
  };
}
