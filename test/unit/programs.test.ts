// The holder model, the program table and the truncation decisions, on snapshots built as data:
// each case is a holder as /proc would show it, and the step or verdict an operator must get.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeDescriptor, findFileHolders, holderUses, serviceOf } from '../../src/analyses/holders.js';
import { describeFamily, durableStateOf, releaseSteps, restartCommand } from '../../src/analyses/programs.js';
import { judgeTruncation } from '../../src/analyses/truncation.js';
import { shellWord } from '../../src/format/escape.js';
import type { HeldFd, HeldMapping, ProcessRecord, Snapshot } from '../../src/snapshot/types.js';

const KEY = '8:1:42';
const O_RDONLY = 0o0;
const O_WRONLY = 0o1;
const O_RDWR = 0o2;
const O_APPEND = 0o2000;

interface ProcessSpec {
  pid: number;
  ppid?: number;
  comm: string;
  exe?: string;
  user?: string;
  uid?: number;
  cgroup?: string | null;
  unit?: string | null;
  container?: string | null;
  fds?: { fd: number; flags: number | null; pos?: number }[];
  maps?: string[];
}

function processOf(spec: ProcessSpec): ProcessRecord {
  const fds: HeldFd[] = (spec.fds ?? []).map((fd) => ({
    fd: fd.fd,
    tid: null,
    fileKey: KEY,
    name: null,
    flags: fd.flags,
    posBytes: fd.pos ?? 0,
  }));
  const mappings: HeldMapping[] = (spec.maps ?? []).map((perms, i) => ({
    range: `${(0x1000 * (i + 1)).toString(16)}-${(0x1000 * (i + 2)).toString(16)}`,
    perms,
    fileKey: KEY,
    name: Buffer.from('/x'),
    nameNowKey: null,
  }));
  return {
    pid: spec.pid,
    ppid: spec.ppid ?? 1,
    comm: Buffer.from(spec.comm),
    uid: spec.uid ?? 0,
    user: spec.user ?? 'root',
    state: 'S',
    threads: 1,
    mountNamespace: null,
    cgroup: spec.cgroup ?? null,
    unit: spec.unit ?? null,
    container: spec.container ?? null,
    exeKey: spec.exe ?? `exe:${spec.comm}`,
    fdCount: 10,
    readable: true,
    fds,
    mappings,
    deletedExe: null,
    fdLimit: null,
    handles: null,
  };
}

function snapshotOf(processes: ProcessSpec[]): Snapshot {
  return {
    schema: 'limbo.snapshot/1',
    takenAt: '2026-11-30T00:00:00Z',
    hostname: 'test',
    procRoot: '/proc',
    hostMountNamespace: null,
    scanMilliseconds: 0,
    processes: processes.map(processOf),
    files: [],
    mountNamespaces: [],
    incomplete: { scannerUid: 0, unreadableProcesses: 0, unreadablePids: [], unverifiedMappings: 0 },
    system: null,
    shmSegments: null,
    posixShm: null,
  };
}

const appendFd = (fd = 3) => ({ fd, flags: O_WRONLY | O_APPEND });

describe('the holder model reads access mode and O_APPEND from fdinfo flags', () => {
  const cases: [string, number | null, string | null, boolean | null][] = [
    ['O_RDONLY', O_RDONLY, 'read', false],
    ['O_WRONLY', O_WRONLY, 'write', false],
    ['O_RDWR', O_RDWR, 'read-write', false],
    ['O_WRONLY|O_APPEND|O_CLOEXEC', O_WRONLY | O_APPEND | 0o2000000, 'write', true],
    ['unreadable', null, null, null],
  ];
  for (const [name, flags, access, append] of cases) {
    it(`${name} → ${access} ${append}`, () => {
      const fd = describeDescriptor(3, null, flags, 0);
      assert.deepEqual([fd.access, fd.append], [access, append]);
    });
  }
});

