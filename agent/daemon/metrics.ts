import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { TrackerStats } from '../attest/index.js';
import type { CaStatus } from '../ca/index.js';
import type { AttestationObserver, PostureObserver, WorkloadObserver } from '../workload/index.js';

/**
 * What the agent's metrics observe, each through what its folder already offers: stats() of the
 * process tracker and the SVID caches, the CA's status (dates and ids, never a key), the Workload
 * API server's open streams and connections. Every number is read when Prometheus scrapes,
 * except the calls and attestation times, which the returned observers are told as they happen.
 */
export interface AgentParts {
  readonly tracker: { stats(): TrackerStats };
  readonly x509: { stats(): { readonly minted: number; readonly rotated: number; readonly failures: number } };
  readonly jwt: { stats(): { readonly minted: number; readonly failures: number } };
  readonly ca: { status(): CaStatus };
  /** The Workload API server once it exists (it starts after these metrics are registered). */
  readonly workload: () => { readonly streams: number; readonly connections: number } | undefined;
}

/** Handed to the Workload API server and its backend. */
export interface AgentObservers {
  readonly workload: WorkloadObserver;
  readonly attestation: AttestationObserver;
  readonly posture: PostureObserver;
}

/** Attestation is a table lookup and a few /proc reads (a first sha256 of a large binary takes longer). */
const ATTESTATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/** Registers the agent's own metrics (the enforcement ones are enforcement.ts's). Labels are
 * bounded: an SVID type, a Workload API method and status name; never a pid or SPIFFE ID. */
export function registerAgentMetrics(registry: Registry, parts: AgentParts): AgentObservers {
  registerSvidMetrics(registry, parts);
  registerProcessMetrics(registry, parts.tracker);
  new Gauge({
    name: 'tether_ca_expiry_timestamp_seconds',
    help: 'When the active X509 CA expires (its notAfter, Unix seconds); 0 without an active CA, so an "expires soon" alert fires',
    registers: [registry],
    collect() {
      const active = parts.ca.status().x509.find((a) => a.state === 'active');
      this.set(active === undefined ? 0 : active.notAfter.getTime() / 1000);
    },
  });
  new Gauge({
    name: 'tether_workload_streams_open', help: 'Workload API streams open now (FetchX509SVID, FetchX509Bundles, FetchJWTBundles)',
    registers: [registry], collect() { this.set(parts.workload()?.streams ?? 0); },
  });
  new Gauge({
    name: 'tether_workload_connections_open', help: 'Connections to the Workload API socket open now (one attested process each)',
    registers: [registry], collect() { this.set(parts.workload()?.connections ?? 0); },
  });
  const calls = new Counter({
    name: 'tether_workload_api_calls_total',
    help: 'Workload API calls by method and gRPC status name; a stream counts once, OK with its first message or the status it ended with before one',
    labelNames: ['method', 'code'], registers: [registry],
  });
  const attestation = new Histogram({
    name: 'tether_attestation_seconds', help: 'From a Workload API call\'s arrival to its process identified and its selectors matched to entries',
    buckets: ATTESTATION_BUCKETS, registers: [registry],
  });
  const posture = new Counter({
    name: 'tether_posture_checks_total',
    help: 'Posture checks made as SVIDs were decided (each issuance, exec and executable change), by check and result (pass|fail)',
    labelNames: ['check', 'result'], registers: [registry],
  });
  return {
    workload: { answered: (method, code) => calls.inc({ method, code }) },
    attestation: { attested: (seconds) => attestation.observe(seconds) },
    posture: { checked: (check, ok) => posture.inc({ check, result: ok ? 'pass' : 'fail' }) },
  };
}

function registerSvidMetrics(registry: Registry, parts: AgentParts): void {
  new Counter({
    name: 'tether_svids_issued_total', help: 'SVIDs minted by type (x509 includes rotations; jwt: tokens minted, not served from the cache)',
    labelNames: ['type'], registers: [registry],
    collect() {
      this.reset();
      this.inc({ type: 'x509' }, parts.x509.stats().minted);
      this.inc({ type: 'jwt' }, parts.jwt.stats().minted);
    },
  });
  new Counter({
    name: 'tether_svid_rotations_total', help: 'X509-SVIDs re-minted in place of one an entry already had (half-life, entry or CA change)',
    registers: [registry], collect() { this.reset(); this.inc(parts.x509.stats().rotated); },
  });
  new Counter({
    name: 'tether_svid_mint_failures_total', help: 'SVID mints that failed, by type', labelNames: ['type'], registers: [registry],
    collect() {
      this.reset();
      this.inc({ type: 'x509' }, parts.x509.stats().failures);
      this.inc({ type: 'jwt' }, parts.jwt.stats().failures);
    },
  });
}

function registerProcessMetrics(registry: Registry, tracker: AgentParts['tracker']): void {
  new Gauge({
    name: 'tether_processes_tracked', help: 'Processes in the process table now', registers: [registry],
    collect() { this.set(tracker.stats().processes); },
  });
  new Counter({
    name: 'tether_proc_events_lost_total', help: 'Process events the kernel could not deliver (its ring buffer was full)', registers: [registry],
    collect() { this.reset(); this.inc(Number(tracker.stats().eventsDropped)); },
  });
  new Counter({
    name: 'tether_proc_resyncs_total', help: 'Rebuilds of the process table from /proc after lost events', registers: [registry],
    collect() { this.reset(); this.inc(tracker.stats().resyncs); },
  });
}

/** One BPF map as the fill-level gauges read it (kernel/ BpfMap fits). */
export interface CountedMap {
  readonly name: string;
  readonly maxEntries: number;
  count(): number;
}

/**
 * Entries and capacity of bounded BPF maps, by the kernel's map name: counted on each scrape (a
 * batch walk, at most max_entries keys, no values decoded). A map that cannot be read (closed
 * while the agent stops) is left out of that scrape rather than failing it.
 */
export function registerMapMetrics(registry: Registry, maps: readonly CountedMap[]): void {
  new Gauge({
    name: 'tether_bpf_map_entries', help: 'Entries in a BPF map now', labelNames: ['map'], registers: [registry],
    collect() {
      this.reset();
      for (const m of maps) {
        try { this.set({ map: m.name }, m.count()); } catch { /* closed: not this scrape */ }
      }
    },
  });
  new Gauge({
    name: 'tether_bpf_map_capacity', help: 'The most entries a BPF map can hold (max_entries)', labelNames: ['map'], registers: [registry],
    collect() {
      this.reset();
      for (const m of maps) {
        try { this.set({ map: m.name }, m.maxEntries); } catch { /* closed: not this scrape */ }
      }
    },
  });
}
