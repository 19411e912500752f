import type { SpiffeId } from '../spiffe/index.js';
import type { SvidEntry } from './deps.js';
import type { SvidError } from './errors.js';

export interface CachedX509Svid {
  readonly entryId: string;
  readonly spiffeId: SpiffeId;
  /** DER, leaf first. */
  readonly chain: readonly Buffer[];
  readonly privateKeyPkcs8: Buffer;
  readonly serialHex: string;
  readonly notAfter: Date;
  readonly refreshAt: Date;
}

/** What an SVID is minted for, taken from an entry; `key` compares two requests. */
export interface X509Request {
  readonly key: string;
  readonly id: SpiffeId;
  readonly ttlSeconds: number;
  readonly dnsNames: readonly string[];
}

export interface Minted {
  readonly svid: CachedX509Svid;
  readonly request: X509Request;
  /** Fingerprint of the bundle root the chain leads to (TrustedRoots). */
  readonly issuer: string | undefined;
}

/** One entry's place in the X509-SVID cache (STYLE §10). */
export type X509Slot =
  | { readonly state: 'current'; readonly minted: Minted }
  /** The re-mint failed: the previous SVID, still valid, is served until a retry succeeds. */
  | { readonly state: 'renewing'; readonly minted: Minted; readonly wanted: X509Request; readonly failure: Failure }
  /** The mint failed with nothing valid to serve: get() answers NO_SVID until the retry. */
  | { readonly state: 'failed'; readonly wanted: X509Request; readonly failure: Failure };

export interface Failure {
  readonly error: SvidError;
  readonly retryAt: Date;
  /** Failed mints in a row: only the first is logged. */
  readonly streak: number;
}

export function requestOf(entry: SvidEntry, defaultTtlSeconds: number): X509Request {
  const ttlSeconds = entry.x509SvidTtlSeconds ?? defaultTtlSeconds;
  const key = JSON.stringify([entry.spiffeId.toString(), ttlSeconds, entry.dnsNames]);
  return { key, id: entry.spiffeId, ttlSeconds, dnsNames: entry.dnsNames };
}

/** What the slot would be minted for next. */
export function requestOfSlot(slot: X509Slot): X509Request {
  return slot.state === 'current' ? slot.minted.request : slot.wanted;
}

export function failureOf(slot: X509Slot | undefined): Failure | undefined {
  return slot === undefined || slot.state === 'current' ? undefined : slot.failure;
}

/** The SVID the slot serves, if any. */
export function servedBy(slot: X509Slot | undefined): Minted | undefined {
  return slot === undefined || slot.state === 'failed' ? undefined : slot.minted;
}

/**
 * When the timer must next look at the slot (ms; Infinity: never): a current SVID at its refresh
 * time, or now when its root has left the bundle; a renewing one at its retry (or its expiry, if
 * sooner); a failed one never (it is minted again on demand only).
 */
export function slotDueAt(slot: X509Slot, now: Date, publishes: (issuer: string | undefined) => boolean): number {
  switch (slot.state) {
    case 'current':
      return publishes(slot.minted.issuer) ? slot.minted.svid.refreshAt.getTime() : now.getTime();
    case 'renewing':
      return Math.min(slot.failure.retryAt.getTime(), slot.minted.svid.notAfter.getTime());
    case 'failed':
      return Infinity;
    default: {
      const never: never = slot;
      return never;
    }
  }
}
