import { silentMountOfPath } from '../actions/mount-guard.js';
import { describeUnansweredMount, describeUnansweredTarget } from '../analyses/incomplete-words.js';
import { mountTimeoutMsOf } from './load-snapshot.js';
import {
  analyzeLinks,
  type DirectoryLinks,
  type FileLinks,
  type GroupsReport,
  type LinkLimit,
  type LinksReport,
  type ObservedWalk,
} from '../analyses/links.js';
import { linksReportToJson } from '../analyses/links-json.js';
import { paletteFor, type Palette } from '../format/color.js';
import { escapeName, quote } from '../format/escape.js';
import { formatBytes } from '../format/size.js';
import { LimboError } from '../core/errors.js';
import type { InodeHolder } from '../proc/inode-holders.js';
import { observeLinks } from '../walk/find-links.js';
import type { Io } from './io.js';
import type { ValuesOf } from './options.js';
import type { linksSpec } from './specs/links.js';

const MAX_NAMES_SHOWN = 20;
const MAX_GROUPS_SHOWN = 20;

/** `limbo links PATH...` and `limbo links --groups DIR`. */
export async function runLinks(values: ValuesOf<typeof linksSpec>, io: Io, paths: string[]): Promise<number> {
  if (values.from !== undefined) {
    throw usage('--from cannot be used: links looks at the live filesystem');
  }
  const { groups, within } = values;
  if (paths.length === 0 && groups === undefined) throw usage('give a PATH to explain, or --groups DIR');
  // A path on a FUSE or network mount that does not answer is refused before anything stats it.
  const guard = { procRoot: values.proc, timeoutMs: mountTimeoutMsOf(values) };
  // A PATH is lstat-ed (a symlink is explained itself); --groups and --within are followed.
  const asked = [
    ...paths.map((path) => ({ path, followLast: false })),
    ...[groups, within].filter((dir) => dir !== undefined).map((path) => ({ path, followLast: true })),
  ];
  for (const { path, followLast } of asked) {
    const silent = silentMountOfPath(path, { ...guard, followLast });
    if (silent) {
      const what = quote(path);
      throw new LimboError('io', `limbo links: ${describeUnansweredTarget(what, silent)}`);
    }
  }
  const progress = io.stderr.isTTY === true && !values.json;
  let observed;
  try {
    observed = await observeLinks({
      paths,
      ...(groups === undefined ? {} : { groups }),
      ...(within === undefined ? {} : { within }),
      procRoot: values.proc,
      mountTimeoutMs: guard.timeoutMs,
      ...(progress
        ? {
            onProgress: (root: string, files: number) =>
              io.stderr.write(
                `\r\x1b[Kwalking ${escapeName(Buffer.from(root))}: ${files.toLocaleString('en-US')} files`,
              ),
          }
        : {}),
    });
  } catch (error) {
    if (error instanceof LimboError) throw new LimboError(error.code, `limbo links: ${error.message}`);
    throw error;
  } finally {
    if (progress) io.stderr.write('\r\x1b[K');
  }
  for (const problem of observed.problems) {
    io.stderr.write(`limbo links: cannot stat '${escapeName(problem.path)}': ${problem.code}\n`);
  }
  const report = analyzeLinks(observed.observation);
  if (values.json) io.stdout.write(`${JSON.stringify(linksReportToJson(report), null, 2)}\n`);
  else {
    io.stdout.write(
      renderLinks(report, paletteFor(io.stdout, io.env), values.all ? Infinity : MAX_NAMES_SHOWN),
    );
  }
  return observed.problems.length > 0 ? 1 : 0;
}

function usage(message: string): LimboError {
  return new LimboError('usage', `limbo links: ${message}`);
}

/** Files, then directories, then groups: one block each, and what limbo could not see. */
export function renderLinks(report: LinksReport, c: Palette, limit = MAX_NAMES_SHOWN): string {
  const blocks: string[][] = [
    ...report.files.map((f) => renderFile(f, c, limit, report.incomplete.unreadableProcesses)),
    ...report.directories.map((d) => renderDirectory(d, c)),
  ];
  if (report.groups)
    blocks.push(renderGroups(report.groups, c, limit === Infinity ? Infinity : MAX_GROUPS_SHOWN, limit));
  const notes: string[] = [];
  const { unreadableProcesses, scannerUid, walkErrors, unansweredMounts } = report.incomplete;
  if (unreadableProcesses > 0 && report.files.length > 0) {
    const count = `${unreadableProcesses} ${plural(unreadableProcesses, 'process', 'processes')}`;
    const hint = scannerUid === 0 ? 'denied even to root' : 'run as root to see all';
    notes.push(c.yellow(`Partial view: ${count} could not be read for holders: ${hint}.`));
  }
  if (walkErrors > 0) {
    const hint = scannerUid === 0 ? '' : ' (run as root)';
    notes.push(
      c.yellow(
        `${walkErrors} ${plural(walkErrors, 'entry', 'entries')} could not be read during the walks${hint}.`,
      ),
    );
  }
  // Only fds on another filesystem were skipped (a path on a silent mount is refused first): named, not guessed at.
  for (const m of unansweredMounts) notes.push(c.yellow(describeUnansweredMount(m)));
  if (notes.length > 0) blocks.push(notes);
  return `${blocks.map((b) => b.join('\n')).join('\n\n')}\n`;
}

