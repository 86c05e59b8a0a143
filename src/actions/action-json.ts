// Shapes the three action contracts share: names as in limbo.deleted/1, holders, risks.
import { isUtf8 } from 'node:buffer';
import { inodeToJson } from '../analyses/deleted-json.js';
import { describeRisk, type FileHolder, type HolderRisk, type Via } from './holders.js';

export { inodeToJson };

/** `path` (lossy for display) plus `pathBytes` (exact, base64) when the name is not valid UTF-8. */
export function nameToJson(name: Buffer | null): { path: string | null; pathBytes?: string } {
  if (name === null) return { path: null };
  return isUtf8(name)
    ? { path: name.toString('utf8') }
    : { path: name.toString('utf8'), pathBytes: name.toString('base64') };
}

export interface ViaJson {
  readonly pid: number;
  readonly fd: number | null;
  readonly mapping: string | null;
}

export function viaToJson(via: Via | null): ViaJson | null {
  if (via === null) return null;
  return via.kind === 'fd'
    ? { pid: via.pid, fd: via.fd, mapping: null }
    : { pid: via.pid, fd: null, mapping: via.range };
}

export interface HolderJson {
  readonly pid: number;
  readonly comm: string;
  readonly user: string;
  readonly unit: string | null;
  readonly fds: readonly {
    readonly fd: number;
    readonly flags: string | null;
    readonly offset: number | null;
  }[];
  readonly mappings: number;
}

export function holderToJson(holder: FileHolder): HolderJson {
  return {
    pid: holder.pid,
    comm: holder.comm.toString('utf8'),
    user: holder.user,
    unit: holder.unit,
    fds: holder.fds.map((fd) => ({
      fd: fd.fd,
      flags: fd.flags === null ? null : `0${fd.flags.toString(8)}`,
      offset: fd.offsetBytes,
    })),
    mappings: holder.mappings.length,
  };
}

export interface WarningJson {
  readonly kind: 'mapped' | 'writer';
  readonly pid: number;
  readonly comm: string;
  readonly fd: number | null;
  readonly offset: number | null;
  readonly message: string;
  readonly advice: string | null;
}

export function riskToJson(risk: HolderRisk): WarningJson {
  return {
    kind: risk.kind,
    pid: risk.pid,
    comm: risk.comm.toString('utf8'),
    fd: risk.fd,
    offset: risk.offsetBytes,
    message: describeRisk(risk),
    advice: risk.advice,
  };
}
