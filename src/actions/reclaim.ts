// limbo reclaim: give back the space of deleted files still held open, without a restart, by
// truncating them to zero through /proc. Plan (what the targets name, who holds it, what it
// would do to them) → verify (a fresh scan, then the file itself, through an O_PATH descriptor)
// → act (ftruncate through a second open of that same inode). Nothing here prints or exits.
import { isRegularMode } from '../proc/file-mode.js';
import { closeSync, fstatSync, ftruncateSync } from 'node:fs';
import {
  findDeletedFiles,
  type DeletedFile,
  type DeletedFilter,
  type DeletedKind,
} from '../analyses/deleted.js';
import { nativeAddon } from '../native.js';
import { readLinkBytes } from '../proc/read.js';
import { formatBytes } from '../format/size.js';
import { readExtentSharing } from '../proc/extent-sharing.js';
import { formatDev, statThrough } from '../proc/file-stat.js';
import { stripDeletedSuffix } from '../proc/deleted-name.js';
import { takeSnapshot } from '../snapshot/take-snapshot.js';
import type { Snapshot } from '../snapshot/types.js';
import { releaseSteps, type ReleaseStep } from '../analyses/programs.js';
import { judgeTruncation, type TruncationVerdict } from '../analyses/truncation.js';
import { shellWord } from '../format/escape.js';
import {
  closeQuietly,
  describeFileType,
  errorCode,
  keyOf,
  openPath,
  READ_FLAGS,
  readIdentity,
  rebornReason,
  reopen,
  WRITE_FLAGS,
  type PathHandle,
  type SeenIdentity,
} from './held-file.js';
import {
  assessRisks,
  chooseVia,
  describeVia,
  findHolders,
  viaLink,
  type FileHolder,
  type HolderRisk,
  type Via,
} from './holders.js';
import { SpaceMeter, type FilesystemChange } from './space-meter.js';
import type { Target } from './target.js';
import { silentMountOf } from './mount-guard.js';
import { describeUnansweredTarget } from '../analyses/incomplete-words.js';

/** What to reclaim: named targets, and every file a filter selects (as `limbo deleted` would list it). */
export interface ReclaimRequest {
  readonly targets: readonly Target[];
  /** null: no filter given. An empty filter selects every deleted file (`--all`). */
  readonly filter: DeletedFilter | null;
}

export interface ReclaimOptions {
  /** The /proc holding the targets. Default "/proc". */
  readonly procRoot?: string;
  /** Truncate even files that are memory-mapped or written without O_APPEND. */
  readonly force?: boolean;
  /** How long a FUSE or network mount has to answer before a target on it is refused. Default 5 s. */
  readonly mountTimeoutMs?: number;
}

/**
 * `ready`: would be truncated. `needs-force`: would be truncated with `force` (mapped, or a
 * writer without O_APPEND). `refused`: never (still linked, not regular, ...). `skipped`:
 * nothing to do (gone already, or named twice).
 */
export type ReclaimVerdict = 'ready' | 'needs-force' | 'refused' | 'skipped';

/** One file of a plan: what was named, what it is, who holds it, and the verdict. */
export interface ReclaimCandidate {
  /** The target as given (`PID:FD`, `MAJ:MIN:INODE`), or the file's `MAJ:MIN:INODE` when a filter chose it. */
  readonly target: string;
  /** True when the target named a descriptor: the act goes through exactly that descriptor. */
  readonly byDescriptor: boolean;
  /** "MAJ:MIN:INODE"; null when the target could not be resolved to a file. */
  readonly key: string | null;
  readonly dev: string | null;
  readonly ino: bigint | null;
  /** The kernel's name for it, without " (deleted)". */
  readonly name: Buffer | null;
  readonly kind: DeletedKind | null;
  readonly mount: string | null;
  readonly fstype: string | null;
  readonly sizeBytes: number;
  /** st_blocks × 512 when the scan saw it. */
  readonly allocatedBytes: number;
  /**
   * What truncating it frees, as limbo deleted judged it: allocatedBytes less blocks shared with
   * other files (reflinks, snapshots); null when that split is unknown.
   */
  readonly reclaimableBytes: number | null;
  readonly holders: readonly FileHolder[];
  readonly risks: readonly HolderRisk[];
  /** The descriptor or mapping the truncation goes through. */
  readonly via: Via | null;
  /** Birth time (ns) when planned: with (dev, ino), the identity checked before the act. */
  readonly bornNs: bigint | null;
  /**
   * What the plan saw of the file (birth time, ctime, size). Where the filesystem keeps no birth
   * time, the ctime, the size and the holders' fds and flags stand in for it: any change refuses.
   */
  readonly seen: SeenIdentity | null;
  /** What truncating it would do to its holders, decided from the holder model; null when unresolved. */
  readonly truncation: TruncationVerdict | null;
  /** What makes every holder let go of it without a truncation, one step per process family. */
  readonly steps: readonly ReleaseStep[];
  /** `limbo recover` to keep a copy before truncating, when the content may matter (not a log); null otherwise. */
  readonly recoverFirst: string | null;
  readonly verdict: ReclaimVerdict;
  /** Why it is refused, skipped or needs --force; null when ready. */
  readonly reason: string | null;
}

