import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkloadClient } from '../../agent/workload/index.js';
import { AgentProcess } from '../support/agent-process.js';
import { TestCgroup } from '../support/test-cgroup.js';
import { exited, waitFor } from '../support/wait.js';
import { freePortSync } from '../support/free-port.js';

// The real agent's /metrics, /healthz and /readyz: Prometheus text that parses line by line,
// counters that move when a real client fetches an SVID, and a denied connect counted by mode.
const NODE = realpathSync(process.execPath);
const PY = realpathSync('/usr/bin/python3');
const CURL = realpathSync('/usr/bin/curl');
const PORT = freePortSync();

interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

interface Exposition {
  readonly samples: readonly Sample[];
  readonly help: ReadonlyMap<string, string>;
  readonly type: ReadonlyMap<string, string>;
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const SAMPLE = new RegExp(`^(${NAME})(?:\\{(.*)\\})? (\\S+)(?: -?[0-9]+)?$`);
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\["\\n])*)"(,|$)/y;

/** The Prometheus text format (0.0.4), strictly: a line that is not HELP, TYPE, blank or a sample fails the test. */
function parseExposition(text: string): Exposition {
  const samples: Sample[] = [];
  const help = new Map<string, string>();
  const type = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const meta = new RegExp(`^# (HELP|TYPE) (${NAME}) (.*)$`).exec(line);
    if (meta !== null) {
      const [, kind, name, rest] = meta as unknown as [string, string, string, string];
      if (kind === 'TYPE') expect(['counter', 'gauge', 'histogram', 'summary', 'untyped'], line).toContain(rest);
      (kind === 'HELP' ? help : type).set(name, rest);
      continue;
    }
    const m = SAMPLE.exec(line);
    expect(m, `not a sample line: ${line}`).not.toBeNull();
    const [, name, labelText = '', valueText] = m as unknown as [string, string, string | undefined, string];
    const labels: Record<string, string> = {};
    LABEL.lastIndex = 0;
    while (LABEL.lastIndex < labelText.length) {
      const l = LABEL.exec(labelText);
      expect(l, `bad labels in: ${line}`).not.toBeNull();
      labels[(l as RegExpExecArray)[1] as string] = ((l as RegExpExecArray)[2] as string).replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    }
    const value = valueText === '+Inf' ? Infinity : valueText === '-Inf' ? -Infinity : Number(valueText);
    expect(valueText === 'NaN' || !Number.isNaN(value), `bad value in: ${line}`).toBe(true);
    samples.push({ name, labels, value });
  }
  return { samples, help, type };
}

/** The family a sample belongs to: a histogram's _bucket, _sum and _count are its own. */
function familyOf(name: string, type: ReadonlyMap<string, string>): string {
  const base = name.replace(/_(bucket|sum|count)$/, '');
  return type.get(base) === 'histogram' || type.get(base) === 'summary' ? base : name;
}

async function scrape(agent: AgentProcess): Promise<Exposition> {
  const res = await fetch(`http://127.0.0.1:${agent.metricsPort}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toContain('text/plain');
  const text = await res.text();
  const parsed = parseExposition(text);
  expect(parsed.samples.length).toBeGreaterThan(20);
  for (const s of parsed.samples) {
    const family = familyOf(s.name, parsed.type);
    expect(family).toMatch(/^tether_/);
    expect(parsed.help.has(family), `# HELP for ${family}`).toBe(true);
    expect(parsed.type.has(family), `# TYPE for ${family}`).toBe(true);
  }
  for (const name of parsed.type.keys()) expect(parsed.help.has(name), `# HELP for ${name}`).toBe(true);
  return parsed;
}

/** The value of the sample `name` with exactly these labels (and no others but `le`), 0 when absent. */
function value(e: Exposition, name: string, labels: Record<string, string> = {}): number {
  const want = Object.entries(labels);
  const found = e.samples.find((s) => s.name === name && Object.keys(s.labels).length === want.length
    && want.every(([k, v]) => s.labels[k] === v));
  return found?.value ?? 0;
}

describe('metrics of a running agent', () => {
  let agent: AgentProcess;
  beforeAll(async () => {
    agent = await AgentProcess.start(`entries:
  - spiffeId: spiffe://example.org/tests
    selectors: ["unix:uid:0", "unix:path:${NODE}"]
`);
  });
  afterAll(async () => {
    await agent?.stop();
  });

  it('serves parseable Prometheus text in which fetching an X509-SVID moves the counters', async () => {
    const before = await scrape(agent);
    expect(value(before, 'tether_processes_tracked')).toBeGreaterThan(1);
    expect(value(before, 'tether_ca_expiry_timestamp_seconds')).toBeGreaterThan(Date.now() / 1000);
    const client = new WorkloadClient({ address: agent.address, timeoutMs: 10_000 });
    let key: Buffer;
    try {
      const context = await client.fetchX509();
      expect(context.svids.map((s) => s.spiffeId.toString())).toEqual(['spiffe://example.org/tests']);
      key = context.svids[0]?.privateKeyPkcs8 as Buffer;
    } finally {
      client.close();
    }
    const after = await scrape(agent);
    expect(value(after, 'tether_svids_issued_total', { type: 'x509' })).toBeGreaterThan(value(before, 'tether_svids_issued_total', { type: 'x509' }));
    const calls = { method: 'FetchX509SVID', code: 'OK' };
    expect(value(after, 'tether_workload_api_calls_total', calls)).toBeGreaterThan(value(before, 'tether_workload_api_calls_total', calls));
    expect(value(after, 'tether_attestation_seconds_count')).toBeGreaterThan(value(before, 'tether_attestation_seconds_count'));
    expect(value(after, 'tether_attestation_seconds_bucket', { le: '+Inf' })).toBe(value(after, 'tether_attestation_seconds_count'));
    // No key material reaches the metrics or the log.
    const text = await (await fetch(`http://127.0.0.1:${agent.metricsPort}/metrics`)).text();
    for (const out of [text, agent.stderr, agent.stdout]) {
      expect(out).not.toContain('PRIVATE KEY');
      expect(out).not.toContain(key.toString('base64').slice(-40));
      expect(out).not.toContain(key.toString('hex').slice(-40));
    }
  });

  it('answers /healthz 200 "ok" and /readyz 200 with its checks', async () => {
    const health = await fetch(`http://127.0.0.1:${agent.metricsPort}/healthz`);
    expect([health.status, await health.text()]).toEqual([200, 'ok\n']);
    const ready = await fetch(`http://127.0.0.1:${agent.metricsPort}/readyz`);
    expect(ready.status).toBe(200);
    const body = await ready.json() as { ready: boolean; checks: Record<string, { ok: boolean; detail?: string }> };
    expect(body.ready).toBe(true);
    expect(body.checks.ca).toMatchObject({ ok: true, detail: expect.stringContaining('active until') });
    expect(body.checks.workload_api).toEqual({ ok: true, detail: `serving on ${agent.socket}` });
  });
});

describe('metrics of an enforcing agent', () => {
  let dir: string;
  let cg: TestCgroup;
  let agent: AgentProcess | undefined;
  let server: ReturnType<typeof spawn> | undefined;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tether-e2e-metrics-'));
    writeFileSync(join(dir, 'policy.yaml'), 'mode: enforce\nunidentified: allow\nrules: []\n');
    cg = TestCgroup.create('tether-e2e-metrics');
    agent = await AgentProcess.start(`entries:
  - spiffeId: spiffe://example.org/client
    selectors: ["unix:uid:0", "unix:path:${CURL}"]
  - spiffeId: spiffe://example.org/server
    selectors: ["unix:uid:0", "unix:path:${PY}"]
`, ['--policy', join(dir, 'policy.yaml'), '--cgroup', cg.path]);
    server = cg.spawn([PY, '-m', 'http.server', String(PORT), '--bind', '127.0.0.1']);
    // From outside the enforcement cgroup: no hook stands between this curl and the server.
    await waitFor('the server', () => spawnSync(CURL, ['-s', '-o', '/dev/null', `http://127.0.0.1:${PORT}/`]).status === 0 || undefined);
  });
  afterAll(async () => {
    server?.kill('SIGKILL');
    await agent?.stop();
    await cg.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('counts a denied connect under the mode in force, and shows the BPF maps\' fill levels', async () => {
    const live = agent as AgentProcess;
    const denied = { mode: 'enforce', verdict: 'deny' };
    const before = await scrape(live);
    const curl = cg.spawn([CURL, '-s', '-o', '/dev/null', '--max-time', '5', `http://127.0.0.1:${PORT}/`]);
    expect(await exited(curl)).not.toBe(0);
    const after = await scrape(live);
    expect(value(after, 'tether_policy_verdicts_total', denied)).toBeGreaterThan(value(before, 'tether_policy_verdicts_total', denied));
    expect(value(after, 'tether_policy_verdicts_total', { mode: 'audit', verdict: 'deny' })).toBe(0);
    for (const map of ['proc_identity', 'exe_identity', 'cgroup_identity', 'listeners', 'policy', 'flows']) {
      expect(value(after, 'tether_bpf_map_capacity', { map }), map).toBeGreaterThan(0);
      expect(value(after, 'tether_bpf_map_entries', { map }), map).toBeLessThanOrEqual(value(after, 'tether_bpf_map_capacity', { map }));
    }
    expect(value(after, 'tether_bpf_map_capacity', { map: 'proc_identity' })).toBe(65536);
    expect(value(after, 'tether_bpf_map_entries', { map: 'proc_identity' })).toBeGreaterThanOrEqual(1); // the identified server
    expect(value(after, 'tether_bpf_map_entries', { map: 'exe_identity' })).toBe(2); // curl's and python's entries
    expect(value(after, 'tether_bpf_map_entries', { map: 'listeners' })).toBeGreaterThanOrEqual(1);
    const ready = await fetch(`http://127.0.0.1:${live.metricsPort}/readyz`);
    expect(ready.status).toBe(200);
  });
});