describe('process families: parents running the same executable', () => {
  it('groups a master and its workers, and not a parent running another program', () => {
    const snapshot = snapshotOf([
      { pid: 100, comm: 'bash' },
      { pid: 1200, ppid: 100, comm: 'nginx', fds: [appendFd()] },
      { pid: 1201, ppid: 1200, comm: 'nginx', fds: [appendFd()] },
      { pid: 1202, ppid: 1200, comm: 'nginx', fds: [appendFd()] },
    ]);
    const holders = findFileHolders(snapshot, KEY);
    assert.deepEqual(
      holders.map((h) => [h.pid, h.family.topPid, h.family.pids]),
      [
        [1200, 1200, [1200, 1201, 1202]],
        [1201, 1200, [1200, 1201, 1202]],
        [1202, 1200, [1200, 1201, 1202]],
      ],
    );
    assert.equal(
      describeFamily(holders[0]!.family, [1200, 1201, 1202]),
      'nginx master 1200 and 2 workers (1201, 1202)',
    );
    assert.equal(describeFamily(holders[0]!.family, [1201]), 'nginx worker 1201 (master 1200)');
  });

  it('a child that exec-ed another executable under the same comm is not a worker', () => {
    const snapshot = snapshotOf([
      { pid: 10, comm: 'app', exe: 'a', fds: [appendFd()] },
      { pid: 11, ppid: 10, comm: 'app', exe: 'b', fds: [appendFd()] },
    ]);
    assert.deepEqual(
      findFileHolders(snapshot, KEY).map((h) => h.family.topPid),
      [10, 11],
    );
  });
});

