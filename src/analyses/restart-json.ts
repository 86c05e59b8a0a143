import { base64JsonSchema, commBytesSchema, commToJson, devJsonSchema } from '../format/json-fields.js';
import { isUtf8 } from 'node:buffer';
import { inodeToJson } from './deleted-json.js';
import type { RestartReport } from './restart.js';
import {
  array,
  constant,
  contract,
  enumOf,
  integer,
  nullable,
  object,
  oneOf,
  optional,
  string,
  type Static,
} from '../format/json-schema.js';
import { incompleteToJson, scanIncompleteJsonSchema } from './incomplete-json.js';
import { scanSourceJsonSchema } from './source-json.js';

/** The documented `limbo.restart/1` JSON (docs/json.md). */
export const restartJsonSchema = contract(
  'limbo.restart-1',
  'limbo restart --json (limbo.restart/1)',
  object({
    schema: constant('limbo.restart/1'),
    processes: array(
      object({
        pid: integer({ minimum: 1 }),
        comm: string(),
        commBytes: optional(commBytesSchema),
        user: string(),
        uid: integer({ minimum: 0 }),
        unit: nullable(string()),
        container: nullable(string()),
        reasons: array(
          object({
            kind: enumOf(['exe', 'library', 'mapped']),
            path: string(),
            pathBytes: optional(base64JsonSchema),
            dev: devJsonSchema,
            inode: oneOf([integer({ minimum: 0 }), string({ pattern: '^[0-9]+$' })]),
            how: enumOf(['deleted', 'replaced']),
          }),
          { minItems: 1 },
        ),
      }),
    ),
    units: array(
      object({
        unit: nullable(string()),
        container: nullable(string()),
        pids: array(integer({ minimum: 1 }), { minItems: 1 }),
        command: nullable(string()),
        why: optional(
          string({
            description:
              'Why a container has no command: LXC, LXD or Incus not told apart by its monitor, a rootless or unprivileged container whose owner must restart it (the command in words), or containerd outside Kubernetes.',
          }),
        ),
        master: optional(
          nullable(
            integer({
              minimum: 1,
              description:
                'Outside a service or container: the top process of the family (a master and the workers it forked, same executable); restart from it.',
            }),
          ),
        ),
      }),
    ),
    source: optional(scanSourceJsonSchema),
    incomplete: scanIncompleteJsonSchema,
  }),
);

export type RestartJson = Static<typeof restartJsonSchema>;

/** Converts a report to the `limbo.restart/1` contract. */
export function restartReportToJson(report: RestartReport): RestartJson {
  return {
    schema: 'limbo.restart/1',
    processes: report.processes.map((p) => ({
      pid: p.pid,
      ...commToJson(p.comm),
      user: p.user,
      uid: p.uid,
      unit: p.unit,
      container: p.container,
      reasons: p.reasons.map((r) => ({
        kind: r.kind,
        path: r.name.toString('utf8'),
        ...(isUtf8(r.name) ? {} : { pathBytes: r.name.toString('base64') }),
        dev: r.dev,
        inode: inodeToJson(r.ino),
        how: r.how,
      })),
    })),
    units: report.groups.map((g) => ({
      unit: g.unit,
      container: g.container,
      pids: g.pids,
      command: g.command,
      ...(g.why === undefined ? {} : { why: g.why }),
      master: g.family?.topPid ?? null,
    })),
    incomplete: {
      unreadableProcesses: report.incomplete.unreadableProcesses,
      unreadablePids: report.incomplete.unreadablePids,
      ...incompleteToJson(report.incomplete),
    },
  };
}
