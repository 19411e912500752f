import { describe, expect, it } from 'vitest';
import { tetherVersion } from '../../../agent/admin/index.js';
import { agentStatus, metricsAddress, type StatusParts } from '../../../agent/daemon/status.js';

function parts(overrides: Partial<StatusParts> = {}): StatusParts {
  return {
    startedAt: new Date('2025-01-01T12:00:00.000Z'), now: () => new Date('2025-01-01T13:01:01.500Z'), trustDomain: 'example.org',
    workloadSocket: '/s/public/agent.sock', adminSocket: '/s/admin.sock', metrics: { configured: '127.0.0.1:0', served: { port: 40123 } },
    features: [{ name: 'ringBuffer', state: 'available', detail: 'built in', fallback: null }],
    tracker: { stats: () => ({ processes: 123 }) }, entries: { current: () => [1, 2, 3] },
    x509: { stats: () => ({ entries: 2 }) }, jwt: { stats: () => ({ entries: 5 }) },
    workload: () => ({ streams: 1, connections: 4 }), policy: undefined, mesh: undefined,
    ...overrides,
  };
}

describe('agentStatus', () => {
  it('reads every part at the call', () => {
    expect(agentStatus(parts())).toEqual({
      version: tetherVersion(), pid: process.pid, startedAt: '2025-01-01T12:00:00.000Z', uptimeSeconds: 3661.5, trustDomain: 'example.org',
      workloadSocket: '/s/public/agent.sock', adminSocket: '/s/admin.sock', metricsAddress: '127.0.0.1:40123',
      features: [{ name: 'ringBuffer', state: 'available', detail: 'built in', fallback: null }],
      counts: { processes: 123, entries: 3, x509Svids: 2, jwtSvids: 5, workloadStreams: 1, workloadConnections: 4 },
      policy: null, mesh: null,
    });
  });

  it('counts no streams before the Workload API serves, and names the policy in force', () => {
    const policy = { mode: 'enforce', path: '/p.yaml', rules: 2, kernelRules: 6, generation: 4, unidentified: 'deny', cgroup: '/sys/fs/cgroup/w' } as const;
    const s = agentStatus(parts({ workload: () => undefined, policy: () => policy }));
    expect(s.counts).toMatchObject({ workloadStreams: 0, workloadConnections: 0 });
    expect(s.policy).toEqual(policy);
  });

  it('names the mesh and its data path when it is on', () => {
    const mesh = { mode: 'userspace', detail: 'no kTLS', cidrs: ['10.0.0.0/8'], port: 15008, outboundPort: 15001, inbound: 'strict' } as const;
    expect(agentStatus(parts({ mesh: () => mesh })).mesh).toEqual(mesh);
  });

  it('the version is package.json\'s', () => {
    expect(tetherVersion()).toMatch(/^\d+\.\d+\.\d+/);
  });
});

describe('metricsAddress', () => {
  it.each([
    ['127.0.0.1:9811', { port: 9811 }, '127.0.0.1:9811'],
    ['127.0.0.1:0', { port: 40123 }, '127.0.0.1:40123'],
    ['[::1]:9811', { port: 9811 }, '[::1]:9811'],
    ['0.0.0.0:9811', { port: 9811 }, '0.0.0.0:9811'],
    ['off', undefined, 'off'],
    ['127.0.0.1:9811', undefined, 'off'], // configured, but the port was taken
  ])('%s served on %j is %s', (configured, served, expected) => {
    expect(metricsAddress(configured, served)).toBe(expected);
  });
});