/** The filesystem a filter covers (`--mount`, `--filesystem-of`), named in every plan. */
export interface ReclaimCoverage {
  readonly dev: string;
  readonly mountPoint: string;
  readonly fstype: string | null;
  /** The mount namespace of the mount point when it is not limbo's own (a container's private mount). */
  readonly mountNamespace?: string;
}

export interface ReclaimPlan {
  readonly candidates: readonly ReclaimCandidate[];
  /** The filesystem the filter chose files on; null when no filter named one. */
  readonly covers: ReclaimCoverage | null;
  readonly force: boolean;
  readonly procRoot: string;
  /** How long a FUSE or network mount has to answer; undefined: 5 s. */
  readonly mountTimeoutMs?: number;
}

export type ReclaimStatus = 'truncated' | 'refused' | 'skipped';

/** What happened to one file. */
export interface ReclaimResult extends Omit<ReclaimCandidate, 'verdict' | 'reason'> {
  readonly status: ReclaimStatus;
  readonly reason: string | null;
  /**
   * What truncating it frees: st_blocks × 512 just before the truncation (or when planned, if not
   * truncated) less the blocks FIEMAP flags shared with other files, which stay in use. All of
   * st_blocks when the shared part is unknown (sharedBytes null): then an upper bound.
   */
  readonly expectedBytes: number;
  /** Its blocks shared with other files (reflinks, snapshots), freed by no truncation; null when unknown. */
  readonly sharedBytes: number | null;
  /** What the filesystem got back from it: expectedBytes less st_blocks × 512 after. 0 unless truncated. */
  readonly freedBytes: number;
  /** st_size just after the truncation: above 0 when a writer already wrote again. */
  readonly sizeAfterBytes: number | null;
}

export interface ReclaimReport {
  readonly dryRun: boolean;
  /** The filesystem the filter covered; null when none was named. */
  readonly covers?: ReclaimCoverage | null;
  readonly results: readonly ReclaimResult[];
  /** Free space before and after, per filesystem acted on (empty in a dry run). */
  readonly filesystems: readonly FilesystemChange[];
}

const SEAL_SHRINK = 0x2;
const SEAL_WRITE = 0x8;
const SEAL_FUTURE_WRITE = 0x10;

