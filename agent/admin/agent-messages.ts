/**
 * The agent's own values (status, processes, entry matches, the CA) to proto messages and back,
 * as messages.ts does for enforce/'s: nulls and undefined travel as empty strings (a missing
 * message stays absent), dates as ISO 8601, 64-bit numbers as decimal strings, enums by their
 * proto names. A client refuses what it cannot read (BAD_RESPONSE), except a kernel feature's
 * name, which is only shown: a newer agent's feature still reads.
 */
import {
  isCaKeyType, type CaCertificateStatus, type CaKeyType, type CaStatus, type JwtAlgorithm, type JwtKeyStatus, type Lifecycle,
  type RotationReport, type SlotState, type X509AuthorityStatus,
} from '../ca/index.js';
import type { AgentStatus, EntryMatch, FeatureView, MeshStatus, PolicyStatus, ProcessInfo } from './backend.js';
import type { MeshStatus__Output } from './gen/tether/admin/v1/MeshStatus.js';
import type { AgentStatus as AgentStatusMessage, AgentStatus__Output } from './gen/tether/admin/v1/AgentStatus.js';
import type { CaCertificate, CaCertificate__Output } from './gen/tether/admin/v1/CaCertificate.js';
import type { CaRotation, CaRotation__Output } from './gen/tether/admin/v1/CaRotation.js';
import type { CaState, CaState__Output } from './gen/tether/admin/v1/CaState.js';
import type { EntryMatch as EntryMatchMessage, EntryMatch__Output } from './gen/tether/admin/v1/EntryMatch.js';
import type { FeatureState__Output } from './gen/tether/admin/v1/FeatureState.js';
import type { JwtKey, JwtKey__Output } from './gen/tether/admin/v1/JwtKey.js';
import type { PolicyStatus as PolicyStatusMessage, PolicyStatus__Output } from './gen/tether/admin/v1/PolicyStatus.js';
import type { Process, Process__Output } from './gen/tether/admin/v1/Process.js';
import type { SlotLifecycle, SlotLifecycle__Output } from './gen/tether/admin/v1/SlotLifecycle.js';
import type { SlotState__Output } from './gen/tether/admin/v1/SlotState.js';
import type { X509Authority, X509Authority__Output } from './gen/tether/admin/v1/X509Authority.js';
import { MODES, badResponse, fromProto, orNull } from './messages.js';
import { postureCheckMessage, readPostureCheck } from './posture-messages.js';

const FEATURE_STATES = {
  available: 'FEATURE_AVAILABLE', missing: 'FEATURE_MISSING', unknown: 'FEATURE_UNKNOWN',
} as const satisfies Record<FeatureView['state'], FeatureState__Output>;
const SLOT_STATES = {
  prepared: 'SLOT_PREPARED', active: 'SLOT_ACTIVE', retiring: 'SLOT_RETIRING', retired: 'SLOT_RETIRED',
} as const satisfies Record<SlotState, SlotState__Output>;
const JWT_ALGS: readonly JwtAlgorithm[] = ['ES256', 'ES384', 'RS256'];
const UNIDENTIFIED: ReadonlyArray<PolicyStatus['unidentified']> = ['allow', 'deny'];

// ---- Status ---------------------------------------------------------------------------------

export function statusMessage(s: AgentStatus): AgentStatusMessage {
  return {
    version: s.version, pid: s.pid, started_at: s.startedAt, uptime_seconds: s.uptimeSeconds, trust_domain: s.trustDomain,
    workload_socket: s.workloadSocket, admin_socket: s.adminSocket, metrics_address: s.metricsAddress,
    features: s.features.map((f) => ({ name: f.name, state: FEATURE_STATES[f.state], detail: f.detail, fallback: f.fallback ?? '' })),
    counts: {
      processes: s.counts.processes, entries: s.counts.entries, x509_svids: s.counts.x509Svids, jwt_svids: s.counts.jwtSvids,
      workload_streams: s.counts.workloadStreams, workload_connections: s.counts.workloadConnections,
    },
    policy: s.policy === null ? null : policyMessage(s.policy),
    mesh: s.mesh === null ? null : { ...s.mesh, cidrs: [...s.mesh.cidrs], outbound_port: s.mesh.outboundPort },
  };
}

function policyMessage(p: PolicyStatus): PolicyStatusMessage {
  return {
    mode: MODES[p.mode], path: p.path, rules: p.rules, kernel_rules: p.kernelRules, generation: p.generation,
    unidentified: p.unidentified, cgroup: p.cgroup,
  };
}

export function readStatus(m: AgentStatus__Output): AgentStatus {
  const c = m.counts;
  if (c === null) throw badResponse('AgentStatus.counts is missing');
  return {
    version: m.version, pid: m.pid, startedAt: m.started_at, uptimeSeconds: m.uptime_seconds, trustDomain: m.trust_domain,
    workloadSocket: m.workload_socket, adminSocket: m.admin_socket, metricsAddress: m.metrics_address,
    features: m.features.map((f) => ({
      name: f.name, state: fromProto(FEATURE_STATES, f.state, `KernelFeature.state of ${f.name}`), detail: f.detail, fallback: orNull(f.fallback),
    })),
    counts: {
      processes: c.processes, entries: c.entries, x509Svids: c.x509_svids, jwtSvids: c.jwt_svids,
      workloadStreams: c.workload_streams, workloadConnections: c.workload_connections,
    },
    policy: m.policy === null ? null : readPolicy(m.policy),
    mesh: m.mesh === null ? null : readMesh(m.mesh),
  };
}

