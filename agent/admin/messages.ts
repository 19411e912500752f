/**
 * backend.ts values to proto messages (the server's side) and back (the client's side). Nulls
 * travel as empty strings and come back as null; enums travel by their proto names. A client
 * refuses a message it cannot read (BAD_RESPONSE): an agent of another version, never a guess.
 */
import type { ConnectionView, PolicyApplied, PolicyDecision, PolicyEvent, TunnelInfo, UnusedRule } from './backend.js';
import type { Tunnel, Tunnel__Output } from './gen/tether/admin/v1/Tunnel.js';
import { AdminError } from './errors.js';
import type { Connection, Connection__Output } from './gen/tether/admin/v1/Connection.js';
import type { Mode__Output } from './gen/tether/admin/v1/Mode.js';
import type { PolicyApplied as PolicyAppliedMessage, PolicyApplied__Output } from './gen/tether/admin/v1/PolicyApplied.js';
import type { PolicyDecision as PolicyDecisionMessage, PolicyDecision__Output } from './gen/tether/admin/v1/PolicyDecision.js';
import type { PolicyEvent as PolicyEventMessage, PolicyEvent__Output } from './gen/tether/admin/v1/PolicyEvent.js';
import type { Role__Output } from './gen/tether/admin/v1/Role.js';
import type { UnusedRule as UnusedRuleMessage, UnusedRule__Output } from './gen/tether/admin/v1/UnusedRule.js';
import type { Verdict__Output } from './gen/tether/admin/v1/Verdict.js';

type Verdict = PolicyDecision['verdict'];
type Mode = PolicyDecision['mode'];
type Role = ConnectionView['role'];

const VERDICTS = { allow: 'VERDICT_ALLOW', deny: 'VERDICT_DENY', audit: 'VERDICT_AUDIT' } as const satisfies Record<Verdict, Verdict__Output>;
export const MODES = { enforce: 'MODE_ENFORCE', audit: 'MODE_AUDIT' } as const satisfies Record<Mode, Mode__Output>;
const ROLES = { client: 'ROLE_CLIENT', server: 'ROLE_SERVER' } as const satisfies Record<Role, Role__Output>;

export function eventMessage(e: PolicyEvent): PolicyEventMessage {
  return {
    time: e.time, verdict: VERDICTS[e.verdict], mode: MODES[e.mode], pid: e.pid, comm: e.comm,
    from: e.from ?? '', to: e.to ?? '', destination: e.destination, kind: e.kind ?? 'connect', reason: e.reason ?? '', source: e.source ?? '',
  };
}

export function readEvent(m: PolicyEvent__Output): PolicyEvent {
  const verdict = fromProto(VERDICTS, m.verdict, 'PolicyEvent.verdict');
  if (verdict === 'allow') throw badResponse('PolicyEvent.verdict is VERDICT_ALLOW: an event is a deny or an audit');
  return {
    time: m.time, verdict, mode: fromProto(MODES, m.mode, 'PolicyEvent.mode'), pid: m.pid, comm: m.comm,
    from: orNull(m.from), to: orNull(m.to), destination: m.destination, ...eventKind(m.kind),
    ...(m.reason === '' ? {} : { reason: m.reason }), ...(m.source === '' ? {} : { source: m.source }),
  };
}

const EVENT_KINDS: ReadonlyArray<NonNullable<PolicyEvent['kind']>> = ['connect', 'tunnel', 'inbound', 'profile'];

/** A connect event reads as it was made, without kind (the default); the others carry theirs. */
function eventKind(kind: string): Pick<PolicyEvent, 'kind'> {
  if (kind === '' || kind === 'connect') return {};
  const known = EVENT_KINDS.find((k) => k === kind);
  if (known === undefined) throw badResponse(`PolicyEvent.kind is ${JSON.stringify(kind)}`);
  return { kind: known };
}

const SIDES: ReadonlyArray<TunnelInfo['side']> = ['client', 'server'];
const DATA_PATHS: ReadonlyArray<TunnelInfo['mode']> = ['ktls', 'userspace'];

export function tunnelMessage(t: TunnelInfo): Tunnel {
  return {
    since: t.since, side: t.side, source_id: t.sourceId, dest_id: t.destId, original: t.original, peer: t.peer, mode: t.mode,
    bytes_to_destination: t.bytesToDestination, bytes_from_destination: t.bytesFromDestination,
  };
}

export function readTunnel(m: Tunnel__Output): TunnelInfo {
  const side = SIDES.find((x) => x === m.side);
  const mode = DATA_PATHS.find((x) => x === m.mode);
  if (side === undefined || mode === undefined) throw badResponse(`Tunnel side ${JSON.stringify(m.side)} or mode ${JSON.stringify(m.mode)} is unknown`);
  return {
    since: m.since, side, sourceId: m.source_id, destId: m.dest_id, original: m.original, peer: m.peer, mode,
    bytesToDestination: Number(m.bytes_to_destination), bytesFromDestination: Number(m.bytes_from_destination),
  };
}

export function connectionMessage(c: ConnectionView): Connection {
  return { since: c.since, role: ROLES[c.role], local: c.local, peer: c.peer, local_id: c.localId ?? '', peer_id: c.peerId ?? '' };
}

export function readConnection(m: Connection__Output): ConnectionView {
  return {
    since: m.since, role: fromProto(ROLES, m.role, 'Connection.role'), local: m.local, peer: m.peer,
    localId: orNull(m.local_id), peerId: orNull(m.peer_id),
  };
}

export function decisionMessage(d: PolicyDecision): PolicyDecisionMessage {
  return { verdict: VERDICTS[d.verdict], mode: MODES[d.mode], reason: d.reason, ...(d.line === undefined ? {} : { line: d.line }) };
}

export function readDecision(m: PolicyDecision__Output): PolicyDecision {
  return {
    verdict: fromProto(VERDICTS, m.verdict, 'PolicyDecision.verdict'), mode: fromProto(MODES, m.mode, 'PolicyDecision.mode'),
    reason: m.reason, ...(m.line === undefined ? {} : { line: m.line }),
  };
}

export function appliedMessage(a: PolicyApplied): PolicyAppliedMessage {
  return { mode: MODES[a.mode], rules: a.rules, generation: a.generation, path: a.path };
}

export function readApplied(m: PolicyApplied__Output): PolicyApplied {
  const generation = Number(m.generation);
  if (!Number.isSafeInteger(generation)) throw badResponse(`PolicyApplied.generation ${m.generation} is not a safe integer`);
  return { mode: fromProto(MODES, m.mode, 'PolicyApplied.mode'), rules: m.rules, generation, path: m.path };
}

export function unusedRuleMessage(r: UnusedRule): UnusedRuleMessage {
  return { line: r.line, from: r.from, to: r.to, ports: r.ports };
}

export function readUnusedRule(m: UnusedRule__Output): UnusedRule {
  return { line: m.line, from: m.from, to: m.to, ports: m.ports };
}

export function orNull(value: string): string | null {
  return value === '' ? null : value;
}

/** The value whose proto name `name` is; anything else (UNSPECIFIED, a newer value) is refused. */
export function fromProto<K extends string>(table: Record<K, string>, name: string, field: string): K {
  const found = (Object.keys(table) as K[]).find((k) => table[k] === name);
  if (found === undefined) throw badResponse(`${field} is ${name}`);
  return found;
}

export function badResponse(message: string): AdminError {
  return new AdminError('BAD_RESPONSE', `the agent's answer cannot be read: ${message}`);
}
