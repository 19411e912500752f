import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FALLBACKS, detectKernelFeatures, type FeatureName, type KernelFeature, type Probe } from '../../../agent/kernel/index.js';

/** Every name features.ts looks for: a kernel that has them all. */
const ALL_NAMES = [
  'bpf_ringbuf_reserve', '__cgroup_bpf_run_filter_sock_addr', '__cgroup_bpf_run_filter_sock_ops', 'cgroup_bpf_link_attach',
  'bpf_lsm_file_open', 'bpf_trampoline_link_prog',
];
const MOUNTS = 'sysfs /sys sysfs rw 0 0\ncgroup2 /sys/fs/cgroup/unified cgroup2 rw,nosuid 0 0\nproc /proc proc rw 0 0\n';
const RELEASE = '6.1.0-test-amd64';

/** A BTF blob as the kernel exposes it: the header, no types, and a string section of `names`. */
function btf(names: readonly string[], magic = 0xeb9f): Buffer {
  const strings = Buffer.from(`\0${names.join('\0')}\0`);
  const header = Buffer.alloc(24);
  header.writeUInt16LE(magic, 0);
  header.writeUInt8(1, 2); // version
  header.writeUInt32LE(24, 4); // hdr_len
  header.writeUInt32LE(0, 8); // type_off
  header.writeUInt32LE(0, 12); // type_len
  header.writeUInt32LE(0, 16); // str_off
  header.writeUInt32LE(strings.length, 20); // str_len
  return Buffer.concat([header, strings]);
}

interface Host {
  readonly btf?: Buffer;
  readonly kallsyms?: readonly string[];
  readonly mounts?: string;
  readonly lsm?: string;
  readonly ulp?: string;
  readonly modulesDep?: string;
  readonly modulesDisabled?: string;
}

const roots: string[] = [];
afterEach(() => { for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true }); });

/** A fixtures root with the files a host of this shape has, and none of the others. */
function host(h: Host): string {
  const root = mkdtempSync(join(tmpdir(), 'tether-features-'));
  roots.push(root);
  const put = (path: string, data: string | Buffer | undefined): void => {
    if (data === undefined) return;
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), data);
  };
  put('sys/kernel/btf/vmlinux', h.btf);
  put('proc/kallsyms', h.kallsyms?.map((n, i) => `ffffffff8100${String(i).padStart(4, '0')} T ${n}`).join('\n'));
  put('proc/self/mounts', h.mounts);
  put('sys/kernel/security/lsm', h.lsm);
  put('proc/sys/net/ipv4/tcp_available_ulp', h.ulp);
  put(`lib/modules/${RELEASE}/modules.dep`, h.modulesDep);
  put('proc/sys/kernel/modules_disabled', h.modulesDisabled);
  return root;
}

const probe = (state: Probe['state'], detail: string) => () => ({ state, detail });

async function detect(root: string, probes: { peerPidfd?: Probe; fentry?: Probe } = {}): Promise<Record<FeatureName, KernelFeature>> {
  const features = await detectKernelFeatures({
    root, release: RELEASE,
    peerPidfd: async () => probes.peerPidfd ?? { state: 'available', detail: 'getsockopt(SO_PEERPIDFD) answers a pidfd' },
    fentry: probe(probes.fentry?.state ?? 'available', probes.fentry?.detail ?? 'an fentry program loads'),
  });
  expect(features.map((f) => f.name)).toEqual(['ringBuffer', 'cgroupHooks', 'peerPidfd', 'bpfLsm', 'fentry', 'ktls']);
  return Object.fromEntries(features.map((f) => [f.name, f])) as Record<FeatureName, KernelFeature>;
}

