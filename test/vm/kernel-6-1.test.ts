import { spawn } from 'node:child_process';
import { chmodSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { release } from 'node:os';
import { describe, expect, it } from 'vitest';
import { hostTracker, type ProcessRecord } from '../../agent/attest/index.js';
import { PeerCredentialReader, findCgroupV2Mount, readMounts } from '../../agent/kernel/index.js';
import { TestCgroup } from '../support/test-cgroup.js';
import { exited, waitFor } from '../support/wait.js';

// Runs inside ../shared/vm/vm-run (Debian's 6.1 kernel), started by `make test-vm`: the same BPF
// objects (CO-RE) on an older kernel, and the fallbacks for what 6.1 lacks.
describe('on Debian 6.1 (vm-run)', () => {
  it('is really in the VM', () => {
    expect(process.env.VM_RUN, 'run this suite through `make test-vm`, not on the host').toBe('1');
    expect(release()).toMatch(/^6\.1\./);
  });

  it('finds bpffs and the cgroup v2 mount where this kernel has them', () => {
    expect(readMounts().some((m) => m.type === 'bpf' && m.target === '/sys/fs/bpf')).toBe(true);
    expect(findCgroupV2Mount()).toBe('/sys/fs/cgroup');
  });

  it('falls back to pidfd_open where SO_PEERPIDFD is missing, and still names the peer', async () => {
    const path = `/tmp/tether-vm-peer-${process.pid}.sock`;
    const accepted: Socket[] = [];
    const server = createServer((s) => { accepted.push(s); });
    await new Promise<void>((r) => server.listen(path, () => r()));
    chmodSync(path, 0o666);
    const fallbacks: string[] = [];
    const reader = new PeerCredentialReader({ onFallback: (why) => fallbacks.push(why) });
    const client = spawn('/usr/bin/python3', ['-c', `import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect("${path}"); sys.stdin.read()`],
      { stdio: ['pipe', 'ignore', 'inherit'] });
    try {
      const sock = await waitFor('the connection', () => accepted.at(-1), 120_000);
      const peer = reader.read((sock as unknown as { _handle: { fd: number } })._handle.fd);
      try {
        expect(peer.source).toBe('pidfd_open');
        expect(reader.source).toBe('pidfd_open');
        expect(fallbacks).toHaveLength(1);
        expect(fallbacks[0]).toContain('SO_PEERPIDFD is not supported');
        expect(peer.pid).toBe(client.pid);
        expect(peer.pidfd.alive()).toBe(true);
        client.stdin?.end();
        await exited(client);
        expect(peer.pidfd.alive()).toBe(false);
      } finally {
        peer.pidfd.close();
      }
      // the probe is remembered: the second read goes straight to the fallback
      expect(fallbacks).toHaveLength(1);
    } finally {
      for (const s of accepted) s.destroy();
      server.close();
      rmSync(path, { force: true });
    }
  });

  it('tracks exec, fork and exit with the same CO-RE object', async () => {
    const { tracker, describer } = hostTracker();
    tracker.start();
    const cg = TestCgroup.create('tether-vm-proc');
    try {
      const find = (pred: (r: ProcessRecord) => boolean): ProcessRecord | undefined => {
        tracker.sync();
        return [...tracker.table.values()].find(pred);
      };
      const shell = cg.spawn(['/bin/sh', '-c', `setpriv --reuid=65534 --regid=65534 --clear-groups ${realpathSync('/bin/sleep')} 300 & wait`]);
      const sleeper = await waitFor('the sleep', () => find((r) => r.ppid === shell.pid && r.comm === 'sleep'), 120_000);
      expect([sleeper.uid, sleeper.gid]).toEqual([65534, 65534]);
      expect(describer.describe(sleeper)).toMatchObject({ exe: realpathSync('/bin/sleep'), cgroup: cg.relPath });
      const ticks = BigInt(readFileSync(`/proc/${sleeper.key.tgid}/stat`, 'utf8').split(') ')[1]?.split(' ')[19] ?? '0');
      expect(sleeper.key.startNs / 10_000_000n).toBe(ticks);
      process.kill(sleeper.key.tgid, 'SIGKILL');
      await exited(shell);
      tracker.sync();
      expect(tracker.table.get(sleeper.key)).toBeUndefined();
      expect(tracker.stats().eventsDropped).toBe(0n);
    } finally {
      tracker.stop();
      await cg.destroy();
    }
  });
});

describe('the Workload API on 6.1 (pidfd_open in place of SO_PEERPIDFD)', () => {
  it('attests a caller and serves its SVID', async () => {
    const { AgentProcess } = await import('../support/agent-process.js');
    const { WorkloadClient } = await import('../../agent/workload/index.js');
    const node = realpathSync(process.execPath);
    const agent = await AgentProcess.start(`entries:\n  - spiffeId: spiffe://example.org/vm\n    selectors: ["unix:uid:0", "unix:path:${node}"]\n`, [], 240_000);
    const client = new WorkloadClient({ address: agent.address, timeoutMs: 120_000 });
    try {
      const x509 = await client.fetchX509();
      expect(x509.svids.map((s) => s.spiffeId.toString())).toEqual(['spiffe://example.org/vm']);
      expect(agent.stderr).toContain('SO_PEERPIDFD is not supported');
    } finally {
      client.close();
      await agent.stop();
    }
  });
});
