import { tetherVersion, type AgentStatus, type MeshStatus, type PolicyStatus } from '../admin/index.js';
import type { KernelFeature } from '../kernel/index.js';
import { parseListenAddress } from '../telemetry/index.js';

/** The agent's parts `tether status` reads, each asked at the call (counts move). */
export interface StatusParts {
  readonly startedAt: Date;
  readonly now: () => Date;
  readonly trustDomain: string;
  readonly workloadSocket: string;
  readonly adminSocket: string;
  /** What --metrics-addr asked for, and the server when one serves. */
  readonly metrics: { readonly configured: string; readonly served: { readonly port: number } | undefined };
  /** Detected once at start: they do not change under a running kernel (kTLS's module aside). */
  readonly features: readonly KernelFeature[];
  readonly tracker: { stats(): { readonly processes: number } };
  readonly entries: { current(): readonly unknown[] };
  readonly x509: { stats(): { readonly entries: number } };
  readonly jwt: { stats(): { readonly entries: number } };
  /** The Workload API server once it serves. */
  readonly workload: () => { readonly streams: number; readonly connections: number } | undefined;
  /** The policy in force; undefined without --policy. */
  readonly policy: (() => PolicyStatus) | undefined;
  /** The mesh; undefined when it is off. */
  readonly mesh: (() => MeshStatus) | undefined;
}

/** The Status answer, built from the parts now. */
export function agentStatus(parts: StatusParts): AgentStatus {
  const now = parts.now();
  const workload = parts.workload();
  return {
    version: tetherVersion(),
    pid: process.pid,
    startedAt: parts.startedAt.toISOString(),
    uptimeSeconds: Math.max(0, (now.getTime() - parts.startedAt.getTime()) / 1000),
    trustDomain: parts.trustDomain,
    workloadSocket: parts.workloadSocket,
    adminSocket: parts.adminSocket,
    metricsAddress: metricsAddress(parts.metrics.configured, parts.metrics.served),
    features: parts.features,
    counts: {
      processes: parts.tracker.stats().processes,
      entries: parts.entries.current().length,
      x509Svids: parts.x509.stats().entries,
      jwtSvids: parts.jwt.stats().entries,
      workloadStreams: workload?.streams ?? 0,
      workloadConnections: workload?.connections ?? 0,
    },
    policy: parts.policy?.() ?? null,
    mesh: parts.mesh?.() ?? null,
  };
}

/** host:port as served (the port the kernel gave for ":0"), IPv6 hosts in brackets; "off" when nothing is served. */
export function metricsAddress(configured: string, served: { readonly port: number } | undefined): string {
  const at = parseListenAddress(configured);
  if (at === 'off' || served === undefined) return 'off';
  return `${at.host.includes(':') ? `[${at.host}]` : at.host}:${served.port}`;
}