/** Resolves the targets against a snapshot and judges each file; reads fdinfo, changes nothing. */
export function planReclaim(
  snapshot: Snapshot,
  request: ReclaimRequest,
  options: ReclaimOptions = {},
): ReclaimPlan {
  const procRoot = options.procRoot ?? snapshot.procRoot;
  const force = options.force ?? false;
  const deleted = new Map(findDeletedFiles(snapshot).files.map((file) => [file.key, file]));
  const candidates: ReclaimCandidate[] = [];
  const firstTargetOf = new Map<string, string>();

  const add = (candidate: ReclaimCandidate): void => {
    if (candidate.key !== null && candidate.verdict !== 'refused' && candidate.verdict !== 'skipped') {
      const first = firstTargetOf.get(candidate.key);
      if (first !== undefined) {
        candidates.push({ ...candidate, verdict: 'skipped', reason: `the same file as ${first}` });
        return;
      }
      firstTargetOf.set(candidate.key, candidate.target);
    }
    candidates.push(candidate);
  };

  for (const target of request.targets) {
    add(
      target.kind === 'fd'
        ? planDescriptor(snapshot, deleted, target, procRoot, force, options.mountTimeoutMs)
        : planFile(snapshot, deleted, target.text, target.key, procRoot, force),
    );
  }
  if (request.filter !== null) {
    for (const file of findDeletedFiles(snapshot, { ...request.filter, sort: 'allocated' }).files) {
      if (firstTargetOf.has(file.key)) continue;
      add(planFile(snapshot, deleted, file.key, file.key, procRoot, force));
    }
  }
  const filesystem = request.filter?.filesystem;
  const covers = filesystem
    ? {
        dev: filesystem.dev,
        mountPoint: filesystem.mountPoint,
        fstype: filesystem.fstype ?? null,
        ...(filesystem.mountNamespace ? { mountNamespace: filesystem.mountNamespace } : {}),
      }
    : null;
  const timeout = options.mountTimeoutMs === undefined ? {} : { mountTimeoutMs: options.mountTimeoutMs };
  return { candidates, covers, force, procRoot, ...timeout };
}

/** The plan as a report, changing nothing: what `--dry-run` shows. */
export function previewReclaim(plan: ReclaimPlan): ReclaimReport {
  return {
    dryRun: true,
    covers: plan.covers,
    results: plan.candidates.map((candidate) => {
      const status: ReclaimStatus =
        candidate.verdict === 'ready' || candidate.verdict === 'skipped' ? 'skipped' : 'refused';
      const reason =
        candidate.verdict !== 'ready'
          ? candidate.reason
          : candidate.kind === 'silly-renamed'
            ? 'dry run: would be truncated through its holder; its hidden name stays, empty, until the last holder closes it and the filesystem removes it'
            : 'dry run: would be truncated';
      return toResult(candidate, status, reason);
    }),
    filesystems: [],
  };
}

/**
 * Truncates every ready file of a plan. A fresh scan comes first (the plan may be minutes old
 * when a person confirmed it): a file named by identity is reached through a descriptor that
 * holds it now, and the risks are judged again. Each file is then checked through an O_PATH
 * descriptor before it is opened for writing.
 */
export function executeReclaim(plan: ReclaimPlan, fresh?: Snapshot): ReclaimReport {
  const timeout = plan.mountTimeoutMs === undefined ? {} : { mountTimeoutMs: plan.mountTimeoutMs };
  const now = fresh ?? takeSnapshot({ procRoot: plan.procRoot, ...timeout });
  const meter = new SpaceMeter();
  // A silly-renamed file may be linked again under its hidden name (nlink reads 1 either way):
  // only one the fresh scan still finds silly-renamed is truncated.
  const sillyNow = plan.candidates.some((candidate) => candidate.kind === 'silly-renamed')
    ? new Set(findDeletedFiles(now, { kind: 'silly-renamed' }).files.map((file) => file.key))
    : new Set<string>();
  const results = plan.candidates.map((candidate) =>
    candidate.verdict !== 'ready'
      ? toResult(candidate, candidate.verdict === 'skipped' ? 'skipped' : 'refused', candidate.reason)
      : candidate.kind === 'silly-renamed' && !sillyNow.has(candidate.key as string)
        ? toResult(
            candidate,
            'refused',
            'no longer a silly-renamed file held open (closed, or its hidden name was removed or linked elsewhere): not touched',
          )
        : reclaimOne(candidate, now, plan, meter),
  );
  return { dryRun: false, covers: plan.covers, results, filesystems: meter.finish() };
}

