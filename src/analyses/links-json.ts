import {
  base64JsonSchema,
  commBytesSchema,
  commToJson,
  devJsonSchema,
  inodeJsonSchema,
} from '../format/json-fields.js';
import { isUtf8 } from 'node:buffer';
import { inodeToJson } from './deleted-json.js';
import { unansweredMountsJsonSchema, unansweredMountsToJson } from './incomplete-json.js';
import { FILE_TYPES } from '../proc/file-mode.js';
import type { LinksReport } from './links.js';
import {
  array,
  boolean,
  constant,
  contract,
  enumOf,
  integer,
  nullType,
  nullable,
  number,
  object,
  oneOf,
  optional,
  ref,
  string,
  type Static,
} from '../format/json-schema.js';

const namesSchema = array(string(), {
  description: 'Every name found, in byte order, decoded as UTF-8.',
  minItems: 1,
});
const namesBytesSchema = array(oneOf([nullType(), ref('base64', base64JsonSchema)]), {
  description:
    "Present only when a name is not valid UTF-8: base64 of each name's exact bytes, null where the name is valid UTF-8; parallel to names.",
});
const linkLimitSchema = oneOf([integer({ minimum: 1 }), nullType()], {
  description:
    'The most links the filesystem allows; null when it has none or limbo does not know (linkLimitSource says which).',
});
/** The documented `limbo.links/1` JSON (docs/json.md). */
export const linksJsonSchema = contract(
  'limbo.links-1',
  'limbo links --json (limbo.links/1)',
  object(
    {
      schema: constant('limbo.links/1'),
      files: array(
        object({
          path: string(),
          pathBytes: optional(ref('base64', base64JsonSchema)),
          dev: ref('dev', devJsonSchema),
          inode: ref('inode', inodeJsonSchema),
          nlink: integer({ minimum: 0 }),
          type: enumOf(FILE_TYPES),
          size: integer({ minimum: 0 }),
          allocated: integer({ minimum: 0 }),
          fstype: nullable(string()),
          mount: nullable(string()),
          names: ref('names', namesSchema),
          namesBytes: optional(ref('namesBytes', namesBytesSchema)),
          namesOutside: integer({ minimum: 0 }),
          searched: nullable(string()),
          searchNote: nullable(string()),
          heldOpenBy: array(integer({ minimum: 1 })),
          holders: array(
            object({
              pid: integer({ minimum: 1 }),
              comm: string(),
              commBytes: optional(commBytesSchema),
              fds: array(integer({ minimum: 0 })),
              mappings: integer({ minimum: 0 }),
            }),
          ),
          freedByRemoving: integer({ minimum: 0 }),
          freedByRemovingAllNames: integer({ minimum: 0 }),
          linkLimit: ref('linkLimit', linkLimitSchema),
          linkLimitSource: string(),
        }),
      ),
      directories: array(
        object({
          path: string(),
          pathBytes: optional(ref('base64', base64JsonSchema)),
          dev: ref('dev', devJsonSchema),
          inode: ref('inode', inodeJsonSchema),
          nlink: integer({ minimum: 0 }),
          fstype: nullable(string()),
          mount: nullable(string()),
          subdirectories: nullable(integer({ minimum: 0 })),
          subdirectoriesImplied: nullable(integer({ minimum: 0 })),
          nlinkReliable: boolean(),
          nlinkRule: string(),
          linkLimit: ref('linkLimit', linkLimitSchema),
          linkLimitSource: string(),
        }),
      ),
      groups: array(
        object({
          dev: ref('dev', devJsonSchema),
          inode: ref('inode', inodeJsonSchema),
          nlink: integer({ minimum: 2 }),
          names: ref('names', namesSchema),
          namesBytes: optional(ref('namesBytes', namesBytesSchema)),
          namesOutside: integer({ minimum: 0 }),
          allocated: integer({ minimum: 0 }),
        }),
      ),
      backup: oneOf(
        [
          nullType(),
          object({
            root: string(),
            deduplicated: integer({ minimum: 0 }),
            withoutLinkDetection: integer({ minimum: 0 }),
          }),
        ],
        { description: 'With --groups: what a backup of the directory needs; null without --groups.' },
      ),
      walks: array(
        object({
          root: string(),
          purpose: enumOf(['names', 'groups']),
          milliseconds: number({ minimum: 0 }),
          files: integer({ minimum: 0 }),
          directories: integer({ minimum: 0 }),
          errors: integer({ minimum: 0 }),
        }),
      ),
      incomplete: object({
        unreadableProcesses: integer({ minimum: 0 }),
        unreadablePids: array(integer()),
        walkErrors: integer({ minimum: 0 }),
        unansweredMounts: optional(unansweredMountsJsonSchema),
      }),
    },
    {
      definitions: {
        dev: devJsonSchema,
        inode: inodeJsonSchema,
        base64: base64JsonSchema,
        names: namesSchema,
        namesBytes: namesBytesSchema,
        linkLimit: linkLimitSchema,
      },
    },
  ),
);

