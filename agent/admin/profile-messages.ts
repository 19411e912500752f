/**
 * Behaviour profiles and the quarantine on the wire: the plain values the backend serves
 * (`tether profile show|diff|mode|accept`, `tether quarantine list|release`), their messages,
 * and the requests checked before the backend sees them.
 */
import type { Deviation, Deviation__Output } from './gen/tether/admin/v1/Deviation.js';
import type { ProfileView as ProfileViewMessage, ProfileView__Output } from './gen/tether/admin/v1/ProfileView.js';
import type { QuarantinedProcess, QuarantinedProcess__Output } from './gen/tether/admin/v1/QuarantinedProcess.js';
import { AdminError } from './errors.js';
import { badResponse } from './messages.js';

export const PROFILE_MODES = ['learn', 'monitor', 'enforce'] as const;
export type ProfileMode = (typeof PROFILE_MODES)[number];

export interface ProfileView {
  readonly spiffeId: string;
  readonly mode: ProfileMode;
  /** The profile file's text. */
  readonly yaml: string;
}

export interface DeviationView {
  readonly seq: number;
  /** ISO 8601. */
  readonly time: string;
  readonly mode: ProfileMode;
  readonly kind: 'exec' | 'destination' | 'listen';
  readonly what: string;
  /** null: the kernel's tables do not say which process. */
  readonly pid: number | null;
  readonly lineage: string;
  readonly quarantined: number | null;
}

export interface QuarantineView {
  readonly pid: number;
  readonly startNs: bigint;
  readonly spiffeId: string | null;
  readonly reason: 'exec' | 'connect' | 'agent';
  /** ISO 8601. */
  readonly since: string;
  readonly comm: string;
}

const KINDS = ['exec', 'destination', 'listen'] as const;
const REASONS = ['exec', 'connect', 'agent'] as const;

function oneOf<T extends string>(values: readonly T[], v: string, field: string): T {
  const found = values.find((x) => x === v);
  if (found === undefined) throw badResponse(`${field} is ${JSON.stringify(v)}`);
  return found;
}

export function profileMessage(p: ProfileView): ProfileViewMessage {
  return { spiffe_id: p.spiffeId, mode: p.mode, yaml: p.yaml };
}

export function readProfile(m: ProfileView__Output): ProfileView {
  return { spiffeId: m.spiffe_id, mode: oneOf(PROFILE_MODES, m.mode, 'ProfileView.mode'), yaml: m.yaml };
}

export function deviationMessage(d: DeviationView): Deviation {
  return {
    seq: d.seq, time: d.time, mode: d.mode, kind: d.kind, what: d.what, pid: d.pid ?? 0, lineage: d.lineage, quarantined: d.quarantined ?? 0,
  };
}

export function readDeviation(m: Deviation__Output): DeviationView {
  return {
    seq: Number(m.seq), time: m.time, mode: oneOf(PROFILE_MODES, m.mode, 'Deviation.mode'), kind: oneOf(KINDS, m.kind, 'Deviation.kind'),
    what: m.what, pid: m.pid === 0 ? null : m.pid, lineage: m.lineage, quarantined: m.quarantined === 0 ? null : m.quarantined,
  };
}

export function quarantineMessage(q: QuarantineView): QuarantinedProcess {
  return { pid: q.pid, start_ns: q.startNs.toString(), spiffe_id: q.spiffeId ?? '', reason: q.reason, since: q.since, comm: q.comm };
}

export function readQuarantine(m: QuarantinedProcess__Output): QuarantineView {
  return {
    pid: m.pid, startNs: BigInt(m.start_ns), spiffeId: m.spiffe_id === '' ? null : m.spiffe_id,
    reason: oneOf(REASONS, m.reason, 'QuarantinedProcess.reason'), since: m.since, comm: m.comm,
  };
}

/** A SPIFFE ID field: non-empty (the backend parses it and names the rule it breaks). */
export function profileId(v: string): string {
  if (v === '') throw new AdminError('BAD_REQUEST', 'spiffe_id: required');
  return v;
}

export function profileMode(v: string): ProfileMode {
  const mode = PROFILE_MODES.find((m) => m === v);
  if (mode === undefined) throw new AdminError('BAD_REQUEST', `mode: ${JSON.stringify(v)} is not "learn", "monitor" or "enforce"`);
  return mode;
}

export function deviationSeq(v: string | number): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 1) throw new AdminError('BAD_REQUEST', `seq: ${String(v)} is not a deviation number (see \`tether profile diff\`)`);
  return n;
}

export function quarantinePid(v: number): number {
  if (!Number.isInteger(v) || v < 1) throw new AdminError('BAD_REQUEST', `pid: ${v} is not a process id`);
  return v;
}