function planDescriptor(
  snapshot: Snapshot,
  deleted: Map<string, DeletedFile>,
  target: Extract<Target, { kind: 'fd' }>,
  procRoot: string,
  force: boolean,
  mountTimeoutMs: number | undefined,
): ReclaimCandidate {
  const tid =
    snapshot.processes.find((p) => p.pid === target.pid)?.fds.find((f) => f.fd === target.fd)?.tid ?? null;
  const via: Via = { kind: 'fd', pid: target.pid, fd: target.fd, tid };
  const base = emptyCandidate(target.text, true);
  // A stat on a FUSE or network mount that does not answer would never return.
  const silent = silentMountOf(via, {
    procRoot,
    timeoutMs: mountTimeoutMs,
    known: snapshot.incomplete.unansweredMounts,
  });
  if (silent)
    return { ...base, verdict: 'refused', reason: describeUnansweredTarget(describeVia(via), silent) };
  const stat = statThrough(viaLink(procRoot, via));
  if (!stat.ok) {
    return stat.failure === 'gone'
      ? {
          ...base,
          verdict: 'skipped',
          reason: `pid ${target.pid} has no fd ${target.fd} (closed, or the process exited)`,
        }
      : {
          ...base,
          verdict: 'refused',
          reason: `cannot read fd ${target.fd} of pid ${target.pid}: ${denied(stat.failure)}`,
        };
  }
  const key = `${stat.value.dev}:${stat.value.ino}`;
  const file = deleted.get(key);
  const link = readLinkBytes(viaLink(procRoot, via));
  const described: ReclaimCandidate = {
    ...base,
    key,
    dev: stat.value.dev,
    ino: stat.value.ino,
    name: file?.name ?? (link.ok ? stripDeletedSuffix(link.value) : null),
    kind: file?.kind ?? null,
    mount: file?.mount ?? null,
    fstype: file?.fstype ?? null,
    sizeBytes: stat.value.sizeBytes,
    allocatedBytes: stat.value.allocatedBytes,
    reclaimableBytes: file ? file.reclaimableBytes : stat.value.allocatedBytes,
    via,
  };
  if (!isRegularMode(stat.value.mode)) {
    return {
      ...described,
      verdict: 'refused',
      reason: `fd ${target.fd} of pid ${target.pid} is ${describeFileType(stat.value.mode)}, not a regular file: only regular files are truncated`,
    };
  }
  const linkRefusal = linkedRefusal(Number(stat.value.nlink), described.kind);
  if (linkRefusal) return { ...described, verdict: 'refused', reason: linkRefusal };
  return judgeRisks(described, snapshot, procRoot, force);
}

function planFile(
  snapshot: Snapshot,
  deleted: Map<string, DeletedFile>,
  text: string,
  key: string,
  procRoot: string,
  force: boolean,
): ReclaimCandidate {
  const base = emptyCandidate(text, false);
  const file = deleted.get(key);
  if (!file) {
    const record = snapshot.files.find((f) => f.key === key);
    if (!record) {
      return {
        ...base,
        verdict: 'skipped',
        reason: `no process holds ${key} open or mapped (already freed, or not a file limbo found: check the DEV:INODE that limbo deleted prints)`,
      };
    }
    const described = {
      ...base,
      key,
      dev: record.dev,
      ino: record.ino,
      sizeBytes: record.sizeBytes,
      allocatedBytes: record.allocatedBytes,
      reclaimableBytes: record.allocatedBytes,
    };
    const reason = !isRegularMode(record.mode)
      ? `${key} is ${describeFileType(record.mode)}, not a regular file`
      : record.nlink > 0
        ? stillLinked(record.nlink)
        : `${key} is not a deleted file limbo can reach`;
    return { ...described, verdict: 'refused', reason };
  }
  const described: ReclaimCandidate = {
    ...base,
    key,
    dev: file.dev,
    ino: file.ino,
    name: file.name,
    kind: file.kind,
    mount: file.mount,
    fstype: file.fstype,
    sizeBytes: file.sizeBytes,
    allocatedBytes: file.allocatedBytes,
    reclaimableBytes: file.reclaimableBytes,
  };
  return judgeRisks(described, snapshot, procRoot, force);
}

/**
 * Adds holders, their risks, the release steps and a way in. Ready only when every holder only
 * appends and nothing maps it; needs --force when a holder reads the data back, writes at its own
 * offsets, maps it, or the file is a program's durable state; never when it is mapped as code.
 */
