import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { TrackerStats } from '../../../agent/attest/index.js';
import type { CaStatus, X509AuthorityStatus } from '../../../agent/ca/index.js';
import { registerAgentMetrics, registerMapMetrics, type AgentParts } from '../../../agent/daemon/metrics.js';

const EXPIRES = new Date('2030-01-02T03:04:05Z');

function caStatus(states: ReadonlyArray<X509AuthorityStatus['state']>): CaStatus {
  return {
    trustDomain: 'example.org', mode: 'local', upstream: undefined, jwt: [],
    x509: states.map((state, i) => ({ id: `ca${i}`, state, notAfter: new Date(EXPIRES.getTime() + i * 1000) }) as unknown as X509AuthorityStatus),
  };
}

function parts(): AgentParts & { set: (o: Partial<Record<string, unknown>>) => void } {
  const now = {
    tracker: { processes: 12, eventsApplied: 100, eventsDropped: 3n, resyncs: 1 } as TrackerStats,
    x509: { minted: 5, rotated: 2, failures: 1 }, jwt: { minted: 4, failures: 0 },
    ca: caStatus(['retired', 'active', 'prepared']), workload: { streams: 2, connections: 3 } as { streams: number; connections: number } | undefined,
  };
  return {
    tracker: { stats: () => now.tracker }, x509: { stats: () => now.x509 }, jwt: { stats: () => now.jwt }, ca: { status: () => now.ca },
    workload: () => now.workload,
    set: (o) => Object.assign(now, o),
  };
}

/** name{label="v",...} → value, from prom-client's own JSON. */
async function samples(registry: Registry): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const m of await registry.getMetricsAsJSON()) {
    for (const v of m.values) {
      const labels = Object.entries(v.labels).map(([k, l]) => `${k}="${String(l)}"`).join(',');
      out.set(`${(v as { metricName?: string }).metricName ?? m.name}${labels === '' ? '' : `{${labels}}`}`, v.value);
    }
  }
  return out;
}

describe('registerAgentMetrics', () => {
  it('reads the parts\' stats when scraped', async () => {
    const registry = new Registry();
    const p = parts();
    registerAgentMetrics(registry, p);
    const s = await samples(registry);
    expect(s.get('tether_svids_issued_total{type="x509"}')).toBe(5);
    expect(s.get('tether_svids_issued_total{type="jwt"}')).toBe(4);
    expect(s.get('tether_svid_rotations_total')).toBe(2);
    expect(s.get('tether_svid_mint_failures_total{type="x509"}')).toBe(1);
    expect(s.get('tether_processes_tracked')).toBe(12);
    expect(s.get('tether_proc_events_lost_total')).toBe(3);
    expect(s.get('tether_proc_resyncs_total')).toBe(1);
    expect(s.get('tether_ca_expiry_timestamp_seconds')).toBe(EXPIRES.getTime() / 1000 + 1); // the active one, not the others
    expect(s.get('tether_workload_streams_open')).toBe(2);
    expect(s.get('tether_workload_connections_open')).toBe(3);
    p.set({ x509: { minted: 9, rotated: 6, failures: 1 }, workload: undefined });
    const later = await samples(registry);
    expect(later.get('tether_svids_issued_total{type="x509"}')).toBe(9);
    expect(later.get('tether_svid_rotations_total')).toBe(6);
    expect(later.get('tether_workload_streams_open')).toBe(0); // before the server starts
  });

  it('shows a CA expiry of 0 without an active CA (an "expires soon" alert fires)', async () => {
    const registry = new Registry();
    const p = parts();
    p.set({ ca: caStatus(['prepared']) });
    registerAgentMetrics(registry, p);
    expect((await samples(registry)).get('tether_ca_expiry_timestamp_seconds')).toBe(0);
  });

  it('counts calls by method and status and observes attestation times through the observers it returns', async () => {
    const registry = new Registry();
    const observers = registerAgentMetrics(registry, parts());
    observers.workload.answered('FetchX509SVID', 'OK');
    observers.workload.answered('FetchX509SVID', 'OK');
    observers.workload.answered('FetchJWTSVID', 'PERMISSION_DENIED');
    observers.attestation.attested(0.003);
    observers.attestation.attested(0.2);
    const s = await samples(registry);
    expect(s.get('tether_workload_api_calls_total{method="FetchX509SVID",code="OK"}')).toBe(2);
    expect(s.get('tether_workload_api_calls_total{method="FetchJWTSVID",code="PERMISSION_DENIED"}')).toBe(1);
    expect(s.get('tether_attestation_seconds_count')).toBe(2);
    expect(s.get('tether_attestation_seconds_bucket{le="0.005"}')).toBe(1);
    expect(s.get('tether_attestation_seconds_sum')).toBeCloseTo(0.203);
  });

  it('counts posture checks by check and result through the posture observer', async () => {
    const registry = new Registry();
    const observers = registerAgentMetrics(registry, parts());
    observers.posture.checked('noNewPrivs', false);
    observers.posture.checked('noNewPrivs', false);
    observers.posture.checked('exeImmutable', true);
    const s = await samples(registry);
    expect(s.get('tether_posture_checks_total{check="noNewPrivs",result="fail"}')).toBe(2);
    expect(s.get('tether_posture_checks_total{check="exeImmutable",result="pass"}')).toBe(1);
    expect(s.get('tether_posture_checks_total{check="exeImmutable",result="fail"}')).toBeUndefined();
  });

  it('names every metric tether_..., with help', async () => {
    const registry = new Registry();
    registerAgentMetrics(registry, parts());
    registerMapMetrics(registry, []);
    for (const m of await registry.getMetricsAsJSON()) {
      expect(m.name).toMatch(/^tether_[a-z0-9_]+$/);
      expect(m.help.length).toBeGreaterThan(10);
    }
  });
});

describe('registerMapMetrics', () => {
  it('counts each map\'s entries and shows its capacity when scraped; a map that cannot be read is left out', async () => {
    const registry = new Registry();
    let entries = 10;
    registerMapMetrics(registry, [
      { name: 'proc_identity', maxEntries: 65536, count: () => entries },
      { name: 'flows', get maxEntries(): number { throw new Error('closed'); }, count: () => { throw new Error('closed'); } },
    ]);
    let s = await samples(registry);
    expect(s.get('tether_bpf_map_entries{map="proc_identity"}')).toBe(10);
    expect(s.get('tether_bpf_map_capacity{map="proc_identity"}')).toBe(65536);
    expect(s.has('tether_bpf_map_entries{map="flows"}')).toBe(false);
    entries = 12;
    s = await samples(registry);
    expect(s.get('tether_bpf_map_entries{map="proc_identity"}')).toBe(12);
  });
});
