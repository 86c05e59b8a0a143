import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  findContainer,
  isLxcMonitorCgroup,
  lxcMonitorCgroupOf,
  parseCgroup,
  userManagerOf,
  type CgroupPlacement,
  type ContainerIdentity,
} from '../../src/proc/cgroup.js';

// A container id: 64 lowercase hex digits.
const id = '4f3c2b1a0e9d8c7b'.repeat(4);
// A pod uid as the systemd driver escapes it (dashes become underscores) and as cgroupfs keeps it.
const podUnit = '3c0a4c58_5e0c_4b2a_9d7e_1f2a3b4c5d6e';
const podDir = '3c0a4c58-5e0c-4b2a-9d7e-1f2a3b4c5d6e';

/** A cgroup v1 file of a host booted without the unified hierarchy, with `systemd` as its name=systemd path. */
function v1(systemd: string, memory = systemd): string {
  return [
    `12:pids:${systemd}`,
    `11:memory:${memory}`,
    '10:cpu,cpuacct:/',
    `1:name=systemd:${systemd}`,
    '',
  ].join('\n');
}

describe('parseCgroup', () => {
  const cases: [string, string, CgroupPlacement][] = [
    [
      'a cgroup v2 system service',
      '0::/system.slice/nginx.service\n',
      { path: '/system.slice/nginx.service', unit: 'nginx.service', container: null },
    ],
    [
      'a user session scope',
      '0::/user.slice/user-1000.slice/session-3.scope\n',
      { path: '/user.slice/user-1000.slice/session-3.scope', unit: 'session-3.scope', container: null },
    ],
    [
      'an app scope under the user manager',
      '0::/user.slice/user-1000.slice/user@1000.service/app.slice/app-org.gnome.Terminal.slice/vte-spawn-1.scope\n',
      {
        path: '/user.slice/user-1000.slice/user@1000.service/app.slice/app-org.gnome.Terminal.slice/vte-spawn-1.scope',
        unit: 'vte-spawn-1.scope',
        container: null,
      },
    ],
    ['the root cgroup', '0::/\n', { path: '/', unit: null, container: null }],
    [
      'cgroup v1, from the name=systemd line',
      v1('/system.slice/cron.service', '/'),
      { path: '/system.slice/cron.service', unit: 'cron.service', container: null },
    ],
    [
      'a hybrid host, preferring the 0:: line over name=systemd',
      '1:name=systemd:/system.slice/old.service\n0::/system.slice/ssh.service\n',
      { path: '/system.slice/ssh.service', unit: 'ssh.service', container: null },
    ],
    [
      'a hybrid host whose 0:: line comes first',
      '0::/system.slice/ssh.service\n1:name=systemd:/system.slice/old.service\n',
      { path: '/system.slice/ssh.service', unit: 'ssh.service', container: null },
    ],
    [
      'cgroup v1 without name=systemd, from the first controller line',
      '4:memory:/batch/job-7\n3:cpu:/other\n',
      { path: '/batch/job-7', unit: null, container: null },
    ],
    [
      'docker under systemd (docker-<id>.scope)',
      `0::/system.slice/docker-${id}.scope\n`,
      { path: `/system.slice/docker-${id}.scope`, unit: null, container: id },
    ],
    [
      'docker with the cgroupfs driver (/docker/<id>)',
      v1(`/docker/${id}`),
      { path: `/docker/${id}`, unit: null, container: id },
    ],
    [
      'a process inside a docker container seeing its own cgroup namespace: no host unit',
      `0::/docker/${id}/init.scope\n`,
      { path: `/docker/${id}/init.scope`, unit: null, container: id },
    ],
    [
      "systemd as a docker container's init (docker-<id>.scope/init.scope): no host unit",
      `0::/system.slice/docker-${id}.scope/init.scope\n`,
      { path: `/system.slice/docker-${id}.scope/init.scope`, unit: null, container: id },
    ],
    [
      "a service of an nspawn container's own systemd (machinectl start): the host's unit is the container's",
      '0::/machine.slice/systemd-nspawn@web.service/payload/system.slice/nginx.service\n',
      {
        path: '/machine.slice/systemd-nspawn@web.service/payload/system.slice/nginx.service',
        unit: 'systemd-nspawn@web.service',
        container: 'web',
      },
    ],
    [
      "a service of an nspawn container's own systemd (systemd-nspawn -b): its machine scope",
      '0::/machine.slice/machine-web.scope/payload/system.slice/nginx.service\n',
      {
        path: '/machine.slice/machine-web.scope/payload/system.slice/nginx.service',
        unit: 'machine-web.scope',
        container: 'web',
      },
    ],
    [
      "a service of an LXC container's own systemd: no host unit",
      '0::/lxc.payload.web/system.slice/nginx.service\n',
      { path: '/lxc.payload.web/system.slice/nginx.service', unit: null, container: 'web' },
    ],
    [
      'kubernetes with containerd and the systemd driver',
      `0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${podUnit}.slice/cri-containerd-${id}.scope\n`,
      {
        path: `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${podUnit}.slice/cri-containerd-${id}.scope`,
        unit: null,
        container: id,
      },
    ],
    [
      'kubernetes with CRI-O and the systemd driver',
      `0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${podUnit}.slice/crio-${id}.scope\n`,
      {
        path: `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${podUnit}.slice/crio-${id}.scope`,
        unit: null,
        container: id,
      },
    ],
    [
      'kubernetes with the cgroupfs driver (/kubepods/<qos>/pod<uid>/<id>)',
      v1(`/kubepods/burstable/pod${podDir}/${id}`),
      { path: `/kubepods/burstable/pod${podDir}/${id}`, unit: null, container: id },
    ],
    [
      'rootless podman (libpod-<id>.scope under the user manager)',
      `0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-${id}.scope/container\n`,
      {
        path: `/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-${id}.scope/container`,
        unit: 'user@1000.service',
        container: id,
      },
    ],
    [
      "a user's systemd manager itself (user@UID.service/init.scope): the manager's unit",
      '0::/user.slice/user-1000.slice/user@1000.service/init.scope\n',
      {
        path: '/user.slice/user-1000.slice/user@1000.service/init.scope',
        unit: 'user@1000.service',
        container: null,
      },
    ],
    [
      'rootful podman (machine.slice/libpod-<id>.scope)',
      `0::/machine.slice/libpod-${id}.scope/container\n`,
      { path: `/machine.slice/libpod-${id}.scope/container`, unit: null, container: id },
    ],
    [
      'a 63-digit hex name, which is not a container id',
      `0::/system.slice/docker-${id.slice(1)}.scope\n`,
      { path: `/system.slice/docker-${id.slice(1)}.scope`, unit: null, container: null },
    ],
    [
      'a path with a colon in it',
      '0::/system.slice/system-getty.slice/getty@tty1:x.service\n',
      {
        path: '/system.slice/system-getty.slice/getty@tty1:x.service',
        unit: 'getty@tty1:x.service',
        container: null,
      },
    ],
  ];
  for (const [name, text, expected] of cases) {
    it(`reads ${name}`, () => {
      assert.deepEqual(parseCgroup(text), expected);
    });
  }

  // podman with cgroup_manager = "cgroupfs" puts a container in <cgroup-parent>/libpod-<id>
  // (default parent /libpod_parent): no ".scope", and the id is not a path component of its own.
  it('reads podman with the cgroupfs manager (/libpod_parent/libpod-<id>)', () => {
    assert.equal(parseCgroup(v1(`/libpod_parent/libpod-${id}`))?.container, id);
  });

  const empty: [string, string][] = [
    ['empty text', ''],
    ['a lone newline', '\n'],
    ['lines without two colons', 'garbage\nmore:garbage\n'],
  ];
  for (const [name, text] of empty) {
    it(`returns null for ${name}`, () => {
      assert.equal(parseCgroup(text), null);
    });
  }
});