function judgeRisks(
  described: ReclaimCandidate,
  snapshot: Snapshot,
  procRoot: string,
  force: boolean,
): ReclaimCandidate {
  const key = described.key as string;
  const holders = findHolders(snapshot, key, procRoot);
  const risks = assessRisks(holders, described.name);
  const truncation = judgeTruncation(described.name, holders);
  const candidate: ReclaimCandidate = {
    ...described,
    truncation,
    steps: releaseSteps(holders, { name: described.name }),
    recoverFirst: truncation.offerRecover ? recoverCommand(described) : null,
  };
  const via = candidate.via ?? chooseVia(holders);
  if (via === null) {
    return {
      ...candidate,
      holders,
      risks,
      verdict: 'skipped',
      reason: `no process holds ${key} now: the last holder closed it, which gave its space back`,
    };
  }
  if (candidate.kind === 'mqueue') {
    return {
      ...candidate,
      holders,
      risks,
      via,
      verdict: 'refused',
      reason:
        'a POSIX message queue (removed with mq_unlink), not a file: truncation does not apply; its messages are freed when every holder closes it',
    };
  }
  if (candidate.allocatedBytes === 0) {
    return {
      ...candidate,
      holders,
      risks,
      via,
      verdict: 'skipped',
      reason: 'it holds no blocks (0 allocated): there is nothing to give back',
    };
  }
  if (candidate.reclaimableBytes === 0) {
    return {
      ...candidate,
      holders,
      risks,
      via,
      verdict: 'skipped',
      reason: `all ${formatBytes(candidate.allocatedBytes)} of its blocks are shared with other files (reflinks, snapshots): truncating it would free nothing`,
    };
  }
  const seen = candidate.seen ?? readIdentity(viaLink(procRoot, via), key);
  const identified = { ...candidate, holders, risks, via, seen, bornNs: seen?.bornNs ?? null };
  if (candidate.kind === 'memfd') {
    const sealed = readSealRefusal(viaLink(procRoot, via), candidate);
    if (sealed) return { ...identified, verdict: 'refused', reason: sealed };
  }
  if (truncation.decision === 'never') {
    return { ...identified, verdict: 'refused', reason: `never truncated: ${summarize(truncation)}` };
  }
  const needsForce = truncation.decision === 'needs-force' && !force;
  return {
    ...identified,
    verdict: needsForce ? 'needs-force' : 'ready',
    reason: needsForce ? `needs --force: ${summarize(truncation)}` : null,
  };
}

/** `limbo recover KEY ./NAME.recovered`: a copy before the content is destroyed, pasteable. */
function recoverCommand(candidate: ReclaimCandidate): string {
  const base = candidate.name === null ? null : candidate.name.subarray(candidate.name.lastIndexOf(0x2f) + 1);
  const stem = base && base.length > 0 && base[0] !== 0x23 ? base : Buffer.from(`file-${candidate.ino}`);
  return `limbo recover ${candidate.key} ${shellWord(Buffer.concat([Buffer.from('./'), stem, Buffer.from('.recovered')]))}`;
}

/** The act on one file, from a fresh scan: re-resolve, re-judge, then the checked truncation. */
function reclaimOne(
  candidate: ReclaimCandidate,
  now: Snapshot,
  plan: ReclaimPlan,
  meter: SpaceMeter,
): ReclaimResult {
  const key = candidate.key as string;
  const holders = findHolders(now, key, plan.procRoot);
  const risks = assessRisks(holders, candidate.name);
  const truncation = judgeTruncation(candidate.name, holders);
  const current = {
    ...candidate,
    holders,
    risks,
    truncation,
    steps: releaseSteps(holders, { name: candidate.name }),
  };
  const via: Via | null = candidate.byDescriptor ? candidate.via : chooseVia(holders);
  if (via === null) {
    const record = now.files.find((f) => f.key === key);
    const linked = record ? linkedRefusal(record.nlink, candidate.kind) : null;
    if (linked) return toResult(current, 'refused', linked);
    return toResult(
      current,
      'skipped',
      `no process holds ${key} now: the last holder closed it after the scan, which gave its space back`,
    );
  }
  // Judged after the identity checks: a reused fd number is the better reason to give.
  const riskRefusal =
    truncation.decision === 'never'
      ? `never truncated: ${summarize(truncation)}`
      : truncation.decision === 'needs-force' && !plan.force
        ? `needs --force: since the scan, ${summarize(truncation)}`
        : null;
  // Without a birth time, the holders stand in for it: the same processes through the same fds
  // with the same flags, or the file may be another one that reused the inode number.
  const holdersChanged = candidate.bornNs === null ? holderSetChange(candidate.holders, holders) : null;
  const silent = silentMountOf(via, {
    procRoot: plan.procRoot,
    timeoutMs: plan.mountTimeoutMs,
    known: now.incomplete.unansweredMounts,
  });
  if (silent) return toResult(current, 'refused', describeUnansweredTarget(describeVia(via), silent));
  return truncateThrough({ ...current, via }, via, plan.procRoot, meter, holdersChanged ?? riskRefusal);
}