describe('detectKernelFeatures', () => {
  it('this build host: BTF, cgroup v2, no securityfs, fentry refused at load, no tls', async () => {
    const f = await detect(host({ btf: btf(ALL_NAMES), mounts: MOUNTS, ulp: 'mptcp\n' }), {
      fentry: { state: 'missing', detail: 'an fentry program is refused at load: EPERM' },
    });
    expect(f.ringBuffer).toEqual({ name: 'ringBuffer', state: 'available', detail: 'BPF ring buffers are built in (BTF)', fallback: null });
    expect(f.cgroupHooks).toMatchObject({ state: 'available', detail: expect.stringContaining('cgroup v2 at /sys/fs/cgroup/unified') });
    expect(f.peerPidfd.state).toBe('available');
    expect(f.bpfLsm).toMatchObject({ state: 'unknown', detail: expect.stringContaining('securityfs is not mounted') });
    expect(f.fentry).toEqual({
      name: 'fentry', state: 'missing', detail: 'BTF at /sys/kernel/btf/vmlinux; an fentry program is refused at load: EPERM', fallback: FALLBACKS.fentry,
    });
    expect(f.ktls).toMatchObject({ state: 'missing', detail: `the tls ULP is not registered (mptcp) and no loadable tls.ko for ${RELEASE}` });
  });

  it('a Debian 6.1 kernel: bpf among the LSMs, tls.ko loadable, SO_PEERPIDFD missing', async () => {
    const f = await detect(host({
      btf: btf(ALL_NAMES), mounts: MOUNTS, lsm: 'lockdown,capability,landlock,yama,apparmor,bpf', ulp: '',
      modulesDep: 'kernel/net/ipv4/tcp_bbr.ko:\nkernel/net/tls/tls.ko: kernel/net/ipv4/foo.ko\n', modulesDisabled: '0\n',
    }), { peerPidfd: { state: 'missing', detail: 'getsockopt(SO_PEERPIDFD) gives ENOPROTOOPT (Linux 6.5+ has it)' } });
    expect(f.bpfLsm).toMatchObject({ state: 'available', fallback: null });
    expect(f.ktls).toMatchObject({ state: 'available', detail: expect.stringContaining('tls.ko is installed') });
    expect(f.peerPidfd).toEqual({
      name: 'peerPidfd', state: 'missing', detail: 'getsockopt(SO_PEERPIDFD) gives ENOPROTOOPT (Linux 6.5+ has it)', fallback: FALLBACKS.peerPidfd,
    });
  });

  it('kTLS: registered ULP; a compressed module; none when modules are disabled', async () => {
    expect((await detect(host({ ulp: 'mptcp tls\n' }))).ktls).toMatchObject({ state: 'available', detail: expect.stringContaining('tls ULP is registered') });
    expect((await detect(host({ ulp: '', modulesDep: 'kernel/net/tls/tls.ko.xz:\n' }))).ktls.state).toBe('available');
    expect((await detect(host({ ulp: '', modulesDep: 'kernel/net/tls/tls.ko:\n', modulesDisabled: '1\n' }))).ktls.state).toBe('missing');
    expect((await detect(host({ ulp: '', modulesDep: 'kernel/net/tls/ktls_helper.ko:\n' }))).ktls.state).toBe('missing');
  });

  it('the active LSMs without bpf, and a kernel built without CONFIG_BPF_LSM', async () => {
    const without = await detect(host({ btf: btf(ALL_NAMES), lsm: 'lockdown,capability,yama' }));
    expect(without.bpfLsm).toMatchObject({ state: 'missing', detail: 'the active LSMs are lockdown,capability,yama: boot with lsm=...,bpf', fallback: FALLBACKS.bpfLsm });
    const notBuilt = await detect(host({ btf: btf(ALL_NAMES.filter((n) => n !== 'bpf_lsm_file_open')) }));
    expect(notBuilt.bpfLsm).toMatchObject({ state: 'missing', detail: 'the kernel is built without CONFIG_BPF_LSM (BTF)' });
  });

  it('no BTF: names from /proc/kallsyms; fentry missing without probing', async () => {
    let probed = false;
    const features = await detectKernelFeatures({
      root: host({ kallsyms: ALL_NAMES, mounts: MOUNTS }), release: RELEASE,
      peerPidfd: async () => probe('available', 'ok')(), fentry: () => { probed = true; return { state: 'available', detail: 'loads' }; },
    });
    const f = Object.fromEntries(features.map((x) => [x.name, x]));
    expect(f.ringBuffer).toMatchObject({ state: 'available', detail: 'BPF ring buffers are built in (/proc/kallsyms)' });
    expect(f.cgroupHooks?.state).toBe('available');
    expect(f.fentry).toMatchObject({ state: 'missing', detail: 'no kernel BTF at /sys/kernel/btf/vmlinux' });
    expect(probed).toBe(false);
  });

  it('a kernel lacking the pieces: no ring buffer, no sockops, no trampolines, no cgroup v2', async () => {
    const names = ['__cgroup_bpf_run_filter_sock_addr', 'cgroup_bpf_link_attach', 'bpf_lsm_file_open'];
    const f = await detect(host({ btf: btf(names), mounts: MOUNTS }));
    expect(f.ringBuffer).toMatchObject({ state: 'missing', fallback: FALLBACKS.ringBuffer });
    expect(f.cgroupHooks).toMatchObject({ state: 'missing', detail: 'cgroup v2 at /sys/fs/cgroup/unified, but no sockops (BTF)' });
    expect(f.fentry).toMatchObject({ state: 'missing', detail: 'BTF at /sys/kernel/btf/vmlinux, but no BPF trampolines in this kernel' });
    const noV2 = await detect(host({ btf: btf(ALL_NAMES), mounts: 'sysfs /sys sysfs rw 0 0\n' }));
    expect(noV2.cgroupHooks).toMatchObject({ state: 'missing', detail: 'no cgroup v2 mount in /proc/self/mounts' });
  });

  it('nothing readable: unknown where nothing tells, never a guess', async () => {
    const f = await detect(host({}));
    expect(f.ringBuffer.state).toBe('unknown');
    expect(f.cgroupHooks.state).toBe('missing'); // no mounts file: no cgroup v2 mount to attach to
    expect(f.bpfLsm.state).toBe('unknown');
    expect(f.fentry.state).toBe('missing');
    expect(f.ktls).toMatchObject({ state: 'unknown', detail: '/proc/sys/net/ipv4/tcp_available_ulp cannot be read' });
  });

  it('a file at the BTF path that is not BTF counts as none', async () => {
    const f = await detect(host({ btf: btf(ALL_NAMES, 0x1234), kallsyms: ['bpf_ringbuf_reserve'] }));
    expect(f.ringBuffer.detail).toContain('/proc/kallsyms');
  });

  it('matches whole names only', async () => {
    const f = await detect(host({ btf: btf(['bpf_ringbuf_reserve_dynptr', 'x__cgroup_bpf_run_filter_sock_addr']) }));
    expect(f.ringBuffer.state).toBe('missing');
  });

  it('gives a fallback exactly where a feature is not available', async () => {
    const features = await detectKernelFeatures({
      root: host({ btf: btf(ALL_NAMES), mounts: MOUNTS, ulp: 'tls' }), release: RELEASE,
      peerPidfd: async () => probe('unknown', 'no probe socket')(), fentry: probe('available', 'loads'),
    });
    for (const f of features) expect(f.fallback).toBe(f.state === 'available' ? null : FALLBACKS[f.name]);
  });
});