describe('userManagerOf', () => {
  const cases: [string, number | null][] = [
    ['/user.slice/user-1000.slice/user@1000.service/app.slice/x.service', 1000],
    ['/user.slice/user-1000.slice/user@1000.service/init.scope', 1000],
    ['/user.slice/user-1000.slice/user@1000.service', 1000],
    ['/user.slice/user-1000.slice/session-3.scope', null],
    ['/system.slice/user@1000.service.d/x.service', null],
    ['/system.slice/nginx.service', null],
  ];
  for (const [path, uid] of cases) it(path, () => assert.equal(userManagerOf(path), uid));
});

// Each runtime's own cgroup path, as captured on hosts running it (ids and pod UIDs replaced).
describe('findContainer', () => {
  const nspawn = '/machine.slice/systemd-nspawn@web01.service/payload/system.slice/nginx.service';
  const cases: [string, string, ContainerIdentity | null][] = [
    ['docker, systemd driver', `/system.slice/docker-${id}.scope`, { runtime: 'docker', id, podUid: null }],
    ['docker, cgroupfs driver', `/docker/${id}`, { runtime: 'docker', id, podUid: null }],
    [
      'docker, inside its own cgroup namespace view',
      `/docker/${id}/init.scope`,
      { runtime: 'docker', id, podUid: null },
    ],
    [
      'containerd under the kubelet, systemd driver',
      `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${podUnit}.slice/cri-containerd-${id}.scope`,
      { runtime: 'containerd', id, podUid: podDir },
    ],
    [
      'containerd under the kubelet, guaranteed QoS (no QoS slice)',
      `/kubepods.slice/kubepods-pod${podUnit}.slice/cri-containerd-${id}.scope`,
      { runtime: 'containerd', id, podUid: podDir },
    ],
    [
      'containerd under the kubelet, cgroupfs driver',
      `/kubepods/besteffort/pod${podDir}/${id}`,
      { runtime: 'containerd', id, podUid: podDir },
    ],
    [
      'containerd on cgroup v1 with its own systemd driver',
      `/system.slice/containerd.service/kubepods-burstable-pod${podUnit}.slice:cri-containerd:${id}`,
      { runtime: 'containerd', id, podUid: null },
    ],
    [
      'containerd without Kubernetes (ctr, namespace default)',
      `/default/${id}`,
      { runtime: 'containerd', id, podUid: null },
    ],
    [
      'nerdctl, systemd driver',
      `/system.slice/nerdctl-${id}.scope`,
      { runtime: 'containerd', id, podUid: null },
    ],
    [
      'CRI-O, systemd driver',
      `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${podUnit}.slice/crio-${id}.scope`,
      { runtime: 'cri-o', id, podUid: podDir },
    ],
    [
      'CRI-O, cgroupfs driver',
      `/kubepods/burstable/pod${podDir}/crio-${id}`,
      { runtime: 'cri-o', id, podUid: podDir },
    ],
    [
      'rootful podman',
      `/machine.slice/libpod-${id}.scope/container`,
      { runtime: 'podman', id, podUid: null },
    ],
    [
      'rootless podman',
      `/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-${id}.scope/container`,
      { runtime: 'podman', id, podUid: null },
    ],
    ['podman, cgroupfs manager', `/libpod_parent/libpod-${id}`, { runtime: 'podman', id, podUid: null }],
    [
      'LXC 4 and later (and LXD, Incus)',
      '/lxc.payload.web01/system.slice/cron.service',
      { runtime: 'lxc', id: 'web01', podUid: null },
    ],
    ['LXC before 4', '/lxc/web01', { runtime: 'lxc', id: 'web01', podUid: null }],
    ['systemd-nspawn (machinectl start)', nspawn, { runtime: 'systemd-nspawn', id: 'web01', podUid: null }],
    [
      'a machine registered by its scope',
      '/machine.slice/machine-web01.scope',
      { runtime: 'systemd-nspawn', id: 'web01', podUid: null },
    ],
    ['podman conmon, the monitor and not the container', `/machine.slice/libpod-conmon-${id}.scope`, null],
    ['CRI-O conmon', `/system.slice/crio-conmon-${id}.scope`, null],
    ['LXC monitor', '/lxc.monitor.web01', null],
    ['a service', '/system.slice/docker.service', null],
    ['the root cgroup', '/', null],
  ];
  for (const [name, path, expected] of cases) {
    it(`reads ${name}`, () => {
      assert.deepEqual(findContainer(path), expected);
    });
  }
});