/**
 * The checked truncation: open(link, O_PATH) → fstat (regular, st_nlink 0, the inode expected)
 * → open("/proc/self/fd/N", O_WRONLY) → fstat again → memfd seals → ftruncate(0). Never
 * O_TRUNC on the first open: it would truncate before anything could be checked.
 */
function truncateThrough(
  candidate: ReclaimCandidate,
  via: Via,
  procRoot: string,
  meter: SpaceMeter,
  riskRefusal: string | null,
): ReclaimResult {
  const where = describeVia(via);
  const opened = openPath(viaLink(procRoot, via));
  if (!opened.ok) {
    return opened.failure === 'gone'
      ? toResult(candidate, 'skipped', `${where} is gone (closed, or the process exited)`)
      : toResult(candidate, 'refused', `cannot open ${where}: ${opened.code}${hintFor(opened.code)}`);
  }
  try {
    const refusal = identityRefusal(opened.handle, candidate, where) ?? riskRefusal;
    if (refusal) return toResult(candidate, 'refused', refusal);
    let writeFd: number;
    try {
      writeFd = reopen(opened.handle, WRITE_FLAGS);
    } catch (error) {
      return toResult(candidate, 'refused', explainOpenFailure(error));
    }
    try {
      return truncateOpen(writeFd, opened.handle, candidate, meter);
    } finally {
      closeSync(writeFd);
    }
  } finally {
    closeQuietly(opened.handle.fd);
  }
}

/** Why the file behind the O_PATH descriptor must not be truncated: not the file planned, or not deleted. */
function identityRefusal(handle: PathHandle, candidate: ReclaimCandidate, where: string): string | null {
  const { stat } = handle;
  const key = candidate.key as string;
  if (!isRegularMode(stat.mode)) return `${where} is now ${describeFileType(stat.mode)}: not touched`;
  if (handle.key !== key) {
    return `${where} now refers to another file (${handle.key}), not the ${key} the scan saw: the number was reused; nothing was truncated`;
  }
  return (
    rebornReason(stat, candidate.bornNs, where) ??
    unbornChange(stat, candidate.seen, where) ??
    linkedRefusal(Number(stat.nlink), candidate.kind)
  );
}

/**
 * Why a file's link count forbids truncating it: a deleted file has none; a silly-renamed one has
 * at most its hidden name (the attribute cache reads 0 or 1). More means another name shares it.
 */
function linkedRefusal(nlink: number, kind: DeletedKind | null): string | null {
  return nlink > (kind === 'silly-renamed' ? 1 : 0) ? stillLinked(nlink) : null;
}

/**
 * Where the filesystem keeps no birth time (ext4 with 128-byte inodes, older filesystems), a
 * file that reused the inode number looks the same by (dev, ino): what the plan saw stands in
 * for the birth time, and any change refuses.
 */
function unbornChange(stat: PathHandle['stat'], seen: SeenIdentity | null, where: string): string | null {
  if (seen !== null && seen.bornNs !== null) return null;
  const noBirth = `its filesystem keeps no birth time, so limbo proves it is the same file by what the preview saw`;
  if (seen === null) return `${where}: ${noBirth}, and the preview could not see it: nothing was touched`;
  if (stat.size !== seen.sizeBytes || stat.ctimeNs !== seen.ctimeNs) {
    const what =
      stat.size !== seen.sizeBytes
        ? `its size changed (${seen.sizeBytes} → ${stat.size} bytes)`
        : 'its ctime changed';
    return `${where} changed since the preview: ${what}; ${noBirth}, so it may be another file with the same inode number: nothing was touched (run it again)`;
  }
  return null;
}

