// What limbo knows about real programs: how each lets go of a file it holds (its own release
// step, sent to the right process), and which files are its durable state rather than a log.
// One table, used by every command that gives advice (deleted, df, report, reclaim, restart,
// watch, serve). Commands are printed to be pasted: every name from the system is shell-quoted.
import { findContainer, userManagerOf } from '../proc/cgroup.js';
import { escapeName, shellWord } from '../format/escape.js';
import { groupByFamily, type FileHolder, type ProcessFamily } from './holders.js';
import { lxcRestart, type ContainerRestart } from './lxc-monitor.js';

/** A program limbo knows by its comm. */
export interface ProgramEntry {
  /** What to call it in a sentence. */
  readonly program: string;
  /** Its /proc/PID/comm values (cut to 15 bytes by the kernel). */
  readonly comms: readonly string[];
  /**
   * How it lets go of a log it writes, sent to its master; null when it has none (restart it).
   * `pid` is the family's top process.
   */
  readonly reopenLogs: ((pid: number, user: string) => { command: string; how: string }) | null;
}

/** A file a program keeps as its durable state, and the step that frees it safely. */
export interface DurableState {
  readonly program: string;
  /** What the file is, in words: "Redis's append-only file (its durability log)". */
  readonly what: string;
  /** The program's own safe step, in words with its command. */
  readonly safeStep: string;
}

const kill = (signal: string, pid: number) => `kill -${signal} ${pid}`;

/** The table: the program's comm → how it lets go of its logs. */
export const PROGRAMS: readonly ProgramEntry[] = [
  {
    program: 'nginx',
    comms: ['nginx'],
    reopenLogs: (pid) => ({
      command: kill('USR1', pid),
      how: 'nginx reopens its logs on SIGUSR1 to the master, which `nginx -s reopen` sends too',
    }),
  },
  {
    program: 'Apache',
    comms: ['apache2', 'httpd'],
    reopenLogs: (pid) => ({
      command: kill('USR1', pid),
      how: 'Apache reopens its logs on a graceful restart, SIGUSR1 to the parent, which `apachectl graceful` sends too',
    }),
  },
  {
    program: 'rsyslog',
    comms: ['rsyslogd'],
    reopenLogs: (pid) => ({
      command: kill('HUP', pid),
      how: 'rsyslogd closes and reopens its files on SIGHUP',
    }),
  },
  {
    program: 'syslog-ng',
    comms: ['syslog-ng'],
    reopenLogs: (pid) => ({ command: kill('HUP', pid), how: 'syslog-ng reopens its files on SIGHUP' }),
  },
  {
    program: 'dnsmasq',
    comms: ['dnsmasq'],
    reopenLogs: (pid) => ({ command: kill('USR2', pid), how: 'dnsmasq reopens its log on SIGUSR2' }),
  },
  {
    program: 'PostgreSQL',
    comms: ['postgres', 'postmaster'],
    reopenLogs: (_pid, user) => ({
      command: `runuser -u ${shellWord(user)} -- psql -d postgres -c 'SELECT pg_rotate_logfile()'`,
      how: 'the PostgreSQL logger switches to a new file on pg_rotate_logfile() or `pg_ctl logrotate`, not on SIGHUP',
    }),
  },
  {
    program: 'MySQL/MariaDB',
    comms: ['mysqld', 'mariadbd'],
    reopenLogs: () => ({
      command: 'mysqladmin flush-logs',
      how: 'MySQL and MariaDB reopen their logs and start a new binlog on FLUSH LOGS',
    }),
  },
  {
    program: 'Redis',
    comms: ['redis-server'],
    reopenLogs: null,
  },
  {
    program: 'systemd-journald',
    comms: ['systemd-journal', 'systemd-journald'],
    reopenLogs: () => ({
      command: 'journalctl --rotate',
      how: 'journald closes its journal files and starts new ones on rotation',
    }),
  },
];

/** The table entry for a process name; null for a program limbo has no knowledge of. */
export function programOf(comm: Buffer): ProgramEntry | null {
  const name = comm.toString('latin1');
  return PROGRAMS.find((entry) => entry.comms.includes(name)) ?? null;
}

