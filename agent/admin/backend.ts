/**
 * What the admin API serves, as plain values: the daemon implements it over the agent's parts
 * (status, the process table, entries, the CA) and enforce/. Every method may throw an
 * AdminError; its code decides the gRPC status (admin/status.ts).
 */

import type { ProcessInfo } from '../attest/index.js';
import type { CaStatus, Lifecycle, RotationReport } from '../ca/index.js';
import type { ConnectionView, PolicyDecision, PolicyEvent, UnusedRule } from '../enforce/index.js';
import type { FeatureState } from '../kernel/index.js';
import type { DeviationView, ProfileMode, ProfileView, QuarantineView } from './profile-messages.js';

/** Behaviour profiles and the quarantine (profile-messages.ts). */
export type { DeviationView, ProfileMode, ProfileView, QuarantineView };

/** The values enforce/ makes (a deny event, a live connection, a decision, an unused rule), served as they are. */
export type { ConnectionView, PolicyDecision, PolicyEvent, UnusedRule };
/** A tracked process (attest/), the CA's state and a rotation's report (ca/), served as they are. */
export type { CaStatus, Lifecycle, ProcessInfo, RotationReport };

/** `tether status`: the agent and what it runs on. */
export interface AgentStatus {
  readonly version: string;
  readonly pid: number;
  /** ISO 8601. */
  readonly startedAt: string;
  readonly uptimeSeconds: number;
  readonly trustDomain: string;
  readonly workloadSocket: string;
  readonly adminSocket: string;
  /** "127.0.0.1:9811", "[::1]:9811" as served; "off" when nothing is. */
  readonly metricsAddress: string;
  readonly features: readonly FeatureView[];
  readonly counts: AgentCounts;
  /** null: the agent runs without --policy. */
  readonly policy: PolicyStatus | null;
  /** null: the mesh is off. */
  readonly mesh: MeshStatus | null;
}

/** The mesh as configured, and the data path its tunnels use. */
export interface MeshStatus {
  readonly mode: 'ktls' | 'userspace';
  readonly detail: string;
  readonly cidrs: readonly string[];
  readonly port: number;
  readonly outboundPort: number;
  readonly inbound: 'strict' | 'permissive';
}

/** One relaying mesh tunnel as one end sees it (`tether conns`). */
export interface TunnelInfo {
  /** ISO 8601: when it began relaying. */
  readonly since: string;
  readonly side: 'client' | 'server';
  readonly sourceId: string;
  readonly destId: string;
  /** What the workload dialled, "10.0.0.2:8080". */
  readonly original: string;
  /** The other agent's end. */
  readonly peer: string;
  readonly mode: 'ktls' | 'userspace';
  readonly bytesToDestination: number;
  readonly bytesFromDestination: number;
}

/** One kernel feature (kernel/'s KernelFeature; the name is any string, so a newer agent's feature still reads). */
export interface FeatureView {
  readonly name: string;
  readonly state: FeatureState;
  readonly detail: string;
  /** What the agent does without it; null when it is available. */
  readonly fallback: string | null;
}

export interface AgentCounts {
  readonly processes: number;
  readonly entries: number;
  /** Entries with an X509-SVID cached. */
  readonly x509Svids: number;
  /** (entry, audience) JWT-SVIDs cached. */
  readonly jwtSvids: number;
  readonly workloadStreams: number;
  readonly workloadConnections: number;
}

export interface PolicyStatus {
  readonly mode: 'enforce' | 'audit';
  readonly path: string;
  /** Rules in the policy file. */
  readonly rules: number;
  /** (source, destination, port) tuples and CIDR rules in the kernel. */
  readonly kernelRules: number;
  readonly generation: number;
  readonly unidentified: 'allow' | 'deny';
  readonly cgroup: string;
}

/** `tether entry match PID`: the process's selectors and each entry's verdict, with its posture checks. */
export interface EntryMatch {
  readonly pid: number;
  readonly selectors: readonly string[];
  readonly entries: ReadonlyArray<{
    readonly id: string; readonly spiffeId: string; readonly matched: boolean; readonly missing: readonly string[];
    /** The entry's posture checks on the process; empty when it asks for none. */
    readonly posture: readonly PostureCheckView[];
  }>;
}

/** One posture check's verdict on one process, and what was seen ("NoNewPrivs is 0"). */
export interface PostureCheckView {
  readonly check: string;
  readonly ok: boolean;
  readonly evidence: string;
}

/** `tether posture PID`: each entry the process's selectors match that asks for posture checks. */
export interface PostureReport {
  readonly pid: number;
  readonly entries: ReadonlyArray<{ readonly id: string; readonly spiffeId: string; readonly checks: readonly PostureCheckView[] }>;
}

export interface PolicyCheckRequest {
  readonly from: string;
  /** A SPIFFE ID, or an IP address (an external destination). */
  readonly to: string;
  readonly port: number;
}

export interface PolicyApplied {
  readonly mode: 'enforce' | 'audit';
  /** (source, destination, port) tuples and CIDR rules written to the kernel. */
  readonly rules: number;
  readonly generation: number;
  /** Where the policy was written (the agent's --policy file: the watched file and the kernel agree). */
  readonly path: string;
}

export interface AdminBackend {
  /** The most recent events, oldest first (at most `limit`). */
  recentEvents(limit: number): PolicyEvent[];
  /** Every event from now on; returns unsubscribe. */
  subscribeEvents(listener: (event: PolicyEvent) => void): () => void;
  connections(): ConnectionView[];
  /** Mesh tunnels relaying now ([] without mesh). */
  tunnels(): TunnelInfo[];
  checkPolicy(request: PolicyCheckRequest): PolicyDecision;
  /** Validates the YAML text whole (AdminError BAD_POLICY naming line and reason), then writes it
   * to the policy file and switches the kernel to it. */
  applyPolicy(yamlText: string): Promise<PolicyApplied>;
  /** The least-privilege policy (YAML text) that allows exactly the connections observed. */
  suggestPolicy(): string;
  unusedRules(): UnusedRule[];
  status(): AgentStatus;
  /** Every tracked process, by pid. */
  processes(): ProcessInfo[];
  /** BAD_REQUEST when the pid is not in the process table. */
  matchEntries(pid: number): Promise<EntryMatch>;
  /** The posture checks of the entries the process matches; BAD_REQUEST when the pid is not in the process table. */
  posture(pid: number): Promise<PostureReport>;
  caStatus(): CaStatus;
  rotateCa(): Promise<RotationReport>;
  /** Behaviour profiles: NOT_ENFORCING without --policy, NOT_FOUND for an identity without one,
   * BAD_REQUEST for a SPIFFE ID that does not parse. */
  profile(spiffeId: string): ProfileView;
  /** The deviations seen since the agent started, oldest first. */
  profileDiff(spiffeId: string): DeviationView[];
  /** "learn" makes a profile for an identity without one. */
  setProfileMode(spiffeId: string, mode: ProfileMode): ProfileView;
  /** NOT_FOUND when the identity has no deviation `seq`. */
  acceptDeviation(spiffeId: string, seq: number): ProfileView;
  quarantined(): QuarantineView[];
  /** NOT_FOUND when no quarantined process has that pid. */
  releaseQuarantine(pid: number): QuarantineView;
}