/** How the holders changed since the plan (processes, fds, their flags, mappings); null when they did not. */
function holderSetChange(planned: readonly FileHolder[], now: readonly FileHolder[]): string | null {
  const signature = (holders: readonly FileHolder[]) =>
    holders
      .flatMap((h) => [
        ...h.fds.map(
          (fd) =>
            `pid ${h.pid} fd ${fd.fd}${fd.tid === null ? '' : ` (thread ${fd.tid})`} flags 0${(fd.flags ?? 0).toString(8)}`,
        ),
        ...h.mappings.map((m) => `pid ${h.pid} mapping ${m.range} ${m.perms}`),
      ])
      .sort();
  const before = new Set(signature(planned));
  const after = new Set(signature(now));
  const gone = [...before].filter((s) => !after.has(s));
  const added = [...after].filter((s) => !before.has(s));
  if (gone.length === 0 && added.length === 0) return null;
  const parts = [...gone.map((s) => `no longer ${s}`), ...added.map((s) => `now ${s}`)].slice(0, 4);
  return `its holders changed since the preview (${parts.join('; ')}): its filesystem keeps no birth time, so it may be another file with the same inode number: nothing was touched`;
}

/** The last checks on the write descriptor (same inode, still unlinked, no seals), then ftruncate(0). */
function truncateOpen(
  writeFd: number,
  handle: PathHandle,
  candidate: ReclaimCandidate,
  meter: SpaceMeter,
): ReclaimResult {
  const before = fstatSync(writeFd, { bigint: true });
  if (keyOf(before) !== handle.key || linkedRefusal(Number(before.nlink), candidate.kind) !== null) {
    return toResult(candidate, 'refused', 'the file changed between the two opens: not touched');
  }
  const sealed = sealRefusal(writeFd, candidate);
  if (sealed) return toResult(candidate, 'refused', sealed);
  const heldBefore = Number(before.blocks) * 512;
  // Read again now, on the very inode about to be truncated: blocks shared with other files stay.
  const sharing = readExtentSharing(`/proc/self/fd/${writeFd}`, {
    dev: formatDev(before.dev),
    ino: before.ino,
    allocatedBytes: heldBefore,
  });
  const sharedBytes = sharing === null ? 0 : sharing.unknown === null ? sharing.sharedBytes : null;
  const expected = Math.max(0, heldBefore - (sharedBytes ?? 0));
  const measured = {
    ...candidate,
    sizeBytes: Number(before.size),
    allocatedBytes: heldBefore,
    reclaimableBytes: sharedBytes === null ? null : expected,
  };
  meter.track(candidate.dev as string, candidate.mount, candidate.fstype, `/proc/self/fd/${handle.fd}`);
  try {
    ftruncateSync(writeFd, 0);
  } catch (error) {
    return toResult(measured, 'refused', explainTruncateFailure(error));
  }
  const after = fstatSync(writeFd, { bigint: true });
  meter.expect(candidate.dev as string, expected);
  return {
    ...toResult(measured, 'truncated', null),
    expectedBytes: expected,
    sharedBytes,
    freedBytes: Math.max(0, expected - Number(after.blocks) * 512),
    sizeAfterBytes: Number(after.size),
  };
}

/**
 * Refuses a memfd whose seals promise its users the contents never change. The kernel itself
 * refuses only F_SEAL_SHRINK (EPERM); a memfd sealed with F_SEAL_WRITE alone truncates fine
 * (observed on 6.18), so limbo reads the seals itself. Without the native addon there is no
 * fcntl(F_GET_SEALS), and a memfd is refused rather than guessed about.
 */