describe('LXC monitor cgroups (liblxc: lxc.monitor.NAME beside lxc.payload.NAME)', () => {
  const beside: [string, string | null][] = [
    ['/lxc.payload.web', '/lxc.monitor.web'],
    ['/lxc.payload.web/system.slice/nginx.service', '/lxc.monitor.web'],
    ['/lxc.payload.dev_web/init.scope', '/lxc.monitor.dev_web'],
    // LXD's snap runs liblxc from its own cgroup; nested: the outer container is the host's to restart.
    [
      '/system.slice/snap.lxd.daemon.service/lxc.payload.web',
      '/system.slice/snap.lxd.daemon.service/lxc.monitor.web',
    ],
    ['/lxc.payload.outer/lxc.payload.inner', '/lxc.monitor.outer'],
    ['/lxc/web', null],
    ['/system.slice/nginx.service', null],
  ];
  for (const [payload, monitor] of beside) {
    it(`${payload} → ${monitor}`, () => assert.equal(lxcMonitorCgroupOf(payload), monitor));
  }
  it('tells a monitor cgroup from a payload', () => {
    assert.equal(isLxcMonitorCgroup('/lxc.monitor.web'), true);
    assert.equal(isLxcMonitorCgroup('/system.slice/snap.lxd.daemon.service/lxc.monitor.web'), true);
    assert.equal(isLxcMonitorCgroup('/lxc.payload.web'), false);
    assert.equal(isLxcMonitorCgroup('/lxc.monitor.web/sub'), false);
    assert.equal(findContainer('/lxc.monitor.web'), null);
  });
});
