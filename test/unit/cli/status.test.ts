import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { agentStatus } from '../../fakes/fake-admin-backend.js';
import { startAdminServer, tetherAdmin, type AdminHarness } from '../../support/admin-server.js';

let h: AdminHarness;

beforeEach(async () => {
  h = await startAdminServer();
});

afterEach(async () => {
  await h.close();
});

describe('tether status', () => {
  it('prints the agent, its counts and policy, then the kernel features with what falls back', async () => {
    const r = await tetherAdmin(h, 'status');
    expect(r.code, r.stderr).toBe(0);
    const [fields, features] = r.stdout.split('\nKernel features:\n');
    expect(fields?.split('\n')).toEqual([
      'Version:      9.8.7 (pid 4242)',
      'Uptime:       1h2m3s (since 2025-01-01T12:00:00.000Z)',
      'Trust domain: example.org',
      'Workload API: /var/lib/tether/public/agent.sock: 4 connections, 1 stream open',
      'Admin API:    /var/lib/tether/admin.sock',
      'Metrics:      127.0.0.1:9811',
      'Processes:    412 tracked',
      'Entries:      3',
      'SVIDs cached: 2 X.509, 1 JWT',
      'Policy:       audit, 4 rules from /etc/tether/policy.yaml (12 in the kernel, generation 3); unidentified processes: allow; cgroup /sys/fs/cgroup/work',
      'Mesh:         off',
      '',
    ]);
    const rows = features?.trimEnd().split('\n') ?? [];
    expect(rows[0]).toMatch(/^NAME\s+STATE\s+DETAIL\s+FALLBACK$/);
    expect(rows[1]).toMatch(/^ringBuffer\s+available\s+BPF ring buffers are built in \(BTF\)\s+-$/);
    expect(rows[2]).toMatch(/^peerPidfd\s+missing\s+.*ENOPROTOOPT\s+pidfd_open\(2\) on the SO_PEERCRED pid$/);
    expect(rows[3]).toMatch(/^bpfLsm\s+unknown\s+/);
  });

  it('says when the agent runs without --policy', async () => {
    h.backend.agent = agentStatus({ policy: null, metricsAddress: 'off' });
    const r = await tetherAdmin(h, 'status');
    expect(r.stdout).toContain('\nMetrics:      off\n');
    expect(r.stdout).toContain('\nPolicy:       none (the agent runs without --policy)\n');
  });

  it('names the mesh\'s data path and settings when it is on', async () => {
    h.backend.agent = agentStatus({ mesh: {
      mode: 'userspace', detail: 'TCP_ULP "tls": ENOENT', cidrs: ['10.0.0.0/8', 'fd00::/8'], port: 15008, outboundPort: 15001, inbound: 'permissive',
    } });
    const r = await tetherAdmin(h, 'status');
    expect(r.stdout).toContain('\nMesh:         userspace (TCP_ULP "tls": ENOENT); networks 10.0.0.0/8, fd00::/8; tunnel port 15008, outbound 15001; inbound permissive\n');
    expect(JSON.parse((await tetherAdmin(h, 'status', '-o', 'json')).stdout)).toEqual(h.backend.agent);
  });

  it('prints the status as JSON with -o json', async () => {
    const r = await tetherAdmin(h, 'status', '-o', 'json');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(h.backend.agent);
  });

  it('exits 2 on a bad --output or an extra argument, without asking the agent', async () => {
    h.backend.failNext = new Error('asked');
    expect((await tetherAdmin(h, 'status', '-o', 'yaml')).code).toBe(2);
    expect((await tetherAdmin(h, 'status', 'now')).code).toBe(2);
    expect((await tetherAdmin(h, 'status', '-o', 'json')).code).toBe(1); // the backend was not asked before: failNext is still armed
  });
});
