import { describe, expect, it } from 'vitest';
import { parseCgroupPath } from '../../../agent/attest/container-id.js';

const A = '9bca8d63d5fa610783847915bcff0ecac1273e5b4bed3f6fa1b07350e0135961';
const B = '34a2062fd26c805aa8cf814cdfe479322b791f80afb9ea4db02d50375df14b41';
const POD = '2c48913c-b29f-11e7-9350-020968147796';
const POD_ = POD.replaceAll('-', '_');
const STATIC_POD = '2732ca68f6358eba7703fb6f82a25c94';

describe('parseCgroupPath: containers and pods', () => {
  it.each([
    // docker
    ['docker, cgroupfs', `/docker/${A}`, A, null],
    ['docker, systemd', `/system.slice/docker-${A}.scope`, A, null],
    ['docker, systemd, systemd inside the container', `/system.slice/docker-${A}.scope/init.scope`, A, null],
    ['docker in docker: the innermost', `/docker/${A}/docker/${B}`, B, null],
    ['rootless docker', `/user.slice/user-1000.slice/user@1000.service/user.slice/docker-${A}.scope`, A, null],
    // containerd outside Kubernetes
    ['containerd, systemd', `/system.slice/containerd-${A}.scope`, A, null],
    ['nerdctl, systemd', `/system.slice/nerdctl-${A}.scope`, A, null],
    ['containerd namespace, cgroupfs', `/default/${A}`, A, null],
    // podman
    ['podman', `/machine.slice/libpod-${A}.scope`, A, null],
    ['podman with its inner "container" cgroup', `/machine.slice/libpod-${A}.scope/container`, A, null],
    ['rootless podman', `/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-${A}.scope`, A, null],
    // Kubernetes, systemd driver
    ['k8s systemd containerd burstable',
      `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${POD_}.slice/cri-containerd-${A}.scope`, A, POD],
    ['k8s systemd cri-o besteffort',
      `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${POD_}.slice/crio-${A}.scope`, A, POD],
    ['k8s systemd guaranteed', `/kubepods.slice/kubepods-pod${POD_}.slice/cri-containerd-${A}.scope`, A, POD],
    ['k8s systemd docker', `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${POD_}.slice/docker-${A}.scope`, A, POD],
    ['containerd "slice:prefix:id" form', `/kubepods-besteffort-pod${POD_}.slice:cri-containerd:${A}`, A, POD],
    ['kind on cgroup v2 (kubelet.slice root)',
      `/system.slice/docker-${B}.scope/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/`
      + `kubelet-kubepods-besteffort-pod${POD_}.slice/cri-containerd-${A}.scope`, A, POD],
    ['static pod (hash UID), systemd', `/kubepods.slice/kubepods-pod${STATIC_POD}.slice/crio-${A}.scope`, A, STATIC_POD],
    // Kubernetes, cgroupfs driver
    ['k8s cgroupfs burstable', `/kubepods/burstable/pod${POD}/${A}`, A, POD],
    ['k8s cgroupfs guaranteed', `/kubepods/pod${POD}/${A}`, A, POD],
    ['k8s cgroupfs, docker desktop', `/kubepods/kubepods/besteffort/pod${POD}/${A}`, A, POD],
    ['kind with cgroupfs: node container outside, pod container inside',
      `/docker/${B}/kubepods/besteffort/pod${POD}/${A}`, A, POD],
    ['seen from inside a cgroup namespace', `/../../../burstable/pod${POD}/${A}`, A, POD],
    ['cri-o from inside a cgroup namespace, no pod in view', `/../crio-${A}.scope`, A, null],
    // Pod without a container (the pod-level cgroup)
    ['pod slice only, systemd', `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${POD_}.slice`, null, POD],
    ['pod directory only, cgroupfs', `/kubepods/besteffort/pod${POD}`, null, POD],
  ])('%s', (_name, path, containerId, podUid) => {
    expect(parseCgroupPath(path)).toEqual({ containerId, podUid });
  });
});

describe('parseCgroupPath: the pod is the one around the container', () => {
  it('takes the pod enclosing the innermost container, not a pod nested below it', () => {
    const other = '11111111-2222-3333-4444-555555555555';
    expect(parseCgroupPath(`/kubepods/pod${POD}/${A}/kubepods/pod${other}`)).toEqual({ containerId: A, podUid: POD });
    expect(parseCgroupPath(`/kubepods/pod${POD}/${A}/kubepods/pod${other}/${B}`)).toEqual({ containerId: B, podUid: other });
  });
});

describe('parseCgroupPath: not a container', () => {
  it.each([
    ['the root', '/'],
    ['empty', ''],
    ['a system service', '/system.slice/docker.service'],
    ['containerd itself', '/system.slice/containerd.service'],
    ['a login session', '/user.slice/user-1000.slice/session-3.scope'],
    ['a user service', '/user.slice/user-1000.slice/user@1000.service/app.slice/foo.service'],
    ['init', '/init.scope'],
    ['cri-o conmon', `/kubepods.slice/kubepods-besteffort.slice/crio-conmon-${A}.scope`],
    ['podman conmon', `/machine.slice/libpod-conmon-${A}.scope`],
    ['upper-case hex', `/docker/${A.toUpperCase()}`],
    ['63 hex digits', `/docker/${A.slice(1)}`],
    ['65 hex digits', `/docker/${A}0`],
    ['an unknown runtime prefix', `/system.slice/foo-${A}.scope`],
    ['the QoS slice', '/kubepods.slice/kubepods-burstable.slice'],
  ])('%s', (_name, path) => {
    expect(parseCgroupPath(path)).toEqual({ containerId: null, podUid: null });
  });

  it('does not take "pod<uid>" outside kubepods as a pod (anyone may mkdir that name)', () => {
    expect(parseCgroupPath(`/something/pod${POD}/${A}`)).toEqual({ containerId: A, podUid: null });
    expect(parseCgroupPath(`/user.slice/pod${POD}`)).toEqual({ containerId: null, podUid: null });
  });

  it('does not take a malformed UID', () => {
    expect(parseCgroupPath(`/kubepods/pod${POD.slice(1)}/${A}`)).toEqual({ containerId: A, podUid: null });
  });
});