describe('the program table: each program gets its own release step, sent to the right process', () => {
  const cases: {
    name: string;
    file: string;
    processes: ProcessSpec[];
    steps: [string, string | null, number[]][];
  }[] = [
    {
      name: 'nginx log held by master and workers: USR1 to the master only',
      file: '/var/log/nginx/access.log',
      processes: [
        { pid: 1200, comm: 'nginx', fds: [appendFd()] },
        { pid: 1201, ppid: 1200, comm: 'nginx', fds: [appendFd()] },
      ],
      steps: [['reopen', 'kill -USR1 1200', [1200, 1201]]],
    },
    {
      name: 'nginx log held only by a worker: still the master',
      file: '/var/log/nginx/error.log',
      processes: [
        { pid: 1200, comm: 'nginx' },
        { pid: 1201, ppid: 1200, comm: 'nginx', fds: [appendFd()] },
      ],
      steps: [['reopen', 'kill -USR1 1200', [1201]]],
    },
    {
      name: 'Apache',
      file: '/var/log/apache2/access.log',
      processes: [{ pid: 300, comm: 'apache2', fds: [appendFd()] }],
      steps: [['reopen', 'kill -USR1 300', [300]]],
    },
    {
      name: 'rsyslogd',
      file: '/var/log/syslog',
      processes: [{ pid: 612, comm: 'rsyslogd', fds: [appendFd()] }],
      steps: [['reopen', 'kill -HUP 612', [612]]],
    },
    {
      name: 'syslog-ng',
      file: '/var/log/messages',
      processes: [{ pid: 613, comm: 'syslog-ng', fds: [appendFd()] }],
      steps: [['reopen', 'kill -HUP 613', [613]]],
    },
    {
      name: 'PostgreSQL logger: pg_rotate_logfile(), not HUP',
      file: '/var/lib/postgresql/15/main/log/postgresql-Mon.log',
      processes: [
        { pid: 900, comm: 'postgres', user: 'postgres' },
        { pid: 901, ppid: 900, comm: 'postgres', user: 'postgres', fds: [appendFd()] },
      ],
      steps: [['reopen', "runuser -u postgres -- psql -d postgres -c 'SELECT pg_rotate_logfile()'", [901]]],
    },
    {
      name: "PostgreSQL backend's temp file: pg_terminate_backend(PID) of that backend",
      file: '/var/lib/postgresql/15/main/base/pgsql_tmp/pgsql_tmp905.3',
      processes: [
        { pid: 900, comm: 'postgres', user: 'postgres' },
        { pid: 905, ppid: 900, comm: 'postgres', user: 'postgres', fds: [{ fd: 40, flags: O_RDWR }] },
      ],
      steps: [
        ['terminate', "runuser -u postgres -- psql -d postgres -c 'SELECT pg_terminate_backend(905)'", [905]],
      ],
    },
    {
      name: 'MySQL binlog or log: FLUSH LOGS',
      file: '/var/log/mysql/error.log',
      processes: [{ pid: 700, comm: 'mariadbd', fds: [appendFd()] }],
      steps: [['reopen', 'mysqladmin flush-logs', [700]]],
    },
    {
      name: 'Redis AOF: BGREWRITEAOF, not a restart (which reloads without this file)',
      file: '/var/lib/redis/appendonlydir/appendonly.aof.1.incr.aof',
      processes: [{ pid: 800, comm: 'redis-server', unit: 'redis-server.service', fds: [appendFd()] }],
      steps: [['reopen', 'redis-cli BGREWRITEAOF', [800]]],
    },
    {
      name: 'Redis with another file: restart its service',
      file: '/var/lib/redis/dump.rdb',
      processes: [
        { pid: 800, comm: 'redis-server', unit: 'redis-server.service', fds: [{ fd: 9, flags: O_RDONLY }] },
      ],
      steps: [['restart', 'systemctl restart redis-server.service', [800]]],
    },
    {
      name: 'a service without a table entry: systemctl restart UNIT',
      file: '/srv/app/out.log',
      processes: [{ pid: 500, comm: 'app', unit: 'app.service', fds: [appendFd()] }],
      steps: [['restart', 'systemctl restart app.service', [500]]],
    },
    {
      name: "a user manager's unit: restarted through that user's manager",
      file: '/home/u/app.log',
      processes: [
        {
          pid: 501,
          comm: 'app',
          uid: 1000,
          user: 'u',
          unit: 'x.service',
          cgroup: '/user.slice/user-1000.slice/user@1000.service/app.slice/x.service',
          fds: [appendFd()],
        },
      ],
      steps: [['restart', 'systemctl --user --machine=u@ restart x.service', [501]]],
    },
    {
      name: 'nginx mapping a replaced library: a restart, never a signal',
      file: '/usr/lib/x86_64-linux-gnu/libssl.so.3',
      processes: [
        { pid: 1200, comm: 'nginx', unit: 'nginx.service', maps: ['r-xp'] },
        { pid: 1201, ppid: 1200, comm: 'nginx', unit: 'nginx.service', maps: ['r-xp'] },
      ],
      steps: [['restart', 'systemctl restart nginx.service', [1200, 1201]]],
    },
    {
      name: 'anything else: restart, naming the family and its top process',
      file: '/tmp/data.bin',
      processes: [
        { pid: 40, comm: 'worker' },
        { pid: 41, ppid: 40, comm: 'worker', fds: [{ fd: 3, flags: O_RDONLY }] },
      ],
      steps: [['restart', null, [41]]],
    },
  ];
  for (const { name, file, processes, steps } of cases) {
    it(name, () => {
      const holders = findFileHolders(snapshotOf(processes), KEY);
      const got = releaseSteps(holders, { name: Buffer.from(file) });
      assert.deepEqual(
        got.map((step) => [step.kind, step.command, step.pids]),
        steps,
      );
    });
  }

  it('names the top process when only a worker holds an unknown program', () => {
    const holders = findFileHolders(
      snapshotOf([
        { pid: 40, comm: 'worker' },
        { pid: 41, ppid: 40, comm: 'worker', fds: [{ fd: 3, flags: O_RDONLY }] },
      ]),
      KEY,
    );
    assert.equal(
      releaseSteps(holders, { name: null })[0]?.text,
      'restart worker worker 41 (master 40): restart it from its master, pid 40',
    );
  });

  it('quotes hostile names so a pasted command stays one word and never reaches the terminal raw', () => {
    assert.equal(shellWord('nginx.service'), 'nginx.service');
    assert.equal(shellWord("it's.service"), `'it'\\''s.service'`);
    assert.equal(shellWord(Buffer.from('a\nb;rm -rf /')), "$'a\\x0ab;rm -rf /'");
    assert.equal(shellWord(Buffer.from([0x61, 0x1b, 0x5b, 0x32, 0x4a])), "$'a\\x1b[2J'");
    assert.equal(
      restartCommand({ service: { unit: 'a b.service', user: null }, container: null, cgroup: null }),
      "systemctl restart 'a b.service'",
    );
  });

  it('a system unit and its container are told apart from a delegated user unit', () => {
    const base = { user: 'root', uid: 0 };
    assert.deepEqual(serviceOf({ ...base, unit: 'nginx.service', cgroup: '/system.slice/nginx.service' }), {
      unit: 'nginx.service',
      user: null,
    });
    assert.equal(
      serviceOf({
        ...base,
        unit: 'user@1000.service',
        cgroup: '/user.slice/user-1000.slice/user@1000.service',
      }),
      null,
    );
    assert.equal(
      serviceOf({ ...base, unit: 'session-3.scope', cgroup: '/user.slice/session-3.scope' }),
      null,
    );
  });
});

