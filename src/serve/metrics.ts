import type { History } from './history.js';
import type { LeakView } from './leak-watch.js';
import type { SharedScanner } from './shared-scanner.js';
import type { ScanResult } from './scan.js';
import type { DeletedJson } from '../analyses/deleted-json.js';
import { shortContainerId } from '../format/container.js';
import {
  CONTENT_TYPES,
  type ExpositionFormat,
  type LabelValue,
  type MetricFamily,
  negotiateFormat,
  renderExposition,
} from './exposition.js';

/** What /metrics needs besides the scan itself. */
export interface MetricsContext {
  readonly scanner: SharedScanner;
  readonly history: History;
  /** The leak detector's verdicts at the last scan, with who they are about. */
  readonly leaks: () => readonly LeakView[];
}

/**
 * The metric families of one scan (docs/metrics.md). Label cardinality is bounded by design:
 * per-process series only for the top N, per-mount series only for mounts holding deleted
 * files, and never a label per fd or per path.
 */
export function metricFamilies(scan: ScanResult, context: MetricsContext, top: number): MetricFamily[] {
  const { deleted, handles, shm, restart } = scan;
  const holders = new Map<
    number,
    { comm: Buffer; unit: string | null; container: string | null; allocated: number }
  >();
  // The exact comm of every process the scan named, for labels whose source carries only text.
  const comms = new Map<number, Buffer>();
  for (const p of handles.processes) comms.set(p.pid, commOf(p));
  for (const file of deleted.files) {
    for (const holder of file.holders) {
      const entry = holders.get(holder.pid) ?? {
        comm: commOf(holder),
        unit: holder.unit,
        container: holder.container,
        allocated: 0,
      };
      entry.allocated += file.allocated;
      holders.set(holder.pid, entry);
    }
  }
  const topHolders = [...holders.entries()].sort((a, b) => b[1].allocated - a[1].allocated).slice(0, top);
  const topProcesses = handles.processes.filter((p) => p.fds !== null).slice(0, top);
  const segmentsByStatus = new Map<string, number>([
    ['attached', 0],
    ['orphaned', 0],
    ['removed-attached', 0],
  ]);
  for (const segment of shm.segments)
    segmentsByStatus.set(segment.status, (segmentsByStatus.get(segment.status) ?? 0) + 1);
  // Only flagged series: one per suspect, so a fleet's label count stays small.
  const leaks = context.leaks().filter((leak) => leak.suspected);

  const gauge = (
    name: string,
    help: string,
    samples: MetricFamily['samples'],
    unit?: string,
  ): MetricFamily => ({
    name,
    help,
    type: 'gauge',
    ...(unit ? { unit } : {}),
    samples,
  });
  // A mount point is kernel bytes too, escaped like a comm (one-to-one: a newline and a backslash
  // followed by "n" stay apart). Mount points are absolute, so "(memfd)" names no mount.
  const mountLabel = (m: {
    readonly mount: string | null;
    readonly mountBytes?: string;
    readonly fstype: string | null;
  }): LabelValue =>
    m.mountBytes !== undefined
      ? Buffer.from(m.mountBytes, 'base64')
      : m.mount === null
        ? m.fstype === 'mqueue'
          ? '(mqueue)'
          : '(memfd)'
        : Buffer.from(m.mount, 'utf8');
  // A mount private to another mount namespace: its container's short id (its mount namespace
  // outside a container), so two containers' /data stay two series. One value per such mount,
  // and only mounts holding deleted files have series: bounded like the mount label.
  const containerLabel = (m: DeletedJson['totals']['byMount'][number]): string => {
    if (!m.mountNamespace || m.mountPath === undefined || m.mountPath === m.mount) return '';
    const holder = deleted.files
      .filter((f) => f.mount === m.mount && f.mountNamespace === m.mountNamespace)
      .flatMap((f) => f.holders)
      .find((h) => h.mountNamespace === m.mountNamespace && h.container !== null);
    return holder?.container ? shortContainerId(holder.container) : m.mountNamespace;
  };
  const mountLabels = (m: DeletedJson['totals']['byMount'][number]) => ({
    mount: mountLabel(m),
    fstype: m.fstype ?? '',
    container: containerLabel(m),
  });
  const one = (value: number | null) => (value === null ? [] : [{ labels: {}, value }]);
  // A comm is raw bytes from the kernel: as a Buffer it is shown escaped, as on a terminal.
  const processLabels = (pid: number, comm: Buffer, unit: string | null) => ({
    pid: String(pid),
    comm,
    unit: unit ?? '',
  });

  return [
    gauge(
      'limbo_deleted_files',
      'Deleted files still held open or mapped, per filesystem.',
      deleted.totals.byMount.map((m) => ({
        labels: mountLabels(m),
        value: m.files,
      })),
    ),
    gauge(
      'limbo_deleted_allocated_bytes',
      'Bytes (st_blocks x 512) held by deleted files still open or mapped, per filesystem.',
      deleted.totals.byMount.map((m) => ({
        labels: mountLabels(m),
        value: m.allocated,
      })),
      'bytes',
    ),
    gauge(
      'limbo_deleted_reclaimable_bytes',
      'Bytes closing every holder of those deleted files frees, per filesystem: allocated less blocks shared with other files or snapshots (XFS reflink, btrfs), for files whose split is known.',
      deleted.totals.byMount.map((m) => ({
        labels: mountLabels(m),
        value: m.reclaimable ?? m.allocated,
      })),
      'bytes',
    ),
    gauge(
      'limbo_deleted_reclaimable_unknown_bytes',
      'Allocated bytes of deleted files whose blocks shared with other files are unknown, per filesystem: closing them frees between 0 and this.',
      deleted.totals.byMount.map((m) => ({
        labels: mountLabels(m),
        value: m.reclaimableUnknown ?? 0,
      })),
      'bytes',
    ),
    gauge(
      'limbo_deleted_holder_allocated_bytes',
      `Bytes held by deleted files per holding process, for the top ${top} holders only.`,
      topHolders.map(([pid, h]) => ({
        labels: {
          ...processLabels(pid, h.comm, h.unit),
          container: h.container === null ? '' : shortContainerId(h.container),
        },
        value: h.allocated,
      })),
      'bytes',
    ),
    gauge(
      'limbo_file_handles_allocated',
      'Kernel file objects allocated (/proc/sys/fs/file-nr).',
      one(handles.fileNr.allocated),
    ),
    gauge('limbo_file_handles_max', 'fs.file-max: where open(2) fails with ENFILE.', one(handles.fileNr.max)),
    gauge(
      'limbo_file_handles_unexplained',
      'file-nr minus open files, mapping-only files and SysV shm: kernel-internal files and fds in flight.',
      one(handles.ledger.unexplained),
    ),
    gauge(
      'limbo_process_open_fds',
      `Open file descriptors, for the top ${top} processes by fd count.`,
      topProcesses.map((p) => ({ labels: processLabels(p.pid, commOf(p), p.unit), value: p.fds ?? 0 })),
    ),
    gauge(
      'limbo_process_fd_limit_soft',
      `Soft RLIMIT_NOFILE, for the same top ${top} processes (absent when unlimited).`,
      topProcesses
        .filter((p) => p.limit?.soft !== null && p.limit?.soft !== undefined)
        .map((p) => ({ labels: processLabels(p.pid, commOf(p), p.unit), value: p.limit?.soft ?? 0 })),
    ),
    gauge(
      'limbo_shm_orphaned_bytes',
      'RAM and swap held by SysV shared memory segments attached to no process and never removed.',
      [
        {
          labels: {},
          value: (shm.totals.byStatus.orphaned?.rss ?? 0) + (shm.totals.byStatus.orphaned?.swap ?? 0),
        },
      ],
      'bytes',
    ),
    gauge(
      'limbo_shm_segments',
      'SysV shared memory segments by status.',
      [...segmentsByStatus].map(([status, value]) => ({ labels: { status }, value })),
    ),
    gauge(
      'limbo_restart_needed_processes',
      'Processes running deleted or replaced executables or libraries.',
      [{ labels: {}, value: restart.processes.length }],
    ),
    gauge(
      'limbo_leak_suspected',
      '1 while a steady rise of a resource is flagged as a leak (resource: fds, heldBytes, mappings, shmAttachments).',
      leaks.map((leak) => ({
        labels: {
          pid: leak.pid === null ? '' : String(leak.pid),
          comm: (leak.pid === null ? undefined : comms.get(leak.pid)) ?? commOf(leak),
          unit: leak.unit ?? '',
          mount: leak.mount ?? '',
          resource: leak.resource,
        },
        value: 1,
      })),
    ),
    gauge(
      'limbo_mounts_unanswered',
      'FUSE and network mounts that did not answer statfs within the time limit in the last scan: skipped, their files not counted.',
      [{ labels: {}, value: deleted.incomplete.unansweredMounts?.length ?? 0 }],
    ),
    gauge(
      'limbo_scan_duration_seconds',
      'How long the last scan took, by the scanner that read the fd tables (proc or bpf).',
      [{ labels: { scanner: scan.handles.incomplete.scanner?.name ?? 'proc' }, value: scan.durationSeconds }],
      'seconds',
    ),
    gauge(
      'limbo_last_scan_timestamp_seconds',
      'When the scan these values come from finished (unix time): old when scans hang.',
      [{ labels: {}, value: scan.takenAt / 1000 }],
      'seconds',
    ),
    {
      name: 'limbo_scan_errors',
      help: 'Scans that failed or ran past --scan-timeout since the server started.',
      type: 'counter',
      samples: [{ labels: {}, value: context.scanner.failures }],
    },
    {
      name: 'limbo_scans',
      help: 'Scans run since the server started (requests within the interval share one).',
      type: 'counter',
      samples: [{ labels: {}, value: context.scanner.scans }],
    },
  ];
}

