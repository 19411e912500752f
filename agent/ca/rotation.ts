import type { CaState, JwtKey, NewSlot, X509Authority } from './authority.js';
import { activated, planMaintenance, retired, steppedDown, withIssuedTtl, type Slot } from './lifecycle.js';

/**
 * Pure steps from one CaState to the next, for each kind of slot. LocalAuthority persists the
 * result, then adopts it; nothing here does I/O or reads a clock.
 */
export type SlotKind = 'x509' | 'jwt';
export const SLOT_KINDS: readonly SlotKind[] = ['x509', 'jwt'];

export interface SlotRef {
  readonly kind: SlotKind;
  readonly id: string;
}

export interface MaintenanceReport {
  readonly prepared: readonly SlotRef[];
  readonly activated: readonly SlotRef[];
  readonly retired: readonly SlotRef[];
}

/** `tether ca rotate`'s answer: which slot of each kind signed before, and which signs now. */
export interface RotationReport {
  readonly x509: { readonly previous: string | undefined; readonly active: string };
  readonly jwt: { readonly previous: string | undefined; readonly active: string };
}

export const NO_CHANGES: MaintenanceReport = { prepared: [], activated: [], retired: [] };

/** Retired slots kept (with their files) for `tether ca show`; older ones are deleted. */
export const RETIRED_KEPT = 3;

type SlotsUpdate = <S extends Slot>(slots: readonly S[]) => readonly S[];

function update(state: CaState, kind: SlotKind, fn: SlotsUpdate): CaState {
  return kind === 'x509' ? { ...state, x509: fn(state.x509) } : { ...state, jwt: fn(state.jwt) };
}

export function slotsOf(state: CaState, kind: SlotKind): readonly Slot[] {
  return state[kind];
}

/** The active CA / JWT key, if any (it may have expired: the caller checks). */
export function activeX509(state: CaState): X509Authority | undefined {
  return state.x509.find((s) => s.lifecycle.state === 'active');
}

export function activeJwt(state: CaState): JwtKey | undefined {
  return state.jwt.find((s) => s.lifecycle.state === 'active');
}

/** A usable prepared slot, which makes preparing another pointless. */
export function preparedSlot(state: CaState, kind: SlotKind, now: Date): Slot | undefined {
  return slotsOf(state, kind).find((s) => s.lifecycle.state === 'prepared' && s.notAfter.getTime() > now.getTime());
}

export function withPrepared(state: CaState, slot: NewSlot): CaState {
  return 'x509' in slot ? { ...state, x509: [...state.x509, slot.x509] } : { ...state, jwt: [...state.jwt, slot.jwt] };
}

/** The prepared slot becomes active and the active one retiring, in one step; undefined when nothing is prepared. */
export function withActivated(state: CaState, kind: SlotKind, now: Date): { state: CaState; ref: SlotRef } | undefined {
  const next = preparedSlot(state, kind, now);
  if (next === undefined) return undefined;
  const fn: SlotsUpdate = (slots) => slots.map((s) => {
    if (s.id === next.id) return { ...s, lifecycle: activated(s.lifecycle, now) };
    if (s.lifecycle.state === 'active') return { ...s, lifecycle: steppedDown(s.lifecycle, now) };
    return s;
  });
  return { state: update(state, kind, fn), ref: { kind, id: next.id } };
}

/**
 * Slots whose last credential has expired leave the bundle; retired slots beyond RETIRED_KEPT
 * (oldest first) leave the state, and their files are the caller's to delete after commit.
 */
export function withRetired(
  state: CaState, kind: SlotKind, now: Date,
): { state: CaState; retired: readonly SlotRef[]; dropped: readonly Slot[] } {
  const ids = new Set(planMaintenance(slotsOf(state, kind), now).retire);
  const gone = slotsOf(state, kind).filter((s) => s.lifecycle.state === 'retired' || ids.has(s.id)); // oldest first
  const dropped = gone.slice(0, Math.max(0, gone.length - RETIRED_KEPT));
  if (ids.size === 0 && dropped.length === 0) return { state, retired: [], dropped: [] };
  const droppedIds = new Set(dropped.map((s) => s.id));
  const fn: SlotsUpdate = (slots) => slots
    .filter((s) => !droppedIds.has(s.id))
    .map((s) => (ids.has(s.id) ? { ...s, lifecycle: retired(s.lifecycle, now) } : s));
  return { state: update(state, kind, fn), retired: [...ids].map((id) => ({ kind, id })), dropped };
}

/** The state with a longer TTL recorded on an active slot, or the same object when nothing changes. */
export function withIssuedTtlRecorded(state: CaState, kind: SlotKind, id: string, ttlSeconds: number): CaState {
  const slot = slotsOf(state, kind).find((s) => s.id === id);
  if (slot === undefined || withIssuedTtl(slot.lifecycle, ttlSeconds) === slot.lifecycle) return state;
  const fn: SlotsUpdate = (slots) => slots.map((s) => (s.id === id ? { ...s, lifecycle: withIssuedTtl(s.lifecycle, ttlSeconds) } : s));
  return update(state, kind, fn);
}