/** `unread`: processes whose fds limbo could not read; one of them may hold the file unseen. */
function renderFile(f: FileLinks, c: Palette, limit: number, unread: number): string[] {
  const name = escapeName(f.path);
  const lines = [
    c.bold(name),
    `  ${describeType(f.type)}, inode ${f.ino} on ${f.dev}${where(f.fstype, f.mountPoint)}, ${formatBytes(f.allocatedBytes)} allocated`,
  ];
  const others = f.names.filter((n) => !n.equals(f.path));
  if (f.nlink <= 1) {
    lines.push(`  ${f.nlink} link: this is its only name`);
  } else if (f.search) {
    lines.push(
      `  ${f.nlink.toLocaleString('en-US')} links; ${others.length.toLocaleString('en-US')} other ${plural(others.length, 'name')} found ${describeWalk(f.search)}${others.length > 0 ? ':' : ''}`,
    );
    lines.push(...others.slice(0, limit).map((n) => `    ${escapeName(n)}`));
    if (others.length > limit) lines.push(c.dim(`    ... ${others.length - limit} more (--all, or --json)`));
    if (f.namesOutside > 0) {
      lines.push(
        c.yellow(
          `  ${f.namesOutside} ${plural(f.namesOutside, 'name')} not found under ${escapeName(Buffer.from(f.search.root))}: ` +
            'elsewhere on the filesystem, unreadable, or under a directory another mount covers',
        ),
      );
    }
  } else {
    lines.push(`  ${f.nlink} links; other names not searched: ${f.searchNote ?? 'no walk was possible'}`);
  }
  const unseen = unread > 0 ? `${unread} ${plural(unread, 'process', 'processes')} could not be read` : '';
  lines.push(
    `  ${
      f.holders.length > 0
        ? `held open by ${f.holders.map(describeHolder).join(', ')}${unseen ? ` (${unseen})` : ''}`
        : unseen
          ? `no process limbo could read holds it open (${unseen})`
          : 'no process holds it open'
    }`,
  );
  const caveat = unseen ? ', unless a process limbo could not read holds it' : '';
  lines.push(`  ${removalVerdict(f, name, others.length, c, caveat)}`);
  if (f.nlink > 1) lines.push(`  ${removalOfAllVerdict(f, c, caveat)}`);
  lines.push(`  ${describeLimit(f.linkLimit, f.nlink, 'links', c)}`);
  return lines;
}

function removalVerdict(f: FileLinks, name: string, others: number, c: Palette, caveat: string): string {
  if (f.freedByRemovingBytes > 0 || (f.nlink <= 1 && f.holders.length === 0)) {
    return c.green(`rm ${name} frees ${formatBytes(f.freedByRemovingBytes)}${caveat}`);
  }
  const reasons: string[] = [];
  if (f.nlink > 1) {
    const remain = f.nlink - 1;
    reasons.push(
      `${remain} other ${plural(remain, 'name remains', 'names remain')}${others < remain ? ` (${others} found)` : ''}`,
    );
  }
  if (f.holders.length > 0) reasons.push(`${heldBy(f.holders)} open`);
  return `rm ${name} frees nothing: ${reasons.join(', and ')}`;
}

function removalOfAllVerdict(f: FileLinks, c: Palette, caveat: string): string {
  const all = `rm of all ${f.names.length} ${plural(f.names.length, 'name')} found`;
  if (f.freedByRemovingAllNamesBytes > 0 || (f.namesOutside === 0 && f.holders.length === 0)) {
    return c.green(`${all} frees ${formatBytes(f.freedByRemovingAllNamesBytes)}${caveat}`);
  }
  if (f.namesOutside > 0) {
    return `${all} frees nothing: ${f.namesOutside} more ${plural(f.namesOutside, 'name')} keep${f.namesOutside === 1 ? 's' : ''} it`;
  }
  const closer =
    f.holders.length === 1 ? `process ${f.holders[0]?.pid} closes` : `its ${f.holders.length} holders close`;
  return c.yellow(`${all} frees nothing yet: the file lives on, unlinked, until ${closer} it`);
}

function renderDirectory(d: DirectoryLinks, c: Palette): string[] {
  const counted =
    d.subdirectories === null ? 'subdirectories could not be counted' : `${d.subdirectories} counted`;
  const nlinkLine = d.nlinkReliable
    ? `  nlink ${d.nlink}: ${d.subdirectoriesImplied} ${plural(d.subdirectoriesImplied ?? 0, 'subdirectory', 'subdirectories')} implied, ${counted} (${d.nlinkRule})`
    : c.yellow(`  nlink ${d.nlink} does not tell the subdirectories here: ${d.nlinkRule}; ${counted}`);
  return [
    c.bold(`${escapeName(d.path)}${d.path.length > 1 ? '/' : ''}`),
    `  directory, inode ${d.ino} on ${d.dev}${where(d.fstype, d.mountPoint)}`,
    nlinkLine,
    `  ${describeLimit(d.linkLimit, d.nlink, 'subdirectories', c)}`,
  ];
}

