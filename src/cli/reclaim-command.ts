import {
  executeReclaim,
  planReclaim,
  previewReclaim,
  type ReclaimCandidate,
  type ReclaimPlan,
  type ReclaimReport,
  type ReclaimResult,
} from '../actions/reclaim.js';
import { reclaimReportToJson } from '../actions/reclaim-json.js';
import { describeRisk, describeVia, type FileHolder, type HolderRisk } from '../actions/holders.js';
import { groupByFamily } from '../analyses/holders.js';
import { describeFamily, type ReleaseStep } from '../analyses/programs.js';
import { paletteFor, type Palette } from '../format/color.js';
import { shortContainerId } from '../format/container.js';
import { escapeName } from '../format/escape.js';
import { findContainer } from '../proc/cgroup.js';
import { formatBytes } from '../format/size.js';
import { LimboError } from '../core/errors.js';
import { confirmFor, requireConsent, type ActingIo } from './confirm.js';
import { loadSnapshot, mountTimeoutMsOf } from './load-snapshot.js';
import type { ValuesOf } from './options.js';
import type { reclaimSpec } from './specs/reclaim.js';
import { checkFilterSubjects } from './deleted-filter.js';
import { parseFilterArgs, parseTargets, refuseSavedSnapshot } from './target-args.js';

/** `limbo reclaim`: plan, preview, confirm, truncate, report. */
export function runReclaim(
  values: ValuesOf<typeof reclaimSpec>,
  io: ActingIo,
  positionals: string[],
): number {
  refuseSavedSnapshot('reclaim', values);
  const targets = parseTargets('reclaim', positionals);
  const filter = parseFilterArgs('reclaim', values);
  if (targets.length === 0 && filter === null) {
    throw new LimboError(
      'usage',
      'limbo reclaim: nothing to reclaim: name a target (PID:FD or MAJ:MIN:INODE) or choose files with --pid, --user, --mount, --min-size or --all',
    );
  }
  const { dryRun, yes, json } = values;
  const confirm = confirmFor(io);
  requireConsent('reclaim', { dryRun, yes }, confirm);

  const snapshot = loadSnapshot(values);
  if (filter) checkFilterSubjects('reclaim', filter, snapshot, true);
  const plan = planReclaim(
    snapshot,
    { targets, filter },
    {
      procRoot: values.proc,
      force: values.force,
      mountTimeoutMs: mountTimeoutMsOf(values),
    },
  );
  const c = paletteFor(json ? io.stderr : io.stdout, io.env);
  const ready = plan.candidates.filter((candidate) => candidate.verdict === 'ready');

  if (dryRun || ready.length === 0) {
    // Without --dry-run nothing was ready, so nothing was tried: the JSON must not say "dry run".
    const preview = { ...previewReclaim(plan), dryRun };
    if (json) io.stdout.write(`${JSON.stringify(reclaimReportToJson(preview), null, 2)}\n`);
    else io.stdout.write(renderReclaimPlan(plan, c));
    // A target that does not exist (skipped) or may not be touched (refused) is a failure.
    return plan.candidates.some((candidate) => candidate.verdict !== 'ready') ? 1 : 0;
  }
  if (!yes) {
    (json ? io.stderr : io.stdout).write(renderReclaimPlan(plan, c));
    if (!confirm.ask(`Truncate ${count(ready.length, 'file')}, giving back ${givingBack(ready)}?`)) {
      io.stderr.write('Nothing was truncated.\n');
      return 1;
    }
  }
  const report = executeReclaim(plan);
  if (json) io.stdout.write(`${JSON.stringify(reclaimReportToJson(report), null, 2)}\n`);
  else io.stdout.write(renderReclaimReport(report, paletteFor(io.stdout, io.env)));
  return exitCode(report);
}

function exitCode(report: ReclaimReport): number {
  return report.results.some((result) => result.status === 'refused') ? 1 : 0;
}

/** What truncating these frees, "up to" when some share an unknown part of their blocks with other files. */
function givingBack(ready: readonly ReclaimCandidate[]): string {
  const bytes = ready.reduce((sum, x) => sum + (x.reclaimableBytes ?? x.allocatedBytes), 0);
  return `${ready.some((x) => x.reclaimableBytes === null) ? 'up to ' : ''}${formatBytes(bytes)}`;
}

/** The preview: what would be truncated, from which holders, and what stands in the way. */
export function renderReclaimPlan(plan: ReclaimPlan, c: Palette): string {
  const lines: string[] = [];
  if (plan.covers) lines.push(describeCoverage(plan.covers), '');
  const group = (verdict: ReclaimCandidate['verdict']) =>
    plan.candidates.filter((x) => x.verdict === verdict);
  const ready = group('ready');
  if (ready.length > 0) {
    lines.push(
      c.bold(`Would truncate ${count(ready.length, 'deleted file')}, giving back ${givingBack(ready)}:`),
    );
    for (const candidate of ready) lines.push(...renderCandidate(candidate, c));
  } else {
    lines.push(c.bold('Nothing would be truncated.'));
  }
  const sections: [ReclaimCandidate['verdict'], string][] = [
    ['needs-force', 'Needs --force (not truncated without it):'],
    ['refused', 'Refused:'],
    ['skipped', 'Skipped:'],
  ];
  for (const [verdict, title] of sections) {
    const listed = group(verdict);
    if (listed.length === 0) continue;
    lines.push('', c.bold(title));
    for (const candidate of listed) {
      lines.push(...renderCandidate(candidate, c));
      // A needs-force reason repeats the risks just listed; the others say why in words.
      if (verdict !== 'needs-force') lines.push(`${INDENT}${c.yellow(candidate.reason ?? '')}`);
    }
  }
  return `${lines.join('\n')}\n\n`;
}

