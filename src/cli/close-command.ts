import {
  closeDescriptor,
  planClose,
  previewClose,
  type ClosePlan,
  type CloseResult,
} from '../actions/close.js';
import { closeResultToJson } from '../actions/close-json.js';
import { paletteFor, type Palette } from '../format/color.js';
import { escapeName } from '../format/escape.js';
import { formatBytes } from '../format/size.js';
import { LimboError } from '../core/errors.js';
import { confirmFor, requireConsent, type ActingIo } from './confirm.js';
import { loadSnapshot, mountTimeoutMsOf } from './load-snapshot.js';
import type { ValuesOf } from './options.js';
import type { closeSpec } from './specs/close.js';
import { parseTargets, refuseSavedSnapshot } from './target-args.js';

/** `limbo close PID:FD --force`: plan, preview, confirm, close through gdb, verify. */
export function runClose(values: ValuesOf<typeof closeSpec>, io: ActingIo, positionals: string[]): number {
  refuseSavedSnapshot('close', values);
  const targets = parseTargets('close', positionals);
  const target = targets[0];
  if (targets.length !== 1 || target?.kind !== 'fd') {
    throw new LimboError('usage', 'limbo close: give exactly one descriptor, as PID:FD');
  }
  const { dryRun, yes } = values;
  if (!dryRun && !values.force) {
    throw new LimboError(
      'usage',
      "limbo close: closing a descriptor inside a running process needs --force ('limbo close --help' explains the risk; --dry-run shows what it would do)",
    );
  }
  const confirm = confirmFor(io);
  requireConsent('close', { dryRun, yes }, confirm);
  const { json, proc: procRoot } = values;
  const plan = planClose(
    { pid: target.pid, fd: target.fd, how: values.devnull ? 'devnull' : 'close' },
    loadSnapshot(values),
    { procRoot, mountTimeoutMs: mountTimeoutMsOf(values) },
  );
  const preview = renderClosePlan(plan, paletteFor(json ? io.stderr : io.stdout, io.env));
  if (dryRun || plan.verdict !== 'ready') {
    const result = previewClose(plan);
    if (json) io.stdout.write(`${JSON.stringify(closeResultToJson(result, dryRun), null, 2)}\n`);
    else io.stdout.write(preview);
    // Success only for a dry run of a descriptor that could be closed: a target that does not
    // exist (skipped) or may not be touched (refused) is a failure.
    return dryRun && plan.verdict === 'ready' ? 0 : 1;
  }
  if (!yes) {
    (json ? io.stderr : io.stdout).write(preview);
    const comm = plan.comm === null ? '' : ` (${escapeName(plan.comm)})`;
    const verb = plan.how === 'close' ? 'close' : 'redirect to /dev/null';
    if (!confirm.ask(`Stop pid ${plan.pid}${comm} for a moment and ${verb} its fd ${plan.fd}?`)) {
      io.stderr.write('Nothing was closed.\n');
      return 1;
    }
  }
  const result = closeDescriptor(plan);
  if (json) io.stdout.write(`${JSON.stringify(closeResultToJson(result, false), null, 2)}\n`);
  else io.stdout.write(renderCloseResult(result, paletteFor(io.stdout, io.env)));
  return result.status === 'closed' ? 0 : 1;
}

/** What the descriptor is, who else keeps the file, what closing would give back, and the risk. */
export function renderClosePlan(plan: ClosePlan, c: Palette): string {
  const lines = [c.bold(`fd ${plan.fd} of ${describeProcess(plan)}`)];
  if (plan.name !== null)
    lines.push(`  refers to ${escapeName(plan.name)}${plan.file?.deleted ? ' (deleted)' : ''}`);
  if (plan.file?.regular) {
    lines.push(
      `  ${formatBytes(plan.file.sizeBytes)} in size, ${formatBytes(plan.file.allocatedBytes)} allocated`,
    );
  }
  if (plan.otherHolders.length > 0) {
    const others = plan.otherHolders
      .map(
        (h) =>
          `${h.pid} ${escapeName(h.comm)}${h.fds.length ? ` fds ${h.fds.map((f) => f.fd).join(',')}` : ''}${h.mappings.length ? ` ${h.mappings.length} maps` : ''}`,
      )
      .join(', ');
    lines.push(c.yellow(`  also held by ${others}: closing this fd alone gives nothing back`));
  } else if (plan.file?.deleted) {
    lines.push(`  its last holder: closing it gives back ${formatBytes(plan.expectedBytes)}`);
  }
  if (plan.verdict === 'refused' || plan.verdict === 'skipped') {
    lines.push(c.red(`  ${plan.verdict}: ${plan.reason ?? ''}`));
  } else {
    const act = plan.how === 'close' ? `close(${plan.fd})` : `dup2(/dev/null, ${plan.fd})`;
    lines.push(
      c.yellow(`  gdb stops the process for a moment and calls ${act} in it. The process is not told: if it`),
      c.yellow(
        plan.how === 'close'
          ? `  uses fd ${plan.fd} again it gets EBADF, or the next file it opens, which takes number ${plan.fd}.`
          : `  reads end-of-file from fd ${plan.fd} from now on, and its writes to it are discarded.`,
      ),
    );
  }
  return `${lines.join('\n')}\n`;
}

/** What happened, checked: the descriptor gone, and statfs before and after. */
export function renderCloseResult(result: CloseResult, c: Palette): string {
  const lines: string[] = [];
  if (result.status === 'closed') {
    const what = result.how === 'close' ? 'closed' : 'now points at /dev/null';
    lines.push(c.green(`fd ${result.fd} of ${describeProcess(result)} ${what} (checked through /proc).`));
  } else {
    lines.push(
      c.red(`fd ${result.fd} of ${describeProcess(result)}: ${result.status}: ${result.reason ?? ''}`),
    );
  }
  const fs = result.filesystem;
  if (fs && fs.availableBeforeBytes !== null && fs.availableAfterBytes !== null) {
    const delta = fs.availableAfterBytes - fs.availableBeforeBytes;
    const where = fs.mount === null ? '' : ` on ${escapeName(Buffer.from(fs.mount))}`;
    lines.push(
      `  free space${where}: ${formatBytes(fs.availableBeforeBytes)} before, ${formatBytes(fs.availableAfterBytes)} after: ` +
        `${delta >= 0 ? '+' : '-'}${formatBytes(Math.abs(delta))} (expected ${formatBytes(result.expectedBytes)})`,
    );
  } else if (result.status === 'closed' && result.expectedBytes > 0) {
    lines.push(`  expected back: ${formatBytes(result.expectedBytes)} (not measurable by statfs here)`);
  }
  return `${lines.join('\n')}\n`;
}

function describeProcess(plan: { pid: number; comm: Buffer | null }): string {
  return plan.comm === null ? `pid ${plan.pid}` : `pid ${plan.pid} (${escapeName(plan.comm)})`;
}
