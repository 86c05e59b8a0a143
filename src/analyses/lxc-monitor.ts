// LXC, LXD and Incus all run a container through liblxc, which names its cgroups alike
// (lxc.payload.NAME, lxc.monitor.NAME) but each has its own restart command. The container's
// monitor tells them apart: its comm is the program that started it (lxc-start, lxd, incusd), and
// liblxc sets its title to "[lxc monitor] LXCPATH NAME" (src/lxc/lxccontainer.c, setproctitle),
// where NAME is "PROJECT_NAME" for an LXD or Incus project other than default (project.Instance).
import { isLxcMonitorCgroup, lxcMonitorCgroupOf } from '../proc/cgroup.js';
import { escapeName, shellWord } from '../format/escape.js';
import type { ProcessRecord } from '../snapshot/types.js';

/** An LXC container's monitor process, as the snapshot recorded it. */
export interface LxcMonitor {
  readonly pid: number;
  readonly comm: Buffer;
  readonly uid: number;
  readonly user: string;
  /** Its arguments: the title "[lxc monitor] LXCPATH NAME", or the argv it was started with. */
  readonly cmdline: readonly Buffer[];
}

/** What restarts a container from the host, or why limbo gives no command. */
export interface ContainerRestart {
  readonly command: string | null;
  /** Why there is no command; null when there is one. */
  readonly why: string | null;
}

type Member = Pick<ProcessRecord, 'pid' | 'ppid' | 'cgroup' | 'container'>;

/**
 * The monitor of the LXC container each process runs in, looked up in `processes`: the process in
 * the `lxc.monitor.NAME` cgroup beside the container's `lxc.payload.NAME`; else (liblxc adds "-1"…
 * to a cgroup name that is taken, so the two names can differ) the first ancestor outside the
 * container that sits in a monitor cgroup (the monitor is the parent of the container's init).
 */
export function lxcMonitorIndex(processes: readonly ProcessRecord[]): (process: Member) => LxcMonitor | null {
  const monitors = processes.filter((p) => p.cmdline !== undefined && p.cgroup !== null);
  const byPid = new Map(processes.map((p) => [p.pid, p]));
  return (process) => {
    if (process.container === null || process.cgroup === null || monitors.length === 0) return null;
    const beside = lxcMonitorCgroupOf(process.cgroup);
    const found =
      monitors.find((m) => m.cgroup === beside) ??
      ancestorMonitor(process, byPid, (p) => p.cgroup !== null && isLxcMonitorCgroup(p.cgroup));
    return found ? toMonitor(found) : null;
  };
}

function ancestorMonitor(
  process: Member,
  byPid: ReadonlyMap<number, ProcessRecord>,
  isMonitor: (p: ProcessRecord) => boolean,
): ProcessRecord | null {
  let current = byPid.get(process.ppid);
  for (let hops = 0; current && hops < 64; hops++) {
    if (current.container !== process.container) return isMonitor(current) ? current : null;
    current = byPid.get(current.ppid);
  }
  return null;
}

function toMonitor(p: ProcessRecord): LxcMonitor {
  return { pid: p.pid, comm: p.comm, uid: p.uid, user: p.user, cmdline: p.cmdline ?? [] };
}

/** The container's name and LXC path as its monitor's arguments give them; null when they do not. */
export function parseMonitorCmdline(
  cmdline: readonly Buffer[],
): { name: string; lxcPath: string | null } | null {
  const args = cmdline.map((arg) => arg.toString('utf8'));
  // liblxc's title; a container name has no space, a path may.
  const title = /^\[lxc monitor\] (.+) (\S+)$/.exec(args.length === 1 ? (args[0] ?? '') : '');
  if (title) return { lxcPath: title[1] as string, name: title[2] as string };
  // Before (or without) the title: `lxd forkstart NAME LXCPATH CONFIG`, `incusd forklxc NAME LXCPATH CONFIG LOGDIR`.
  if (args[1] === 'forkstart' || args[1] === 'forklxc') {
    return args[2] && args[3] ? { name: args[2], lxcPath: args[3] } : null;
  }
  // `lxc-start -n NAME [-P LXCPATH] -F …` (foreground: liblxc sets no title).
  let name: string | null = null;
  let lxcPath: string | null = null;
  for (let i = 1; i < args.length; i++) {
    const arg = args[i] as string;
    const value = (short: string, long: string): string | null => {
      if (arg === short || arg === long) return args[++i] ?? null;
      if (arg.startsWith(`${long}=`)) return arg.slice(long.length + 1);
      if (arg.startsWith(short) && arg.length > short.length) return arg.slice(short.length);
      return null;
    };
    name = value('-n', '--name') ?? name;
    lxcPath = value('-P', '--lxcpath') ?? lxcPath;
  }
  // Without -P, lxc-stop run by the same user finds it where lxc-start did.
  return name === null ? null : { name, lxcPath };
}

/**
 * The host's restart of an LXC, LXD or Incus container, by the program its monitor runs:
 * `lxc-stop -P LXCPATH -n NAME -r` (LXC: the container's init is asked to reboot, lxc-stop waits
 * for it to run again), `lxc restart local:NAME` (LXD's client; `local:` whatever the default
 * remote), `incus restart local:NAME`, each with `--project` outside the default project.
 */
export function lxcRestart(monitor: LxcMonitor | null, container: string): ContainerRestart {
  const shown = escapeName(Buffer.from(container));
  if (monitor === null) {
    return {
      command: null,
      why:
        `limbo saw no monitor of LXC container ${shown} (lxc.monitor.${shown}), so it cannot tell ` +
        'LXC from LXD or Incus, whose restart commands differ',
    };
  }
  const comm = monitor.comm.toString('latin1');
  const parsed = parseMonitorCmdline(monitor.cmdline);
  const manager =
    comm === 'lxd' ? 'LXD' : comm === 'incusd' ? 'Incus' : LXC_STARTERS.has(comm) ? 'LXC' : null;
  if (manager === null || parsed === null) {
    const what =
      manager === null
        ? `runs ${escapeName(monitor.comm)}, not lxc-start, lxd or incusd`
        : 'names no container';
    return {
      command: null,
      why: `the monitor of LXC container ${shown} (pid ${monitor.pid}) ${what}: limbo knows no command that restarts it`,
    };
  }
  if (manager === 'LXC') {
    const path = parsed.lxcPath === null ? '' : `-P ${shellWord(parsed.lxcPath)} `;
    const command = `lxc-stop ${path}-n ${shellWord(parsed.name)} -r`;
    if (monitor.uid === 0) return { command, why: null };
    // An unprivileged container answers only its owner.
    return {
      command: null,
      why: `LXC container ${shown} is ${escapeName(Buffer.from(monitor.user))}'s (unprivileged): as that user, run ${command}`,
    };
  }
  const split = parsed.name.indexOf('_');
  const project = split > 0 ? parsed.name.slice(0, split) : null;
  const name = split > 0 ? parsed.name.slice(split + 1) : parsed.name;
  const client = manager === 'LXD' ? 'lxc' : 'incus';
  const inProject = project === null ? '' : ` --project ${shellWord(project)}`;
  return { command: `${client} restart ${shellWord(`local:${name}`)}${inProject}`, why: null };
}

/** The LXC tools whose monitor is theirs (liblxc keeps the comm of the program that forked it). */
const LXC_STARTERS = new Set(['lxc-start', 'lxc-autostart']);