/** What was done, file by file, then free space per filesystem. */
export function renderReclaimReport(report: ReclaimReport, c: Palette): string {
  const truncated = report.results.filter((result) => result.status === 'truncated');
  const freed = truncated.reduce((sum, result) => sum + result.freedBytes, 0);
  const lines = report.covers ? [describeCoverage(report.covers)] : [];
  lines.push(
    c.bold(
      truncated.length > 0
        ? `Truncated ${count(truncated.length, 'file')}: ${formatBytes(freed)} given back.`
        : 'Nothing was truncated.',
    ),
  );
  for (const result of report.results) lines.push(...renderResult(result, c));
  if (report.filesystems.length > 0) {
    lines.push('', c.bold('Free space (statfs, as df shows "Avail"):'));
    for (const fs of report.filesystems) {
      const where = fs.mount === null ? '(memfd)' : escapeName(Buffer.from(fs.mount));
      const label = `  ${where} (${fs.fstype ?? '?'})`;
      if (fs.availableBeforeBytes === null || fs.availableAfterBytes === null) {
        lines.push(
          `${label}: RAM without a size of its own, not measurable by statfs; the files held ${formatBytes(fs.expectedBytes)}`,
        );
        continue;
      }
      const delta = fs.availableAfterBytes - fs.availableBeforeBytes;
      lines.push(
        `${label}: ${formatBytes(fs.availableBeforeBytes)} before, ${formatBytes(fs.availableAfterBytes)} after: ` +
          `${delta >= 0 ? '+' : '-'}${formatBytes(Math.abs(delta))} (the files held ${formatBytes(fs.expectedBytes)} of their own)`,
      );
    }
  }
  return `${lines.join('\n')}\n`;
}

const INDENT = ' '.repeat(14);

function renderCandidate(candidate: ReclaimCandidate, c: Palette): string[] {
  const lines = [head(candidate.allocatedBytes, candidate.key ?? candidate.target, candidate.name, c)];
  // A skipped or refused file has its reason below; what would be truncated says what it frees.
  const shared = sharedLine(candidate.allocatedBytes, candidate.reclaimableBytes);
  if (shared && (candidate.verdict === 'ready' || candidate.verdict === 'needs-force')) {
    lines.push(`${INDENT}${c.yellow(shared)}`);
  }
  if (candidate.holders.length > 0) {
    lines.push(`${INDENT}${c.dim('held by')} ${describeHolders(candidate.holders)}`);
  }
  if (candidate.via && candidate.verdict !== 'refused' && candidate.verdict !== 'skipped') {
    lines.push(`${INDENT}${c.dim(`through ${describeVia(candidate.via)}`)}`);
  }
  // Risks matter only for what would be truncated; a refusal or a skip has its own reason.
  if (candidate.verdict === 'ready' || candidate.verdict === 'needs-force') {
    lines.push(...renderRisks(candidate.risks, c));
    const durable = candidate.truncation?.durableState;
    if (durable) lines.push(`${INDENT}${c.yellow(`! it is ${durable.what}: ${durable.safeStep}`)}`);
    lines.push(`${INDENT}truncating destroys its content (every holder then sees an empty file)`);
    if (candidate.recoverFirst) lines.push(`${INDENT}  to keep a copy first: ${candidate.recoverFirst}`);
  }
  if (candidate.verdict !== 'skipped') lines.push(...renderSteps(candidate.steps, c));
  return lines;
}

/** Said under a file whose blocks are partly shared with other files (reflinks, snapshots); null otherwise. */
function sharedLine(allocatedBytes: number, reclaimableBytes: number | null): string | null {
  if (reclaimableBytes === null) {
    return 'on a filesystem that shares blocks between files, and how many of its blocks are shared is unknown: frees at most this';
  }
  if (reclaimableBytes >= allocatedBytes) return null;
  if (reclaimableBytes === 0)
    return 'all its blocks are shared with other files (reflinks, snapshots): truncating frees nothing';
  return `${formatBytes(allocatedBytes - reclaimableBytes)} of it is shared with other files (reflinks, snapshots): truncating frees ${formatBytes(reclaimableBytes)}`;
}

/** What makes each holder let go without a truncation: one line per process family. */
function renderSteps(steps: readonly ReleaseStep[], c: Palette): string[] {
  return steps.map(
    (step) =>
      `${INDENT}${c.dim('or let go:')} ${step.text}${step.command ? `: ${c.cyan(step.command)}` : ''}` +
      (step.loses ? ` (${step.loses})` : ''),
  );
}