function readMesh(m: MeshStatus__Output): MeshStatus {
  const mode = m.mode === 'ktls' || m.mode === 'userspace' ? m.mode : undefined;
  const inbound = m.inbound === 'strict' || m.inbound === 'permissive' ? m.inbound : undefined;
  if (mode === undefined || inbound === undefined) throw badResponse(`MeshStatus mode ${JSON.stringify(m.mode)} or inbound ${JSON.stringify(m.inbound)} is unknown`);
  return { mode, detail: m.detail, cidrs: m.cidrs, port: m.port, outboundPort: m.outbound_port, inbound };
}

function readPolicy(m: PolicyStatus__Output): PolicyStatus {
  const unidentified = UNIDENTIFIED.find((u) => u === m.unidentified);
  if (unidentified === undefined) throw badResponse(`PolicyStatus.unidentified is ${JSON.stringify(m.unidentified)}`);
  return {
    mode: fromProto(MODES, m.mode, 'PolicyStatus.mode'), path: m.path, rules: m.rules, kernelRules: m.kernel_rules,
    generation: safeInteger(m.generation, 'PolicyStatus.generation'), unidentified, cgroup: m.cgroup,
  };
}

// ---- ListProcesses, MatchEntries ----------------------------------------------------------------

export function processMessage(p: ProcessInfo): Process {
  return {
    pid: p.pid, ppid: p.ppid, start_time: p.startTime, start_ns: p.startNs.toString(), uid: p.uid, gid: p.gid, comm: p.comm,
    exe: p.exe ?? '', cgroup: p.cgroup ?? '', container_id: p.containerId ?? '', pod_uid: p.podUid ?? '',
  };
}

export function readProcess(m: Process__Output): ProcessInfo {
  if (!/^\d+$/.test(m.start_ns)) throw badResponse(`Process.start_ns ${JSON.stringify(m.start_ns)} is not a number`);
  return {
    pid: m.pid, ppid: m.ppid, startTime: m.start_time, startNs: BigInt(m.start_ns), uid: m.uid, gid: m.gid, comm: m.comm,
    exe: orNull(m.exe), cgroup: orNull(m.cgroup), containerId: orNull(m.container_id), podUid: orNull(m.pod_uid),
  };
}

export function matchMessage(x: EntryMatch): EntryMatchMessage {
  return {
    pid: x.pid, selectors: [...x.selectors],
    entries: x.entries.map((e) => ({
      id: e.id, spiffe_id: e.spiffeId, matched: e.matched, missing: [...e.missing], posture: e.posture.map(postureCheckMessage),
    })),
  };
}

export function readMatch(m: EntryMatch__Output): EntryMatch {
  return {
    pid: m.pid, selectors: m.selectors,
    entries: m.entries.map((e) => ({
      id: e.id, spiffeId: e.spiffe_id, matched: e.matched, missing: e.missing, posture: e.posture.map(readPostureCheck),
    })),
  };
}

// ---- CaStatus, RotateCa ---------------------------------------------------------------------

export function caStateMessage(s: CaStatus): CaState {
  return {
    trust_domain: s.trustDomain, mode: s.mode, upstream: s.upstream === undefined ? null : certificateMessage(s.upstream),
    x509: s.x509.map((a): X509Authority => ({
      id: a.id, key_type: a.keyType, not_before: a.notBefore.toISOString(), not_after: a.notAfter.toISOString(),
      root: certificateMessage(a.root), intermediate: a.intermediate === undefined ? null : certificateMessage(a.intermediate),
      lifecycle: lifecycleMessage(a.lifecycle), retire_at: a.retireAt?.toISOString() ?? '',
    })),
    jwt: s.jwt.map((k): JwtKey => ({
      kid: k.kid, key_type: k.keyType, alg: k.alg, not_before: k.notBefore.toISOString(), not_after: k.notAfter.toISOString(),
      lifecycle: lifecycleMessage(k.lifecycle), retire_at: k.retireAt?.toISOString() ?? '',
    })),
  };
}

/** The CaStatus again, field for field as ca/ makes it (absent optionals stay absent), so `tether ca show -o json` prints what it printed before the admin API carried it. */
export function readCaState(m: CaState__Output): CaStatus {
  if (m.mode !== 'local' && m.mode !== 'upstream') throw badResponse(`CaState.mode is ${JSON.stringify(m.mode)}`);
  return {
    trustDomain: m.trust_domain, mode: m.mode,
    upstream: m.mode === 'upstream' ? readCertificate(m.upstream, 'CaState.upstream') : undefined,
    x509: m.x509.map(readAuthority), jwt: m.jwt.map(readJwtKey),
  };
}

