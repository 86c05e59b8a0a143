// LXC, LXD and Incus restart advice, from the text the kernel shows: /proc/PID/cgroup of the
// container's process and of its monitor, and the monitor's /proc/PID/cmdline and comm. The
// monitor's title is liblxc's setproctitle "[lxc monitor] LXCPATH NAME" (lxc src/lxc/lxccontainer.c);
// LXD and Incus name a project's container "PROJECT_NAME" (project.Instance).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { findFileHolders } from '../../src/analyses/holders.js';
import { parseMonitorCmdline } from '../../src/analyses/lxc-monitor.js';
import { releaseSteps, restartAdvice } from '../../src/analyses/programs.js';
import { findRestartNeeded } from '../../src/analyses/restart.js';
import { parseCgroup } from '../../src/proc/cgroup.js';
import { parseCmdline } from '../../src/proc/cmdline.js';
import type { ProcessRecord, Snapshot } from '../../src/snapshot/types.js';
import { processRecord, snapshotRecord } from '../helpers/records.js';

const KEY = '8:1:42';

interface Spec {
  pid: number;
  ppid?: number;
  comm: string;
  uid?: number;
  user?: string;
  /** /proc/PID/cgroup text. */
  cgroup: string;
  /** /proc/PID/cmdline bytes, NULs written as \0 (only a monitor's is recorded). */
  cmdline?: string;
  holds?: boolean;
}

function processOf(spec: Spec): ProcessRecord {
  const placement = parseCgroup(spec.cgroup);
  return processRecord(spec.pid, {
    ppid: spec.ppid ?? 1,
    comm: Buffer.from(spec.comm),
    uid: spec.uid ?? 0,
    user: spec.user ?? 'root',
    mountNamespace: null,
    cgroup: placement?.path ?? null,
    unit: placement?.unit ?? null,
    container: placement?.container ?? null,
    ...(spec.cmdline === undefined ? {} : { cmdline: parseCmdline(Buffer.from(spec.cmdline, 'latin1')) }),
    fdCount: 1,
    fds: spec.holds
      ? [{ fd: 3, tid: null, fileKey: KEY, name: Buffer.from('/x'), flags: 0, posBytes: 0 }]
      : [],
  });
}

function snapshotOf(specs: Spec[]): Snapshot {
  return snapshotRecord({ hostMountNamespace: null, processes: specs.map(processOf) });
}

/** A container's nginx holding the file, and (when given) its monitor. */
function adviceFor(payload: string, monitor: Omit<Spec, 'pid'> | null, holderPpid = 1) {
  const snapshot = snapshotOf([
    ...(monitor ? [{ pid: 500, ...monitor }] : []),
    {
      pid: 700,
      ppid: holderPpid,
      comm: 'nginx',
      cgroup: `0::${payload}/system.slice/nginx.service`,
      holds: true,
    },
  ]);
  const [holder] = findFileHolders(snapshot, KEY);
  assert.ok(holder);
  return { advice: restartAdvice(holder), steps: releaseSteps([holder], { name: null }), snapshot };
}

