import { release } from 'node:os';
import { describe, expect, it } from 'vitest';
import { detectKernelFeatures, type FeatureName, type KernelFeature } from '../../agent/kernel/index.js';

// Inside ../shared/vm/vm-run: Debian's 6.1 boots with BPF LSM active, securityfs mounted, tls.ko
// loaded and fentry allowed, and predates SO_PEERPIDFD: each detection against what it knows.
describe('kernel features on Debian 6.1 (vm-run)', () => {
  it('finds each, and falls back only where 6.1 lacks one', async () => {
    expect(process.env.VM_RUN, 'run this suite through `make test-vm`, not on the host').toBe('1');
    expect(release()).toMatch(/^6\.1\./);
    const f = Object.fromEntries((await detectKernelFeatures()).map((x) => [x.name, x])) as Record<FeatureName, KernelFeature>;
    expect(f.ringBuffer).toMatchObject({ state: 'available', fallback: null });
    expect(f.cgroupHooks).toMatchObject({ state: 'available', detail: expect.stringContaining('cgroup v2 at /sys/fs/cgroup') });
    expect(f.peerPidfd).toMatchObject({ state: 'missing', detail: expect.stringContaining('ENOPROTOOPT'), fallback: expect.stringContaining('pidfd_open') });
    expect(f.bpfLsm).toMatchObject({ state: 'available', detail: expect.stringContaining('bpf is among the active LSMs') });
    expect(f.fentry).toMatchObject({ state: 'available', detail: 'BTF at /sys/kernel/btf/vmlinux; an fentry program loads', fallback: null });
    expect(f.ktls).toMatchObject({ state: 'available', detail: 'the tls ULP is registered (tcp_available_ulp)' });
  });
});