function renderGroups(g: GroupsReport, c: Palette, limit: number, nameLimit: number): string[] {
  const root = escapeName(Buffer.from(g.root));
  const names = g.groups.reduce((sum, group) => sum + group.names.length, 0);
  const lines = [
    c.bold(
      `${g.groups.length} hard-link ${plural(g.groups.length, 'group')} under ${root} (${names.toLocaleString('en-US')} ${plural(names, 'name')}), ` +
        `found ${describeWalk(g.walk)}`,
    ),
  ];
  if (g.groups.length > 0) {
    lines.push(
      c.dim(
        `${'ALLOCATED'.padStart(10)}  ${'NLINK'.padStart(5)}  ${'HERE'.padStart(5)}  ${'OUTSIDE'.padStart(7)}  ${'INODE'.padEnd(10)}  NAMES`,
      ),
    );
    const indent = ' '.repeat(10 + 2 + 5 + 2 + 5 + 2 + 7 + 2 + 10 + 2);
    for (const group of g.groups.slice(0, limit)) {
      const [first, ...rest] = group.names.map((n) => escapeName(n));
      lines.push(
        `${formatBytes(group.allocatedBytes).padStart(10)}  ${String(group.nlink).padStart(5)}  ` +
          `${String(group.names.length).padStart(5)}  ${String(group.namesOutside).padStart(7)}  ` +
          `${String(group.ino).padEnd(10)}  ${first ?? ''}`,
      );
      lines.push(...rest.slice(0, nameLimit - 1).map((n) => `${indent}${n}`));
      if (rest.length > nameLimit - 1) {
        lines.push(c.dim(`${indent}... ${rest.length - (nameLimit - 1)} more names (--all, or --json)`));
      }
    }
    if (g.groups.length > limit) {
      lines.push(c.dim(`  ... ${g.groups.length - limit} smaller groups not shown: --all shows every group`));
    }
  }
  const saved = g.withoutLinkDetectionBytes - g.deduplicatedBytes;
  lines.push(
    '',
    `A backup of ${root} needs ${formatBytes(g.deduplicatedBytes)} with hard links kept (du -s, rsync -H, tar); ` +
      `${formatBytes(g.withoutLinkDetectionBytes)} if every name is copied in full (rsync without -H, cp -r)` +
      (saved > 0 ? `: the links save ${formatBytes(saved)}.` : '.'),
  );
  return lines;
}

function describeWalk(walk: ObservedWalk): string {
  const what =
    walk.purpose === 'names' && walk.root === '/'
      ? 'walking the whole filesystem from /'
      : `walking ${escapeName(Buffer.from(walk.root))}`;
  return `by ${what} (${walk.files.toLocaleString('en-US')} files in ${formatDuration(walk.milliseconds)})`;
}

function describeLimit(
  limit: LinkLimit,
  nlink: number,
  what: 'links' | 'subdirectories',
  c: Palette,
): string {
  if (limit.max === null) return `link limit: ${limit.source}`;
  const left = Math.max(0, limit.max - nlink);
  const more =
    what === 'links'
      ? `${left.toLocaleString('en-US')} more ${plural(left, 'link')}`
      : `${left.toLocaleString('en-US')} more ${plural(left, 'subdirectory', 'subdirectories')}`;
  const text = `link limit ${limit.max.toLocaleString('en-US')} (${limit.source}): ${more} before EMLINK`;
  if (left === 0) return c.red(`${text}: the next ${what === 'links' ? 'link' : 'mkdir'} fails`);
  return left < limit.max / 100 ? c.yellow(text) : text;
}

function describeHolder(holder: InodeHolder): string {
  const parts: string[] = [];
  if (holder.fds.length > 0) parts.push(`${plural(holder.fds.length, 'fd', 'fds')} ${holder.fds.join(',')}`);
  if (holder.mappings > 0) parts.push(`${holder.mappings} ${plural(holder.mappings, 'map')}`);
  return `${holder.pid} ${escapeName(holder.comm)} (${parts.join(', ')})`;
}

function heldBy(holders: readonly InodeHolder[]): string {
  return holders.length === 1 ? `process ${holders[0]?.pid} holds it` : `${holders.length} processes hold it`;
}

function describeType(type: FileLinks['type']): string {
  if (type === 'symlink') return 'symlink (the name itself, not its target)';
  return type === 'regular' ? 'regular file' : type;
}

function where(fstype: string | null, mountPoint: string | null): string {
  if (fstype === null) return '';
  return mountPoint === null ? ` (${fstype})` : ` (${fstype} at ${escapeName(Buffer.from(mountPoint))})`;
}

function formatDuration(milliseconds: number): string {
  return milliseconds < 1000 ? `${Math.round(milliseconds)} ms` : `${(milliseconds / 1000).toFixed(1)} s`;
}

function plural(n: number, one: string, many = `${one}s`): string {
  return n === 1 ? one : many;
}