/** A comm's exact bytes: `commBytes` when the JSON has them (not valid UTF-8), else the text. */
function commOf(process: { readonly comm: string; readonly commBytes?: string }): Buffer {
  return process.commBytes === undefined
    ? Buffer.from(process.comm, 'utf8')
    : Buffer.from(process.commBytes, 'base64');
}

/**
 * /metrics bodies, rendered once per scan and format: a scrape between two scans costs a lookup,
 * not a render (and the bytes are encoded once, not on every write). A failed scan changes
 * `limbo_scan_errors_total` without a new scan, so it renders again.
 */
export class MetricsCache {
  private scan: ScanResult | null = null;
  private failures = -1;
  private readonly bodies = new Map<ExpositionFormat, Buffer>();

  constructor(
    private readonly context: MetricsContext,
    private readonly top: number,
  ) {}

  /** Prometheus text, or OpenMetrics when the Accept header asks for it. */
  render(scan: ScanResult, accept: string | undefined): { body: Buffer; contentType: string } {
    if (scan !== this.scan || this.context.scanner.failures !== this.failures) {
      this.scan = scan;
      this.failures = this.context.scanner.failures;
      this.bodies.clear();
    }
    const format = negotiateFormat(accept);
    let body = this.bodies.get(format);
    if (body === undefined) {
      body = Buffer.from(renderExposition(metricFamilies(scan, this.context, this.top), format));
      this.bodies.set(format, body);
    }
    return { body, contentType: CONTENT_TYPES[format] };
  }
}