/**
 * Files programs keep as their durable state, by the program holding them and the file's name.
 * Truncating one destroys the program's data; each has the program's own safe step.
 */
interface DurableEntry {
  readonly comms: readonly string[] | null;
  readonly test: RegExp;
  readonly state: DurableState;
  /**
   * The program's own step that makes it let go of the file without losing it, sent to the family;
   * absent when only a restart does (and the restart is then what is advised).
   */
  readonly release?: { readonly command: string; readonly how: string };
}

const DURABLE_STATE: readonly DurableEntry[] = [
  {
    comms: ['redis-server'],
    test: /(\.aof|appendonly[^/]*)$/,
    state: {
      program: 'Redis',
      what: "Redis's append-only file (its durability log)",
      safeStep: 'let Redis write a new one and drop this: redis-cli BGREWRITEAOF',
    },
    // A restart would reload from the AOF files still named, without what only this one holds.
    release: {
      command: 'redis-cli BGREWRITEAOF',
      how:
        'Redis rewrites its append-only file from memory and closes the old one, losing nothing ' +
        '(add -p PORT, -s SOCKET or -a PASSWORD to redis-cli when this server needs them)',
    },
  },
  {
    comms: ['redis-server'],
    test: /\.rdb$/,
    state: {
      program: 'Redis',
      what: 'a Redis RDB snapshot (its saved dataset)',
      safeStep: 'let Redis save a new one: redis-cli BGSAVE',
    },
  },
  {
    comms: null,
    test: /-(wal|journal)$/,
    state: {
      program: 'SQLite',
      what: 'a SQLite -wal or -journal (committed rows may live only there)',
      safeStep: 'recover it with its database first (limbo recover), then restart the program that holds it',
    },
  },
  {
    comms: null,
    test: /\.(db|sqlite3?|db3)$/,
    state: {
      program: 'the database',
      what: 'a database file (SQLite, or another embedded database)',
      safeStep: 'recover it first (limbo recover), then restart the program that holds it',
    },
  },
  {
    comms: ['postgres', 'postmaster'],
    // base/pgsql_tmp holds a backend's temporary files, not data: isPostgresTempFile.
    test: /\/(base\/(?!pgsql_tmp\/)|(global|pg_wal|pg_xlog|pg_xact|pg_multixact)\/)/,
    state: {
      program: 'PostgreSQL',
      what: "PostgreSQL's data or write-ahead log (pg_wal)",
      safeStep: 'never truncate it: let PostgreSQL recycle it (CHECKPOINT), or restart the server',
    },
  },
  {
    comms: ['mysqld', 'mariadbd'],
    test: /(\.ibd|ibdata\d*|ib_logfile\d*|#ib_redo\d+|[-.]bin\.\d+|\.MY[DI])$/,
    state: {
      program: 'MySQL/MariaDB',
      what: 'MySQL/MariaDB data, redo log or binlog',
      safeStep: 'never truncate it: for binlogs, PURGE BINARY LOGS; otherwise restart the server',
    },
  },
  {
    comms: ['systemd-journal', 'systemd-journald'],
    test: /\.journal~?$/,
    state: {
      program: 'systemd-journald',
      what: 'a systemd journal file',
      safeStep: 'let journald let go of it: journalctl --rotate (then journalctl --vacuum-size=SIZE)',
    },
  },
];

/** What the file is to the program holding it, when it is one of the durable files limbo knows. */
export function durableStateOf(name: Buffer | null, holders: readonly FileHolder[]): DurableState | null {
  return durableEntryOf(name, holders)?.state ?? null;
}

function durableEntryOf(name: Buffer | null, holders: readonly FileHolder[]): DurableEntry | null {
  if (name === null) return null;
  const text = name.toString('latin1');
  for (const entry of DURABLE_STATE) {
    if (!entry.test.test(text)) continue;
    if (entry.comms === null || holders.some((h) => entry.comms?.includes(h.comm.toString('latin1')))) {
      return entry;
    }
  }
  return null;
}

/** A PostgreSQL backend's temporary file (sorts, hashes, WITH HOLD cursors spill there). */
export function isPostgresTempFile(name: Buffer | null): boolean {
  return name !== null && /\/pgsql_tmp\/pgsql_tmp\d+\.\d+/.test(name.toString('latin1'));
}

/** Names that look like a log: what a log-reopen step is for. */
export function looksLikeLog(name: Buffer | null): boolean {
  if (name === null) return false;
  const text = name.toString('latin1');
  return (
    /(^|\/)log(s)?\//.test(text) ||
    /\.(log|err|out)(\.\d+)?$/.test(text) ||
    /\/(syslog|messages)(\.\d+)?$/.test(text)
  );
}

/** One step that makes processes let go of a file. */
export interface ReleaseStep {
  /** The command to paste; null when there is none to give (restart it yourself). */
  readonly command: string | null;
  /** The sentence: what to do, to which processes, and why it works. Names escaped. */
  readonly text: string;
  /** The processes this step makes let go: every one of them must, for the space to return. */
  readonly pids: readonly number[];
  /** `reopen`: the program's own step; `restart`: a restart; `terminate`: ends a session. */
  readonly kind: 'reopen' | 'restart' | 'terminate';
  /** What the step loses, when it loses anything; null when nothing. */
  readonly loses: string | null;
}

/** What the file is, for choosing a step. */
export interface ReleaseContext {
  readonly name: Buffer | null;
}

/**
 * The steps that make every holder let go of one file: one per process family (a master and its
 * workers), each sent to the right process. A family that maps the file as code is restarted:
 * no signal releases a mapping.
 */
export function releaseSteps(holders: readonly FileHolder[], context: ReleaseContext): ReleaseStep[] {
  return groupByFamily(holders).map(({ family, holders: members }) => stepFor(family, members, context));
}

function stepFor(
  family: ProcessFamily,
  members: readonly FileHolder[],
  context: ReleaseContext,
): ReleaseStep {
  const first = members[0] as FileHolder;
  const pids = members.map((m) => m.pid);
  const who = describeFamily(family, pids);
  const mapsIt = members.some((m) => m.mappings.length > 0);
  const program = programOf(family.topComm.length > 0 ? family.topComm : first.comm);
  if (!mapsIt && program?.program === 'PostgreSQL' && isPostgresTempFile(context.name)) {
    const backends = pids.filter((pid) => pid !== family.topPid);
    if (backends.length > 0) {
      const sql = backends.map((pid) => `pg_terminate_backend(${pid})`).join(', ');
      return {
        command: `runuser -u ${shellWord(first.user)} -- psql -d postgres -c 'SELECT ${sql}'`,
        text: `end the PostgreSQL ${backends.length === 1 ? 'backend' : 'backends'} ${backends.join(', ')} that ${backends.length === 1 ? 'holds' : 'hold'} this temporary file`,
        pids: backends,
        kind: 'terminate',
        loses: 'the session ends: its query, transaction and open cursors are lost',
      };
    }
  }
  const release = mapsIt ? undefined : durableEntryOf(context.name, members)?.release;
  if (release) {
    return {
      command: release.command,
      text: `make ${who} let go of it: ${release.how}`,
      pids,
      kind: 'reopen',
      loses: null,
    };
  }
  if (!mapsIt && program?.reopenLogs && isLogOf(context.name, members)) {
    const { command, how } = program.reopenLogs(family.topPid, first.user);
    return { command, text: `make ${who} reopen its logs: ${how}`, pids, kind: 'reopen', loses: null };
  }
  return restartStep(first, family, pids, who, mapsIt);
}

/**
 * A log reopen frees only the program's logs: a file named like a log, or one every holder of
 * the family only appends to (the way logs are written).
 */
function isLogOf(name: Buffer | null, members: readonly FileHolder[]): boolean {
  if (looksLikeLog(name)) return true;
  const fds = members.flatMap((m) => m.fds);
  return fds.length > 0 && fds.every((fd) => fd.access === 'write' && fd.append === true);
}

function restartStep(
  holder: FileHolder,
  family: ProcessFamily,
  pids: number[],
  who: string,
  mapsIt: boolean,
): ReleaseStep {
  const why = mapsIt ? ': it maps the file, and no signal releases a mapping' : '';
  const advice = restartAdvice(holder);
  if (advice.command !== null) {
    return { command: advice.command, text: `restart ${who}${why}`, pids, kind: 'restart', loses: null };
  }
  if (advice.why !== null) {
    return { command: null, text: `restart ${who}${why}; ${advice.why}`, pids, kind: 'restart', loses: null };
  }
  const top =
    family.pids.length > 1 && !pids.includes(family.topPid)
      ? `: restart it from its master, pid ${family.topPid}`
      : '';
  return { command: null, text: `restart ${who}${why}${top}`, pids, kind: 'restart', loses: null };
}

/** What restartCommand needs of a holder: `lxcMonitor` only for a process in an LXC container. */
export type RestartSubject = Pick<FileHolder, 'service' | 'container' | 'cgroup' | 'lxcMonitor'> &
  Partial<Pick<FileHolder, 'user' | 'uid'>>;

/** `systemctl restart UNIT` (a user manager's unit through that manager), a container restart, or null. */
export function restartCommand(holder: RestartSubject): string | null {
  return restartAdvice(holder).command;
}

/** The restart command, or (for a container limbo cannot restart from the host) why there is none. */
export function restartAdvice(holder: RestartSubject): ContainerRestart {
  const command = (text: string | null): ContainerRestart => ({ command: text, why: null });
  if (holder.container) {
    const id = holder.container.slice(0, 12);
    const identity = holder.cgroup === null ? null : findContainer(holder.cgroup);
    // The kubelet starts a stopped container of its pod again.
    if (identity?.podUid || holder.cgroup?.includes('kubepods'))
      return command(`crictl stop ${holder.container.slice(0, 13)}`);
    if (identity?.runtime === 'podman' || identity?.runtime === 'docker') {
      const restart = `${identity.runtime} restart ${id}`;
      // A rootless engine runs under its user's manager: root's CLI talks to another daemon or store.
      const owner = holder.cgroup === null ? null : userManagerOf(holder.cgroup);
      if (owner === null) return command(restart);
      // Its processes may run as the user's subordinate uids: the manager's uid names the owner.
      const who = holder.uid === owner && holder.user ? escapeName(Buffer.from(holder.user)) : `uid ${owner}`;
      return {
        command: null,
        why: `a rootless ${identity.runtime} container of ${who}: root's ${identity.runtime} does not see it; as that user, run ${restart}`,
      };
    }
    if (identity?.runtime === 'systemd-nspawn')
      return command(`machinectl reboot ${shellWord(holder.container)}`);
    if (identity?.runtime === 'lxc') return lxcRestart(holder.lxcMonitor ?? null, holder.container);
    if (identity?.runtime === 'containerd') {
      return {
        command: null,
        why: 'a containerd container outside Kubernetes: its cgroup does not say which client started it (nerdctl, ctr, another), and ctr has no restart',
      };
    }
    return command(null);
  }
  const service = holder.service;
  if (!service) return command(null);
  if (service.user) {
    return command(
      `systemctl --user --machine=${shellWord(`${service.user.name}@`)} restart ${shellWord(service.unit)}`,
    );
  }
  return command(`systemctl restart ${shellWord(service.unit)}`);
}

/**
 * "nginx master 1200 and 2 workers (1201, 1202)", "nginx worker 1201 (master 1200)", "rsyslogd 612":
 * the processes of one family that hold the file, named by their place in it. Names escaped.
 */
export function describeFamily(family: ProcessFamily, holding: readonly number[]): string {
  const name = escapeName(family.topComm);
  const workers = holding.filter((pid) => pid !== family.topPid);
  const masterHolds = holding.includes(family.topPid);
  if (family.pids.length <= 1 || (masterHolds && workers.length === 0)) return `${name} ${family.topPid}`;
  const listed = `${workers.length} ${workers.length === 1 ? 'worker' : 'workers'} (${workers.join(', ')})`;
  if (masterHolds) return `${name} master ${family.topPid} and ${listed}`;
  return workers.length === 1
    ? `${name} worker ${workers[0]} (master ${family.topPid})`
    : `${name} ${listed} (master ${family.topPid})`;
}
