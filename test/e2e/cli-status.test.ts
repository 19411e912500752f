import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../agent/kernel/index.js';
import { AgentProcess } from '../support/agent-process.js';
import { TestCgroup } from '../support/test-cgroup.js';

// `tether status` and `tether healthcheck`, the built CLI against real agents.

interface StatusJson {
  version: string;
  pid: number;
  startedAt: string;
  uptimeSeconds: number;
  trustDomain: string;
  workloadSocket: string;
  adminSocket: string;
  metricsAddress: string;
  features: Array<{ name: string; state: string; detail: string; fallback: string | null }>;
  counts: { processes: number; entries: number; x509Svids: number; jwtSvids: number; workloadStreams: number; workloadConnections: number };
  policy: null | { mode: string; path: string; rules: number; kernelRules: number; generation: number; unidentified: string; cgroup: string };
}

const VERSION = (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;

describe('tether status', () => {
  let agent: AgentProcess;
  beforeAll(async () => {
    agent = await AgentProcess.start('entries:\n  - spiffeId: spiffe://example.org/a\n    selectors: ["unix:uid:4321"]\n');
  });
  afterAll(async () => { await agent.stop(); });

  it('names the version, sockets, the metrics address as served, every kernel feature, and the counts (JSON)', () => {
    const r = agent.cli(['status', '--output', 'json']);
    expect(r.status, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout) as StatusJson;
    expect(s).toMatchObject({
      version: VERSION, pid: agent.child.pid, trustDomain: 'example.org', workloadSocket: agent.socket, adminSocket: agent.adminSocket,
      metricsAddress: `127.0.0.1:${agent.metricsPort}`, policy: null,
    });
    expect(s.uptimeSeconds).toBeGreaterThan(0);
    expect(Date.parse(s.startedAt)).toBeLessThanOrEqual(Date.now());
    expect(s.features.map((f) => f.name)).toEqual(['ringBuffer', 'cgroupHooks', 'peerPidfd', 'bpfLsm', 'fentry', 'ktls']);
    for (const f of s.features) {
      expect(['available', 'missing', 'unknown']).toContain(f.state);
      expect(f.fallback === null).toBe(f.state === 'available');
    }
    expect(s.features.find((f) => f.name === 'ringBuffer')?.state).toBe('available');
    expect(s.counts).toMatchObject({ entries: 1, x509Svids: 0, jwtSvids: 0, workloadStreams: 0 });
    expect(s.counts.processes).toBeGreaterThan(10);
  });

  it('prints the same as fields and a features table by default', () => {
    const r = agent.cli(['status']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^Version:\\s+${VERSION.replace(/\./g, '\\.')} \\(pid ${agent.child.pid}\\)\\n`));
    expect(r.stdout).toContain(`Metrics:      127.0.0.1:${agent.metricsPort}\n`);
    expect(r.stdout).toContain('Policy:       none (the agent runs without --policy)\n');
    expect(r.stdout).toMatch(/\nKernel features:\nNAME\s+STATE\s+DETAIL\s+FALLBACK\nringBuffer\s+available\s+/);
  });

  it('`tether --version` prints the version the agent reports', () => {
    const r = spawnSync(process.execPath, [join(packageRoot(), 'build', 'agent', 'cli', 'bin.js'), '--version'], { encoding: 'utf8' });
    expect(r.stdout.trim()).toBe(VERSION);
  });

  it('exits 2 on bad arguments', () => {
    const bad = agent.cli(['status', '--output', 'yaml']);
    expect(bad.status).toBe(2);
    expect(bad.stdout).toBe('');
    expect(agent.cli(['status', 'extra']).status).toBe(2);
  });
});

describe('tether status of an enforcing agent', () => {
  let agent: AgentProcess;
  let cg: TestCgroup;
  let dir: string;
  beforeAll(async () => {
    cg = TestCgroup.create('tether-e2e-status');
    dir = mkdtempSync(join(tmpdir(), 'tether-e2e-status-'));
    const policy = join(dir, 'policy.yaml');
    writeFileSync(policy, 'mode: audit\nunidentified: allow\nrules:\n  - from: spiffe://example.org/web\n    to: external\n    cidrs: [10.0.0.0/8]\n    ports: [443]\n');
    agent = await AgentProcess.start('entries:\n  - spiffeId: spiffe://example.org/web\n    selectors: ["unix:path:/usr/bin/curl"]\n', [
      '--policy', policy, '--cgroup', cg.path,
    ]);
  });
  afterAll(async () => {
    await agent?.stop();
    await cg.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('names the policy in force: mode, rules, what the kernel holds, the cgroup', () => {
    const s = JSON.parse(agent.cli(['status', '-o', 'json']).stdout) as StatusJson;
    expect(s.policy).toMatchObject({ mode: 'audit', path: join(dir, 'policy.yaml'), rules: 1, unidentified: 'allow', cgroup: cg.path });
    expect(s.policy?.kernelRules).toBeGreaterThan(0);
    expect(s.policy?.generation).toBeGreaterThan(0);
    expect(s.features.find((f) => f.name === 'cgroupHooks')?.state).toBe('available');
  });
});

describe('tether healthcheck', () => {
  it('exits 0 (quiet) while the agent runs, 1 with one line after it stops', async () => {
    const agent = await AgentProcess.start('entries: []\n');
    try {
      const ok = agent.cli(['healthcheck']);
      expect(ok).toMatchObject({ status: 0, stdout: '', stderr: '' });
      const json = agent.cli(['healthcheck', '-o', 'json']);
      expect(json.status, json.stderr).toBe(0);
      expect(JSON.parse(json.stdout)).toMatchObject({ healthy: true, socket: agent.adminSocket, pid: agent.child.pid });
    } finally {
      await agent.stop();
    }
    const down = agent.cli(['healthcheck']);
    expect(down.status).toBe(1);
    expect(down.stdout).toBe('');
    expect(down.stderr.split('\n').filter(Boolean)).toHaveLength(1);
    expect(down.stderr).toMatch(/^tether: unhealthy: cannot reach the agent's admin socket .*admin\.sock: (ENOENT|ECONNREFUSED)/);
    const downJson = agent.cli(['healthcheck', '-o', 'json']);
    expect(downJson.status).toBe(1);
    expect(JSON.parse(downJson.stdout)).toMatchObject({ healthy: false, socket: agent.adminSocket });
  });

  it('exits 1 within its deadline when the agent does not answer (stopped with SIGSTOP)', async () => {
    const agent = await AgentProcess.start('entries: []\n');
    try {
      agent.child.kill('SIGSTOP');
      const started = Date.now();
      const r = agent.cli(['healthcheck']);
      expect(r.status).toBe(1);
      expect(Date.now() - started).toBeLessThan(6_000);
      expect(r.stderr).toMatch(/^tether: unhealthy: .*DEADLINE_EXCEEDED/);
    } finally {
      agent.child.kill('SIGCONT');
      await agent.stop();
    }
  });

  it('exits 2 on bad arguments', () => {
    const r = spawnSync(process.execPath, [join(packageRoot(), 'build', 'agent', 'cli', 'bin.js'), 'healthcheck', '--output', 'xml'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
  });
});
