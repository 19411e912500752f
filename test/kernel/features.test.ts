import { existsSync, readFileSync } from 'node:fs';
import { createServer, connect, type Socket } from 'node:net';
import { release } from 'node:os';
import { describe, expect, it } from 'vitest';
import {
  PeerCredentialReader, bpfObjectPath, detectKernelFeatures, findCgroupV2Mount, probeFentry, probePeerPidfd, type FeatureName, type KernelFeature,
} from '../../agent/kernel/index.js';
import { openFds } from '../support/fd-count.js';

// Detection on this very kernel (DESIGN.md: 6.18 with BTF, ring buffers, cgroup hooks and
// SO_PEERPIDFD; fentry/fexit/lsm refused at load with EPERM; no CONFIG_TLS, no modules), each
// answer checked against what the kernel does when asked for real.

async function detected(): Promise<Record<FeatureName, KernelFeature>> {
  const features = await detectKernelFeatures();
  return Object.fromEntries(features.map((f) => [f.name, f])) as Record<FeatureName, KernelFeature>;
}

/** A connected pair on a Unix socket: what the PeerCredentialReader reads in the agent. */
async function connectedPair(path: string): Promise<{ accepted: Socket; client: Socket; close(): void }> {
  const server = createServer();
  const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
  await new Promise<void>((resolve) => server.listen(path, resolve));
  const client = connect(path);
  const s = await accepted;
  return { accepted: s, client, close: () => { s.destroy(); client.destroy(); server.close(); } };
}

describe('kernel features of this host', () => {
  it('ring buffers and cgroup hooks are available: the agent runs on them', async () => {
    const f = await detected();
    expect(f.ringBuffer).toMatchObject({ state: 'available', fallback: null, detail: expect.stringContaining('(BTF)') });
    expect(f.cgroupHooks).toMatchObject({ state: 'available', detail: expect.stringContaining(findCgroupV2Mount()) });
  });

  it('SO_PEERPIDFD: the probe agrees with what PeerCredentialReader finds on a real connection', async () => {
    const probe = await probePeerPidfd();
    const pair = await connectedPair(`\0tether-features-test-${process.pid}`);
    try {
      const reader = new PeerCredentialReader();
      const creds = reader.read((pair.accepted as unknown as { _handle: { fd: number } })._handle.fd);
      creds.pidfd.close();
      expect(probe.state).toBe(reader.source === 'SO_PEERPIDFD' ? 'available' : 'missing');
    } finally {
      pair.close();
    }
    const [major = 0, minor = 0] = release().split('.').map(Number);
    expect((await detected()).peerPidfd.state).toBe(major > 6 || (major === 6 && minor >= 5) ? 'available' : 'missing');
  });

  it('fentry: BTF is there; the probe loads the real program and reports the kernel\'s answer (EPERM here)', async () => {
    expect(existsSync('/sys/kernel/btf/vmlinux')).toBe(true);
    expect(existsSync(bpfObjectPath('features'))).toBe(true);
    const f = await detected();
    expect(f.fentry).toEqual({
      name: 'fentry', state: 'missing', detail: 'BTF at /sys/kernel/btf/vmlinux; an fentry program is refused at load: EPERM',
      fallback: expect.stringContaining('tp_btf'),
    });
  });

  it('BPF LSM: read from securityfs when mounted, else unknown', async () => {
    const f = await detected();
    const lsm = existsSync('/sys/kernel/security/lsm') ? readFileSync('/sys/kernel/security/lsm', 'utf8') : undefined;
    if (lsm === undefined) expect(f.bpfLsm).toMatchObject({ state: 'unknown', detail: expect.stringContaining('securityfs is not mounted') });
    else expect(f.bpfLsm.state).toBe(lsm.split(',').includes('bpf') ? 'available' : 'missing');
  });

  it('kTLS: missing (CONFIG_TLS is off and there are no modules for this kernel)', async () => {
    const ulps = readFileSync('/proc/sys/net/ipv4/tcp_available_ulp', 'utf8');
    expect(ulps.split(/\s+/)).not.toContain('tls');
    expect((await detected()).ktls).toMatchObject({ state: 'missing', detail: expect.stringContaining('the tls ULP is not registered') });
  });

  it('leaves no fd open, and is quick enough to run at every start', async () => {
    await detectKernelFeatures(); // warm: the addon and the BTF read
    const fds = await openFds();
    const started = performance.now();
    for (let i = 0; i < 5; i++) await detectKernelFeatures();
    expect((performance.now() - started) / 5).toBeLessThan(500);
    probeFentry();
    expect(await openFds()).toBe(fds);
  });
});
