// Shapes the three action contracts share: names as in limbo.deleted/1, holders, risks.
import { isUtf8 } from 'node:buffer';
import { inodeToJson } from '../analyses/deleted-json.js';
import { commBytesSchema, commToJson } from '../format/json-fields.js';
import {
  array,
  boolean,
  enumOf,
  integer,
  nullable,
  object,
  optional,
  string,
  type Static,
} from '../format/json-schema.js';
import { describeRisk, type FileHolder, type HolderRisk, type Via } from './holders.js';

export { inodeToJson };

/** `path` (lossy for display) plus `pathBytes` (exact, base64) when the name is not valid UTF-8. */
export function nameToJson(name: Buffer | null): { path: string | null; pathBytes?: string } {
  if (name === null) return { path: null };
  return isUtf8(name)
    ? { path: name.toString('utf8') }
    : { path: name.toString('utf8'), pathBytes: name.toString('base64') };
}

/** The descriptor or mapping an action reached a file through. */
export const viaJsonSchema = object({
  pid: integer({ minimum: 1 }),
  fd: nullable(integer({ minimum: 0 })),
  mapping: nullable(string({ pattern: '^[0-9a-f]+-[0-9a-f]+$' })),
});
export type ViaJson = Static<typeof viaJsonSchema>;

export function viaToJson(via: Via | null): ViaJson | null {
  if (via === null) return null;
  return via.kind === 'fd'
    ? { pid: via.pid, fd: via.fd, mapping: null }
    : { pid: via.pid, fd: null, mapping: via.range };
}

/** A process holding the file an action is about. */
export const holderJsonSchema = object({
  pid: integer({ minimum: 1 }),
  comm: string(),
  commBytes: optional(commBytesSchema),
  user: string(),
  unit: nullable(string()),
  container: nullable(
    string({
      description:
        'Its container id (64 hex digits; a name for LXC and systemd-nspawn), from its cgroup; null outside any.',
    }),
  ),
  fds: array(
    object({
      fd: integer({ minimum: 0 }),
      flags: nullable(
        string({
          description: 'open(2) flags from fdinfo, in octal as the kernel prints them; null when unreadable.',
          pattern: '^0[0-7]*$',
        }),
      ),
      offset: nullable(integer({ minimum: 0 })),
    }),
  ),
  mappings: integer({ minimum: 0 }),
});
export type HolderJson = Static<typeof holderJsonSchema>;

export function holderToJson(holder: FileHolder): HolderJson {
  return {
    pid: holder.pid,
    ...commToJson(holder.comm),
    user: holder.user,
    unit: holder.unit,
    container: holder.container,
    fds: holder.fds.map((fd) => ({
      fd: fd.fd,
      flags: fd.flags === null ? null : `0${fd.flags.toString(8)}`,
      offset: fd.offsetBytes,
    })),
    mappings: holder.mappings.length,
  };
}

/** What an action does to a holder. */
export const warningJsonSchema = object({
  kind: enumOf(['mapped', 'writer', 'reader']),
  pid: integer({ minimum: 1 }),
  comm: string(),
  commBytes: optional(commBytesSchema),
  fd: nullable(integer({ minimum: 0 })),
  offset: nullable(
    integer({
      description: 'writer: where its next write lands, the size the file grows back to.',
      minimum: 0,
    }),
  ),
  message: string(),
  advice: nullable(string()),
  code: optional(
    boolean({
      description: 'mapped: true when it maps the file executable (code): never truncated, restart it.',
    }),
  ),
});
export type WarningJson = Static<typeof warningJsonSchema>;

export function riskToJson(risk: HolderRisk): WarningJson {
  return {
    kind: risk.kind,
    pid: risk.pid,
    ...commToJson(risk.comm),
    fd: risk.fd,
    offset: risk.offsetBytes,
    message: describeRisk(risk),
    advice: risk.advice,
    code: risk.code,
  };
}