function describeCoverage(covers: NonNullable<ReclaimPlan['covers']>): string {
  const where =
    escapeName(Buffer.from(covers.mountPoint)) +
    (covers.mountNamespace ? ` in ${covers.mountNamespace}` : '');
  return `Covers every deleted file on the filesystem mounted at ${where} (${covers.fstype ?? '?'}, device ${covers.dev}).`;
}

function renderResult(result: ReclaimResult, c: Palette): string[] {
  const paint = result.status === 'truncated' ? c.green : result.status === 'refused' ? c.red : c.dim;
  const bytes = result.status === 'truncated' ? result.freedBytes : result.expectedBytes;
  const lines = [
    `  ${paint(result.status.padEnd(9))}${head(bytes, result.key ?? result.target, result.name, c)}`,
  ];
  if (result.status === 'truncated' && result.via)
    lines.push(`${INDENT}${c.dim(`through ${describeVia(result.via)}`)}`);
  if (result.status === 'truncated') {
    const shared = sharedLine(
      result.allocatedBytes,
      result.sharedBytes === null ? null : result.expectedBytes,
    );
    if (shared) lines.push(`${INDENT}${c.yellow(shared)}`);
  }
  if (result.reason) lines.push(`${INDENT}${c.yellow(result.reason)}`);
  if (result.status === 'truncated') {
    for (const risk of result.risks) {
      const what =
        risk.kind === 'writer'
          ? `still writes through fd ${risk.fd} without O_APPEND: its next write(2) recreates the file at ` +
            `${risk.offsetBytes === null ? 'its old offset' : formatBytes(risk.offsetBytes)}, a sparse file whose start reads as zeros (the hole takes no space)`
          : risk.kind === 'reader'
            ? `still reads it through fd ${risk.fd}: it now finds it empty (short reads, or errors)`
            : 'still maps it: an access past the new end raises SIGBUS in it';
      lines.push(`${INDENT}${c.yellow(`${risk.pid} ${escapeName(risk.comm)} ${what}`)}`);
    }
    if ((result.sizeAfterBytes ?? 0) > 0) {
      lines.push(
        `${INDENT}${c.yellow(`written again already: ${result.sizeAfterBytes} bytes by the time limbo looked`)}`,
      );
    }
  }
  return lines;
}

function renderRisks(risks: readonly HolderRisk[], c: Palette): string[] {
  const lines: string[] = [];
  for (const risk of risks) {
    lines.push(`${INDENT}${c.yellow(`! ${risk.pid} ${escapeName(risk.comm)} ${describeRisk(risk)}`)}`);
  }
  return [...new Set(lines)];
}

function head(bytes: number, id: string, name: Buffer | null, c: Palette): string {
  const shown = name === null ? c.dim('(name unknown)') : escapeName(name);
  return `  ${formatBytes(bytes).padStart(10)}  ${id.padEnd(18)}  ${shown}`;
}

/** Holders by process family: "nginx master 1200 and 2 workers (1201, 1202): 1200 fd 4, 1201 fd 4, ...". */
function describeHolders(holders: readonly FileHolder[]): string {
  return groupByFamily(holders)
    .map(({ family, holders: members }) =>
      family.pids.length <= 1 && members.length === 1
        ? describeHolder(members[0] as FileHolder)
        : `${describeFamily(
            family,
            members.map((m) => m.pid),
          )}: ${members.map(describeMember).join(', ')} (${members[0]?.user ?? '?'})`,
    )
    .join('; ');
}

/** "1201 fd 4" or "1201 fd 4 +1 map": one member of a family, its name already said. */
function describeMember(holder: FileHolder): string {
  const fds =
    holder.fds.length > 0
      ? ` ${holder.fds.length === 1 ? 'fd' : 'fds'} ${holder.fds.map((f) => f.fd).join(',')}`
      : '';
  const maps =
    holder.mappings.length > 0
      ? ` ${holder.fds.length > 0 ? '+' : ''}${count(holder.mappings.length, 'map')}`
      : '';
  return `${holder.pid}${fds}${maps}`;
}

function describeHolder(holder: FileHolder): string {
  const parts = [`${holder.pid} ${escapeName(holder.comm)}`];
  if (holder.fds.length > 0)
    parts.push(`${holder.fds.length === 1 ? 'fd' : 'fds'} ${holder.fds.map((f) => f.fd).join(',')}`);
  if (holder.mappings.length > 0) {
    parts.push(`${holder.fds.length > 0 ? '+' : ''}${count(holder.mappings.length, 'map')}`);
  }
  parts.push(`(${holder.user})`);
  if (holder.unit) parts.push(`[${escapeName(Buffer.from(holder.unit))}]`);
  if (holder.container) {
    const runtime = holder.cgroup === null ? null : findContainer(holder.cgroup)?.runtime;
    parts.push(
      `[container ${runtime ? `${runtime} ` : ''}${escapeName(Buffer.from(shortContainerId(holder.container)))}]`,
    );
  }
  return parts.join(' ');
}

function count(n: number, one: string): string {
  return `${n} ${n === 1 ? one : `${one}s`}`;
}