describe('LXC, LXD and Incus told apart by the container monitor', () => {
  const cases: { name: string; payload: string; monitor: Omit<Spec, 'pid'>; command: string }[] = [
    {
      name: 'LXC (lxc-start, daemonized: liblxc titles its monitor)',
      payload: '/lxc.payload.web',
      monitor: {
        comm: 'lxc-start',
        cgroup: '0::/lxc.monitor.web',
        cmdline: '[lxc monitor] /var/lib/lxc web\0',
      },
      command: 'lxc-stop -P /var/lib/lxc -n web -r',
    },
    {
      name: 'LXC started in the foreground (no title: its own argv)',
      payload: '/lxc.payload.web',
      monitor: { comm: 'lxc-start', cgroup: '0::/lxc.monitor.web', cmdline: 'lxc-start\0-n\0web\0-F\0' },
      command: 'lxc-stop -n web -r',
    },
    {
      name: 'LXC with a path that needs quoting',
      payload: '/lxc.payload.web',
      monitor: {
        comm: 'lxc-autostart',
        cgroup: '0::/lxc.monitor.web',
        cmdline: '[lxc monitor] /srv/my lxc web\0',
      },
      command: "lxc-stop -P '/srv/my lxc' -n web -r",
    },
    {
      name: 'LXD (snap), default project',
      payload: '/lxc.payload.web',
      monitor: {
        comm: 'lxd',
        cgroup: '0::/lxc.monitor.web',
        cmdline: '[lxc monitor] /var/snap/lxd/common/lxd/containers web\0',
      },
      command: 'lxc restart local:web',
    },
    {
      name: 'LXD, project dev (cgroup and title say dev_web)',
      payload: '/lxc.payload.dev_web',
      monitor: {
        comm: 'lxd',
        cgroup: '0::/lxc.monitor.dev_web',
        cmdline: '[lxc monitor] /var/lib/lxd/containers dev_web\0',
      },
      command: 'lxc restart local:web --project dev',
    },
    {
      name: 'LXD before the title (lxd forkstart NAME LXCPATH CONFIG)',
      payload: '/lxc.payload.web',
      monitor: {
        comm: 'lxd',
        cgroup: '0::/lxc.monitor.web',
        cmdline:
          'lxd\0forkstart\0web\0/var/snap/lxd/common/lxd/containers\0/var/snap/lxd/common/lxd/logs/web/lxc.conf\0',
      },
      command: 'lxc restart local:web',
    },
    {
      name: 'Incus, on cgroup v1 (the name=systemd line)',
      payload: '/lxc.payload.web',
      monitor: {
        comm: 'incusd',
        cgroup: '12:name=systemd:/lxc.monitor.web\n1:cpu:/lxc.monitor.web',
        cmdline: '[lxc monitor] /var/lib/incus/containers web\0',
      },
      command: 'incus restart local:web',
    },
  ];
  for (const { name, payload, monitor, command } of cases) {
    it(`${name} → ${command}`, () => {
      const { advice, steps } = adviceFor(payload, monitor);
      assert.deepEqual(advice, { command, why: null });
      assert.equal(steps[0]?.command, command);
    });
  }

  it('finds the monitor as the parent of the container when liblxc renamed the payload cgroup (web-1)', () => {
    const { advice } = adviceFor(
      '/lxc.payload.web-1',
      { comm: 'lxc-start', cgroup: '0::/lxc.monitor.web', cmdline: '[lxc monitor] /var/lib/lxc web\0' },
      500,
    );
    assert.equal(advice.command, 'lxc-stop -P /var/lib/lxc -n web -r');
  });

  it('gives no command without a monitor, and says why', () => {
    const { advice, steps } = adviceFor('/lxc.payload.web', null);
    assert.equal(advice.command, null);
    assert.match(advice.why ?? '', /no monitor of LXC container web .*cannot tell LXC from LXD or Incus/);
    assert.equal(steps[0]?.command, null);
    assert.match(steps[0]?.text ?? '', /^restart nginx 700; limbo saw no monitor/);
  });

  it('gives no command for a monitor of another program', () => {
    const { advice } = adviceFor('/lxc.payload.web', {
      comm: 'python3',
      cgroup: '0::/lxc.monitor.web',
      cmdline: '[lxc monitor] /var/lib/lxc web\0',
    });
    assert.equal(advice.command, null);
    assert.match(advice.why ?? '', /pid 500\) runs python3, not lxc-start, lxd or incusd/);
  });

  it("gives an unprivileged LXC container's command only as words for its owner", () => {
    const { advice } = adviceFor('/user.slice/user-1000.slice/user@1000.service/lxc.payload.web', {
      comm: 'lxc-start',
      uid: 1000,
      user: 'alice',
      cgroup: '0::/user.slice/user-1000.slice/user@1000.service/lxc.monitor.web',
      cmdline: '[lxc monitor] /home/alice/.local/share/lxc web\0',
    });
    assert.equal(advice.command, null);
    assert.equal(
      advice.why,
      "LXC container web is alice's (unprivileged): as that user, run lxc-stop -P /home/alice/.local/share/lxc -n web -r",
    );
  });

  it('restart groups carry the command, or why there is none', () => {
    const withMonitor = snapshotOf([
      {
        pid: 500,
        comm: 'lxd',
        cgroup: '0::/lxc.monitor.web',
        cmdline: '[lxc monitor] /var/lib/lxd/containers web\0',
      },
      { pid: 700, ppid: 500, comm: 'nginx', cgroup: '0::/lxc.payload.web/system.slice/nginx.service' },
    ]);
    const exe = (snapshot: Snapshot): Snapshot => ({
      ...snapshot,
      files: [
        { key: KEY, dev: '8:1', ino: 42n, nlink: 0, sizeBytes: 1, allocatedBytes: 4096, mode: 0o100755 },
      ],
      processes: snapshot.processes.map((p) =>
        p.pid === 700
          ? { ...p, deletedExe: { fileKey: KEY, name: Buffer.from('/usr/sbin/nginx'), nameNowKey: null } }
          : p,
      ),
    });
    const group = findRestartNeeded(exe(withMonitor)).groups[0];
    assert.deepEqual(
      [group?.container, group?.command, group?.why],
      ['web', 'lxc restart local:web', undefined],
    );
    const without = snapshotOf([
      { pid: 700, comm: 'nginx', cgroup: '0::/lxc.payload.web/system.slice/nginx.service' },
    ]);
    const bare = findRestartNeeded(exe(without)).groups[0];
    assert.equal(bare?.command, null);
    assert.match(bare?.why ?? '', /cannot tell LXC from LXD or Incus/);
  });
});

