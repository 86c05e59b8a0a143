import { reconcileFilesystems, type DfReport } from '../analyses/df.js';
import { dfReportToJson } from '../analyses/df-json.js';
import { summarizeFilesystem } from '../analyses/df-words.js';
import {
  describeIncomplete,
  describeUnansweredMount,
  describeUnansweredTarget,
} from '../analyses/incomplete-words.js';
import { silentMountOfPath } from '../actions/mount-guard.js';
import { resolve } from 'node:path';
import type { UnansweredMount } from '../snapshot/types.js';
import { paletteFor, type Palette } from '../format/color.js';
import { escapeName } from '../format/escape.js';
import { formatBytes } from '../format/size.js';
import { LimboError } from '../core/errors.js';
import { readlinkSync, statSync } from 'node:fs';
import { formatDev } from '../proc/file-stat.js';
import { findMountOfPath, parseProcRootPath, readMountinfo, type Mount } from '../proc/mountinfo.js';
import {
  chooseMounts,
  choosePrivateMounts,
  measureFilesystem,
  type FilesystemMeasure,
  type MountSite,
} from '../walk/measure-filesystems.js';
import type { Io } from './io.js';
import { loadSnapshot, mountTimeoutMsOf, withSource } from './load-snapshot.js';
import { quote } from '../format/escape.js';
import type { ValuesOf } from './options.js';
import type { dfSpec } from './specs/df.js';

/**
 * The filesystem a PATH argument names: on the host, or through /proc/PID/root/… in that
 * process's mount namespace (a container's private mount, as limbo prints it).
 */
function sitesOf(path: string, hostMounts: readonly Mount[]): MountSite[] {
  const through = parseProcRootPath(path);
  if (!through)
    return chooseMounts(hostMounts, [path]).map((mount) => ({
      mount,
      at: mount.mountPoint,
      mounts: hostMounts,
    }));
  const dev = formatDev(statSync(path, { bigint: true }).dev);
  const mounts = readMountinfo('/proc', through.pid);
  if (!mounts.ok) return [];
  const mount = findMountOfPath(mounts.value, dev, through.inner);
  if (!mount) return [];
  let namespace: string | null;
  try {
    namespace = readlinkSync(`/proc/${through.pid}/ns/mnt`);
  } catch {
    namespace = null;
  }
  const hostNamespace = readlinkSync('/proc/self/ns/mnt');
  // A process of limbo's own namespace: the host's mount, as a plain path names it.
  if (namespace === hostNamespace) {
    return chooseMounts(hostMounts, [path]).map((m) => ({ mount: m, at: m.mountPoint, mounts: hostMounts }));
  }
  const at = `/proc/${through.pid}/root${mount.mountPoint === '/' ? '' : mount.mountPoint}`;
  return [
    {
      mount,
      at,
      mounts: mounts.value,
      ...(namespace && namespace !== hostNamespace ? { mountNamespace: namespace } : {}),
    },
  ];
}

/**
 * A path on a mount that did not answer is refused before anything stats it: the stat would
 * wait for ever. Its words are the ones `incomplete` uses.
 */
function refuseUnanswered(path: string, unanswered: readonly UnansweredMount[]): void {
  const absolute = resolve(path);
  const silent = unanswered.find(
    (m) =>
      m.mountNamespace === null &&
      (absolute === m.mountPoint || absolute.startsWith(m.mountPoint === '/' ? '/' : `${m.mountPoint}/`)),
  );
  if (silent) throw new LimboError('io', `limbo df: ${describeUnansweredMount(silent)}`);
}