function sealRefusal(fd: number, candidate: ReclaimCandidate): string | null {
  const memfd =
    candidate.kind === 'memfd' || (candidate.name?.toString('latin1').startsWith('/memfd:') ?? false);
  const getSeals = nativeAddon()?.memfdSeals;
  if (typeof getSeals !== 'function') {
    return memfd
      ? 'a memfd, and its seals cannot be read without the native addon (fcntl F_GET_SEALS): a sealed memfd promises its users that its contents never change'
      : null;
  }
  const seals = getSeals(fd);
  if (seals < 0) return null; // EINVAL: not a shmem file, so it cannot carry seals
  if (seals & (SEAL_WRITE | SEAL_FUTURE_WRITE)) {
    return 'a memfd sealed against writes (F_SEAL_WRITE): its users rely on its contents never changing';
  }
  if (seals & SEAL_SHRINK) {
    return 'a memfd sealed against shrinking (F_SEAL_SHRINK): its users rely on its size never going down';
  }
  return null;
}

/** The seal refusal of a memfd, judged in the plan through a read-only open (seals are only ever added). */
function readSealRefusal(link: string, candidate: ReclaimCandidate): string | null {
  const opened = openPath(link);
  if (!opened.ok) return null; // the act will say why it cannot reach it
  try {
    const fd = reopen(opened.handle, READ_FLAGS);
    try {
      return sealRefusal(fd, candidate);
    } finally {
      closeSync(fd);
    }
  } catch {
    return null;
  } finally {
    closeQuietly(opened.handle.fd);
  }
}

function explainOpenFailure(error: unknown): string {
  const code = errorCode(error);
  switch (code) {
    case 'ETXTBSY':
      return 'it is running as a program (ETXTBSY): the kernel refuses to open it for writing';
    case 'EWOULDBLOCK':
    case 'EAGAIN':
      return 'a process holds a lease on it (opening it for writing would break the lease): not touched';
    case 'EROFS':
      return 'its filesystem is mounted read-only (EROFS)';
    case 'EPERM':
      return 'the kernel refused to open it for writing (EPERM): an append-only or immutable file (chattr), or a security policy';
    case 'EACCES':
      return 'permission denied opening it for writing (EACCES): run as root, or as its owner';
    default:
      return `cannot open it for writing: ${code}`;
  }
}

function explainTruncateFailure(error: unknown): string {
  const code = errorCode(error);
  if (code === 'EPERM') {
    return 'the kernel refused to truncate it (EPERM): a memfd sealed against shrinking (F_SEAL_SHRINK), or an append-only file';
  }
  return `ftruncate failed: ${code}`;
}

function hintFor(code: string): string {
  return code === 'EACCES' || code === 'EPERM' ? ' (run as root; map_files needs CAP_SYS_ADMIN)' : '';
}

function denied(failure: string): string {
  return failure === 'denied' ? 'permission denied (run as root)' : failure;
}

function stillLinked(nlink: number): string {
  return `still linked (nlink ${nlink}): it has another name, and truncating would empty it under that name too`;
}

/** The verdict's reasons in one line, worst first. */
function summarize(truncation: TruncationVerdict): string {
  return truncation.reasons.map((reason) => reason.text).join('; ');
}

function emptyCandidate(target: string, byDescriptor: boolean): ReclaimCandidate {
  return {
    target,
    byDescriptor,
    key: null,
    dev: null,
    ino: null,
    name: null,
    kind: null,
    mount: null,
    fstype: null,
    sizeBytes: 0,
    allocatedBytes: 0,
    reclaimableBytes: 0,
    holders: [],
    risks: [],
    via: null,
    bornNs: null,
    seen: null,
    truncation: null,
    steps: [],
    recoverFirst: null,
    verdict: 'skipped',
    reason: null,
  };
}

function toResult(candidate: ReclaimCandidate, status: ReclaimStatus, reason: string | null): ReclaimResult {
  const { verdict, ...rest } = candidate;
  void verdict; // the plan's verdict becomes the result's status
  return {
    ...rest,
    status,
    reason,
    expectedBytes: candidate.reclaimableBytes ?? candidate.allocatedBytes,
    sharedBytes:
      candidate.reclaimableBytes === null ? null : candidate.allocatedBytes - candidate.reclaimableBytes,
    freedBytes: 0,
    sizeAfterBytes: null,
  };
}