export type LinksJson = Static<typeof linksJsonSchema>;

/** Converts a report to the `limbo.links/1` contract. */
export function linksReportToJson(report: LinksReport): LinksJson {
  return {
    schema: 'limbo.links/1',
    files: report.files.map((f) => ({
      ...pathToJson(f.path),
      dev: f.dev,
      inode: inodeToJson(f.ino),
      nlink: f.nlink,
      type: f.type,
      size: f.sizeBytes,
      allocated: f.allocatedBytes,
      fstype: f.fstype,
      mount: f.mountPoint,
      ...namesToJson(f.names),
      namesOutside: f.namesOutside,
      searched: f.search?.root ?? null,
      searchNote: f.searchNote,
      heldOpenBy: f.holders.map((h) => h.pid),
      holders: f.holders.map((h) => ({
        pid: h.pid,
        ...commToJson(h.comm),
        fds: h.fds,
        mappings: h.mappings,
      })),
      freedByRemoving: f.freedByRemovingBytes,
      freedByRemovingAllNames: f.freedByRemovingAllNamesBytes,
      linkLimit: f.linkLimit.max,
      linkLimitSource: f.linkLimit.source,
    })),
    directories: report.directories.map((d) => ({
      ...pathToJson(d.path),
      dev: d.dev,
      inode: inodeToJson(d.ino),
      nlink: d.nlink,
      fstype: d.fstype,
      mount: d.mountPoint,
      subdirectories: d.subdirectories,
      subdirectoriesImplied: d.subdirectoriesImplied,
      nlinkReliable: d.nlinkReliable,
      nlinkRule: d.nlinkRule,
      linkLimit: d.linkLimit.max,
      linkLimitSource: d.linkLimit.source,
    })),
    groups: (report.groups?.groups ?? []).map((g) => ({
      dev: g.dev,
      inode: inodeToJson(g.ino),
      nlink: g.nlink,
      ...namesToJson(g.names),
      namesOutside: g.namesOutside,
      allocated: g.allocatedBytes,
    })),
    backup: report.groups
      ? {
          root: report.groups.root,
          deduplicated: report.groups.deduplicatedBytes,
          withoutLinkDetection: report.groups.withoutLinkDetectionBytes,
        }
      : null,
    walks: report.walks.map((w) => ({
      root: w.root,
      purpose: w.purpose,
      milliseconds: w.milliseconds,
      files: w.files,
      directories: w.directories,
      errors: w.errors,
    })),
    incomplete: {
      unreadableProcesses: report.incomplete.unreadableProcesses,
      unreadablePids: report.incomplete.unreadablePids,
      walkErrors: report.incomplete.walkErrors,
      // Only when a mount did not answer: the field is new within limbo.links/1.
      ...(report.incomplete.unansweredMounts.length > 0
        ? { unansweredMounts: unansweredMountsToJson(report.incomplete.unansweredMounts) }
        : {}),
    },
  };
}

/** `path`, plus `pathBytes` (base64) when the bytes are not valid UTF-8, as in limbo.deleted/1. */
function pathToJson(path: Buffer): { path: string; pathBytes?: string } {
  return isUtf8(path)
    ? { path: path.toString('utf8') }
    : { path: path.toString('utf8'), pathBytes: path.toString('base64') };
}

/** `names`, plus a parallel `namesBytes` (base64, or null for a valid name) when any name is not UTF-8. */
function namesToJson(names: readonly Buffer[]): { names: string[]; namesBytes?: (string | null)[] } {
  const strings = names.map((n) => n.toString('utf8'));
  if (names.every((n) => isUtf8(n))) return { names: strings };
  return { names: strings, namesBytes: names.map((n) => (isUtf8(n) ? null : n.toString('base64'))) };
}