/** `limbo df`: one reconciliation per filesystem, and one sentence each. */
export async function runDf(values: ValuesOf<typeof dfSpec>, io: Io, paths: string[]): Promise<number> {
  if (values.from !== undefined) {
    throw new LimboError('usage', 'limbo df: --from cannot be used: df measures the live filesystems');
  }
  const snapshot = loadSnapshot(values);
  const mountTimeoutMs = mountTimeoutMsOf(values);
  const hostMounts =
    snapshot.mountNamespaces.find((ns) => ns.id === snapshot.hostMountNamespace)?.mounts ?? [];
  // Mounts that did not answer during the scan: named in `incomplete`, never asked again.
  const unanswered = snapshot.incomplete.unansweredMounts ?? [];
  const silent = new Set(unanswered.map((m) => m.dev));
  for (const path of paths) {
    refuseUnanswered(path, unanswered);
    // Not silent during the scan (or another namespace's, through /proc/PID/root): asked again.
    const silentNow = silentMountOfPath(path, {
      procRoot: '/proc',
      timeoutMs: mountTimeoutMs,
      known: unanswered,
    });
    if (silentNow)
      throw new LimboError('io', `limbo df: ${describeUnansweredTarget(quote(path), silentNow)}`);
  }
  let sites: MountSite[];
  try {
    sites =
      paths.length === 0
        ? [
            ...chooseMounts(hostMounts, [], silent, mountTimeoutMs).map((mount) => ({
              mount,
              at: mount.mountPoint,
              mounts: hostMounts,
            })),
            ...choosePrivateMounts(snapshot.mountNamespaces, hostMounts, silent, mountTimeoutMs),
          ]
        : paths.flatMap((path) => sitesOf(path, hostMounts));
  } catch (error) {
    // A path that does not exist is a failure (exit 1), as for links, not a usage error.
    const { path, code } = error as NodeJS.ErrnoException;
    throw new LimboError(
      'not-found',
      `limbo df: cannot stat ${quote(path ?? paths.join(' '))}: ${code ?? 'error'}`,
      {
        cause: error,
      },
    );
  }
  const walk = values.walk || paths.length === 1;
  const progress = io.stderr.isTTY === true && !values.json;
  const measures: FilesystemMeasure[] = [];
  for (const site of sites) {
    const where = escapeName(Buffer.from(site.at));
    const onProgress = progress
      ? (files: number) => io.stderr.write(`\r\x1b[Kwalking ${where}: ${files.toLocaleString('en-US')} files`)
      : undefined;
    const measure = await measureFilesystem(site.mount, site.mounts, {
      walk,
      at: site.at,
      mountTimeoutMs,
      silent: unanswered.filter((m) => m.mountNamespace === null).map((m) => m.mountPoint),
      ...(site.mountNamespace ? { mountNamespace: site.mountNamespace } : {}),
      ...(onProgress ? { onProgress } : {}),
    });
    if (progress && walk) io.stderr.write('\r\x1b[K');
    if (measure) measures.push(measure);
  }
  const report = reconcileFilesystems(snapshot, measures);
  if (values.json)
    io.stdout.write(`${JSON.stringify(withSource(dfReportToJson(report), values, snapshot), null, 2)}\n`);
  else io.stdout.write(renderDf(report, paletteFor(io.stdout, io.env)));
  return 0;
}

const size = (bytes: number | null): string => (bytes === null ? '-' : formatBytes(bytes));

/** A df-like table with the reconciliation columns, then the sentence per filesystem. */
export function renderDf(report: DfReport, c: Palette): string {
  const header = [
    'MOUNT',
    'TYPE',
    'SIZE',
    'USED',
    'AVAIL',
    'RESERVED',
    'DELETED',
    'VISIBLE',
    'HIDDEN',
    'UNEXPLAINED',
  ];
  const rows = report.filesystems.map((fs) => [
    escapeName(Buffer.from(fs.mount)),
    fs.fstype,
    size(fs.sizeBytes),
    size(fs.usedBytes),
    size(fs.availableBytes),
    size(fs.reservedBytes),
    size(fs.heldByDeletedBytes),
    size(fs.visibleBytes),
    size(fs.hiddenUnderMountsBytes),
    size(fs.unexplainedBytes),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells.map((cell, i) => (i < 2 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join('  ');
  const lines = [c.dim(line(header)), ...rows.map(line), ''];
  for (const fs of report.filesystems) {
    const summary = summarizeFilesystem(fs);
    const text =
      fs.heldByDeletedFiles > 0 || (fs.hiddenUnderMountsBytes ?? 0) > 0 ? c.yellow(summary) : summary;
    lines.push(text);
    if (fs.walkErrors)
      lines.push(c.yellow(`  ${fs.walkErrors} entries could not be read during the walk (run as root).`));
  }
  const notWalked = report.filesystems.filter((fs) => fs.visibleBytes === null).length;
  if (notWalked > 0)
    lines.push('', c.dim('VISIBLE, HIDDEN and UNEXPLAINED need a walk: limbo df --walk, or limbo df PATH.'));
  const notLooked = report.filesystems.filter(
    (fs) => fs.visibleBytes !== null && fs.hiddenUnderMountsBytes === null,
  );
  for (const fs of notLooked)
    lines.push(c.dim(`${escapeName(Buffer.from(fs.mount))}: hidden files not looked at (${fs.hiddenNote}).`));
  const partial = describeIncomplete(report.incomplete);
  if (partial.length > 0) lines.push('', ...partial.map((line, i) => (i === 0 ? c.yellow(line) : line)));
  return `${lines.join('\n')}\n`;
}