function readAuthority(m: X509Authority__Output): X509AuthorityStatus {
  const field = `X509Authority ${m.id}`;
  const lifecycle = readLifecycle(m.lifecycle, field);
  return {
    id: m.id, state: lifecycle.state, keyType: keyType(m.key_type, field), notBefore: date(m.not_before, `${field}.not_before`),
    notAfter: date(m.not_after, `${field}.not_after`), root: readCertificate(m.root, `${field}.root`),
    intermediate: m.intermediate === null ? undefined : readCertificate(m.intermediate, `${field}.intermediate`),
    lifecycle, retireAt: optionalDate(m.retire_at, `${field}.retire_at`),
  };
}

function readJwtKey(m: JwtKey__Output): JwtKeyStatus {
  const field = `JwtKey ${m.kid}`;
  const lifecycle = readLifecycle(m.lifecycle, field);
  const alg = JWT_ALGS.find((a) => a === m.alg);
  if (alg === undefined) throw badResponse(`${field}.alg is ${JSON.stringify(m.alg)}`);
  return {
    kid: m.kid, state: lifecycle.state, keyType: keyType(m.key_type, field), alg, notBefore: date(m.not_before, `${field}.not_before`),
    notAfter: date(m.not_after, `${field}.not_after`), lifecycle, retireAt: optionalDate(m.retire_at, `${field}.retire_at`),
  };
}

function certificateMessage(c: CaCertificateStatus): CaCertificate {
  return { subject: c.subject, fingerprint_sha256: c.fingerprintSha256, serial_hex: c.serialHex, not_after: c.notAfter.toISOString() };
}

function readCertificate(m: CaCertificate__Output | null, field: string): CaCertificateStatus {
  if (m === null) throw badResponse(`${field} is missing`);
  return {
    subject: m.subject, fingerprintSha256: m.fingerprint_sha256, serialHex: m.serial_hex, notAfter: date(m.not_after, `${field}.not_after`),
  };
}

function lifecycleMessage(l: Lifecycle): SlotLifecycle {
  const base = { state: SLOT_STATES[l.state], prepared_at: l.preparedAt.toISOString() };
  switch (l.state) {
    case 'prepared': return base;
    case 'active': return { ...base, activated_at: l.activatedAt.toISOString(), max_issued_ttl_seconds: l.maxIssuedTtlSeconds };
    case 'retiring': return {
      ...base, activated_at: l.activatedAt.toISOString(), active_until: l.activeUntil.toISOString(), max_issued_ttl_seconds: l.maxIssuedTtlSeconds,
    };
    case 'retired': return { ...base, retired_at: l.retiredAt.toISOString() };
    default: return assertNever(l);
  }
}

function readLifecycle(m: SlotLifecycle__Output | null, owner: string): Lifecycle {
  const field = `${owner}.lifecycle`;
  if (m === null) throw badResponse(`${field} is missing`);
  const preparedAt = date(m.prepared_at, `${field}.prepared_at`);
  const state = fromProto(SLOT_STATES, m.state, `${field}.state`);
  switch (state) {
    case 'prepared': return { state, preparedAt };
    case 'active': return { state, preparedAt, activatedAt: date(m.activated_at, `${field}.activated_at`), maxIssuedTtlSeconds: m.max_issued_ttl_seconds };
    case 'retiring': return {
      state, preparedAt, activatedAt: date(m.activated_at, `${field}.activated_at`), maxIssuedTtlSeconds: m.max_issued_ttl_seconds,
      activeUntil: date(m.active_until, `${field}.active_until`),
    };
    case 'retired': return { state, preparedAt, retiredAt: date(m.retired_at, `${field}.retired_at`) };
    default: return assertNever(state);
  }
}

export function rotationMessage(r: RotationReport): CaRotation {
  return { x509_previous: r.x509.previous ?? '', x509_active: r.x509.active, jwt_previous: r.jwt.previous ?? '', jwt_active: r.jwt.active };
}

export function readRotation(m: CaRotation__Output): RotationReport {
  return {
    x509: { previous: orNull(m.x509_previous) ?? undefined, active: m.x509_active },
    jwt: { previous: orNull(m.jwt_previous) ?? undefined, active: m.jwt_active },
  };
}

// ---- values ---------------------------------------------------------------------------------

function keyType(text: string, field: string): CaKeyType {
  if (!isCaKeyType(text)) throw badResponse(`${field}.key_type is ${JSON.stringify(text)}`);
  return text;
}

function date(text: string, field: string): Date {
  const d = new Date(text);
  if (text === '' || Number.isNaN(d.getTime())) throw badResponse(`${field} is ${JSON.stringify(text)}, not an ISO 8601 time`);
  return d;
}

function optionalDate(text: string, field: string): Date | undefined {
  return text === '' ? undefined : date(text, field);
}

function safeInteger(text: string, field: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw badResponse(`${field} ${text} is not a safe integer`);
  return n;
}

function assertNever(value: never): never {
  throw badResponse(`unexpected ${JSON.stringify(value)}`);
}