describe('truncation decisions: holder → decision → why', () => {
  const cases: { name: string; file: string; processes: ProcessSpec[]; decision: string; codes: string[] }[] =
    [
      {
        name: 'only appenders, nothing maps it → truncate',
        file: '/var/log/app.log',
        processes: [{ pid: 1, comm: 'app', fds: [appendFd()] }],
        decision: 'truncate',
        codes: ['appenders-only'],
      },
      {
        name: 'a reader (O_RDONLY) → needs --force: data loss',
        file: '/var/tmp/x.bin',
        processes: [{ pid: 1, comm: 'app', fds: [{ fd: 3, flags: O_RDONLY }] }],
        decision: 'needs-force',
        codes: ['reads-data'],
      },
      {
        name: 'O_RDWR reads it back too',
        file: '/var/tmp/x.bin',
        processes: [{ pid: 1, comm: 'app', fds: [{ fd: 3, flags: O_RDWR | O_APPEND }] }],
        decision: 'needs-force',
        codes: ['reads-data'],
      },
      {
        name: 'flags unreadable → judged as a reader',
        file: '/var/tmp/x.bin',
        processes: [{ pid: 1, comm: 'app', fds: [{ fd: 3, flags: null }] }],
        decision: 'needs-force',
        codes: ['flags-unknown'],
      },
      {
        name: 'write-only without O_APPEND → needs --force: a hole',
        file: '/var/tmp/x.bin',
        processes: [{ pid: 1, comm: 'app', fds: [{ fd: 3, flags: O_WRONLY, pos: 4096 }] }],
        decision: 'needs-force',
        codes: ['writes-at-offset'],
      },
      {
        name: 'mapped as data → needs --force: SIGBUS',
        file: '/var/tmp/x.bin',
        processes: [{ pid: 1, comm: 'app', fds: [appendFd()], maps: ['r--s'] }],
        decision: 'needs-force',
        codes: ['mapped'],
      },
      {
        name: 'mapped as code → never',
        file: '/opt/lib/libx.so',
        processes: [{ pid: 1, comm: 'app', maps: ['r-xp'] }],
        decision: 'never',
        codes: ['mapped-code'],
      },
      {
        name: 'a Redis AOF, though appended to → needs --force: durable state',
        file: '/var/lib/redis/appendonly.aof',
        processes: [{ pid: 1, comm: 'redis-server', fds: [appendFd()] }],
        decision: 'needs-force',
        codes: ['durable-state'],
      },
      {
        name: "a PostgreSQL backend's temp file under base/ → needs --force: read back, not PostgreSQL's data",
        file: '/var/lib/postgresql/15/main/base/pgsql_tmp/pgsql_tmp905.3',
        processes: [{ pid: 1, comm: 'postgres', fds: [{ fd: 40, flags: O_RDWR }] }],
        decision: 'needs-force',
        codes: ['reads-data'],
      },
      {
        name: "PostgreSQL's data under base/ → durable state",
        file: '/var/lib/postgresql/15/main/base/5/16384',
        processes: [{ pid: 1, comm: 'postgres', fds: [{ fd: 40, flags: O_RDWR }] }],
        decision: 'needs-force',
        codes: ['durable-state', 'reads-data'],
      },
      {
        name: 'a SQLite -wal',
        file: '/srv/app/data.db-wal',
        processes: [{ pid: 1, comm: 'python3', fds: [{ fd: 4, flags: O_RDWR }] }],
        decision: 'needs-force',
        codes: ['durable-state', 'reads-data'],
      },
      {
        name: 'a journald journal',
        file: '/var/log/journal/abc/system.journal',
        processes: [{ pid: 1, comm: 'systemd-journal', fds: [{ fd: 20, flags: O_RDWR }] }],
        decision: 'needs-force',
        codes: ['durable-state', 'reads-data'],
      },
    ];
  for (const { name, file, processes, decision, codes } of cases) {
    it(name, () => {
      const holders = findFileHolders(snapshotOf(processes), KEY);
      const verdict = judgeTruncation(Buffer.from(file), holders);
      assert.equal(verdict.decision, decision);
      assert.deepEqual(
        verdict.reasons.map((r) => r.code),
        codes,
      );
    });
  }

  it('offers recover for what is not a log, never for a log', () => {
    const holders = findFileHolders(snapshotOf([{ pid: 1, comm: 'app', fds: [appendFd()] }]), KEY);
    assert.equal(judgeTruncation(Buffer.from('/var/log/app.log'), holders).offerRecover, false);
    assert.equal(judgeTruncation(Buffer.from('/srv/state.bin'), holders).offerRecover, true);
  });

  it('sorts uses worst first', () => {
    const holders = findFileHolders(
      snapshotOf([
        {
          pid: 1,
          comm: 'a',
          fds: [appendFd(3), { fd: 4, flags: O_WRONLY }, { fd: 5, flags: O_RDONLY }],
          maps: ['r-xp'],
        },
      ]),
      KEY,
    );
    assert.deepEqual(
      holderUses(holders).map((u) => u.use),
      ['code', 'reader', 'writer', 'appender'],
    );
  });

  it('durable state needs the program for program-specific files', () => {
    const holders = findFileHolders(
      snapshotOf([{ pid: 1, comm: 'cp', fds: [{ fd: 3, flags: O_RDONLY }] }]),
      KEY,
    );
    assert.equal(durableStateOf(Buffer.from('/backup/appendonly.aof'), holders), null);
  });
});