describe('parseMonitorCmdline', () => {
  const cases: [string, { name: string; lxcPath: string | null } | null][] = [
    ['[lxc monitor] /var/lib/lxc web\0', { name: 'web', lxcPath: '/var/lib/lxc' }],
    ['[lxc monitor] /srv/a b c\0', { name: 'c', lxcPath: '/srv/a b' }],
    ['lxc-start\0--name=web\0--lxcpath=/srv/lxc\0', { name: 'web', lxcPath: '/srv/lxc' }],
    ['lxc-start\0-nweb\0-P\0/srv/lxc\0-F\0', { name: 'web', lxcPath: '/srv/lxc' }],
    [
      'incusd\0forklxc\0web\0/var/lib/incus/containers\0/run/incus/web/lxc.conf\0/var/log/incus/web\0',
      { name: 'web', lxcPath: '/var/lib/incus/containers' },
    ],
    ['lxc-start\0-F\0', null],
    ['', null],
  ];
  for (const [text, expected] of cases) {
    it(JSON.stringify(text), () => {
      assert.deepEqual(parseMonitorCmdline(parseCmdline(Buffer.from(text, 'latin1'))), expected);
    });
  }
});

describe('container restarts that root cannot give from the host', () => {
  const id = 'c0ffee'.repeat(10) + 'beef';
  const adviceOf = (cgroup: string, uid = 0, user = 'root') => {
    const snapshot = snapshotOf([{ pid: 700, comm: 'app', uid, user, cgroup: `0::${cgroup}`, holds: true }]);
    const [holder] = findFileHolders(snapshot, KEY);
    assert.ok(holder);
    return restartAdvice(holder);
  };

  it('rootful docker and podman: their restart', () => {
    assert.deepEqual(adviceOf(`/system.slice/docker-${id}.scope`), {
      command: 'docker restart c0ffeec0ffee',
      why: null,
    });
    assert.deepEqual(adviceOf(`/machine.slice/libpod-${id}.scope`), {
      command: 'podman restart c0ffeec0ffee',
      why: null,
    });
  });

  it("rootless podman (under its user's manager): no command, the owner's in words", () => {
    const advice = adviceOf(
      `/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-${id}.scope`,
      1000,
      'alice',
    );
    assert.deepEqual(advice, {
      command: null,
      why: "a rootless podman container of alice: root's podman does not see it; as that user, run podman restart c0ffeec0ffee",
    });
  });

  it('rootless docker, its process on a subordinate uid: the owner by the manager uid', () => {
    const advice = adviceOf(
      `/user.slice/user-1000.slice/user@1000.service/app.slice/docker.service/docker/${id}`,
      100999,
      '100999',
    );
    assert.match(
      advice.why ?? '',
      /^a rootless docker container of uid 1000: .* docker restart c0ffeec0ffee$/,
    );
    assert.equal(advice.command, null);
  });

  it('containerd outside Kubernetes (nerdctl or ctr): no command, and why', () => {
    for (const cgroup of [`/system.slice/nerdctl-${id}.scope`, `/default/${id}`]) {
      const advice = adviceOf(cgroup);
      assert.equal(advice.command, null);
      assert.match(advice.why ?? '', /containerd container outside Kubernetes/);
    }
  });
});
