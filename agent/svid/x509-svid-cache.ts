import type { CaChange } from '../ca/index.js';
import type { X509Bundle } from '../spiffe/index.js';
import { NODE_TIMERS, type SvidAuthority, type SvidClock, type SvidEntry, type SvidLog, type SvidTimers } from './deps.js';
import { SvidError } from './errors.js';
import { OneTimer } from './one-timer.js';
import { checkOption, isFraction, isJitter, isPositiveInteger, refreshTime, type RefreshPolicy } from './refresh-time.js';
import { TrustedRoots } from './trusted-roots.js';
import {
  failureOf, requestOf, requestOfSlot, servedBy, slotDueAt, type CachedX509Svid, type Minted, type X509Request, type X509Slot,
} from './x509-slot.js';

export type { CachedX509Svid } from './x509-slot.js';

export interface X509SvidCacheOptions {
  readonly authority: SvidAuthority;
  readonly clock: SvidClock;
  readonly timers?: SvidTimers;
  /** Re-mint once at most this fraction of an SVID's life is left; default 1/2 (SPIRE). */
  readonly refreshFraction?: number;
  /** ± this share of refreshFraction, drawn per SVID; default 0.1 (SPIRE). */
  readonly jitter?: number;
  readonly random?: () => number;
  /** For entries without their own x509SvidTtlSeconds; default 1 h. */
  readonly defaultTtlSeconds?: number;
  /** After a failed mint, when to try again; default 5 s. */
  readonly retrySeconds?: number;
  readonly log?: SvidLog;
}

export interface X509SvidCacheStats {
  readonly entries: number;
  readonly minted: number;
  readonly rotated: number;
  readonly failures: number;
}

/** Listeners hear of changes this long after the first, so one CA rotation (several commits) is one resend. */
export const NOTIFY_SETTLE_MS = 100;

/**
 * X509-SVIDs per registration entry: minted on first demand, re-minted before they age (one
 * timer, armed for the earliest due SVID), when the entry's fields change, and when their CA has
 * left the bundle. Listeners (the Workload API streams) hear which entries now hold another SVID,
 * and hear every entry after a CA change (the bundle changed), within NOTIFY_SETTLE_MS.
 */
export class X509SvidCache {
  readonly #authority: SvidAuthority;
  readonly #clock: SvidClock;
  readonly #policy: RefreshPolicy;
  readonly #defaultTtlSeconds: number;
  readonly #retryMs: number;
  readonly #log: SvidLog | undefined;
  readonly #roots: TrustedRoots;
  readonly #timer: OneTimer;
  readonly #unsubscribe: () => void;
  readonly #slots = new Map<string, X509Slot>();
  readonly #listeners = new Set<(entryIds: ReadonlySet<string>) => void>();
  /** Owed to listeners at the next fire: entries whose served SVID changed, or all (a CA change). */
  readonly #changed = new Set<string>();
  #caChanged = false;
  readonly #counts = { minted: 0, rotated: 0, failures: 0 };
  #closed = false;

  constructor(options: X509SvidCacheOptions) {
    this.#authority = options.authority;
    this.#clock = options.clock;
    this.#policy = {
      fraction: checkOption('refreshFraction', options.refreshFraction ?? 0.5, isFraction, 'between 0 and 1'),
      jitter: checkOption('jitter', options.jitter ?? 0.1, isJitter, 'at least 0 and below 1'),
      random: options.random ?? Math.random,
    };
    this.#defaultTtlSeconds = checkOption('defaultTtlSeconds', options.defaultTtlSeconds ?? 3600, isPositiveInteger, 'a positive integer');
    this.#retryMs = checkOption('retrySeconds', options.retrySeconds ?? 5, (v) => v > 0, 'positive') * 1000;
    this.#log = options.log;
    this.#roots = new TrustedRoots(this.#authority.x509Bundle());
    this.#timer = new OneTimer(this.#clock, options.timers ?? NODE_TIMERS, () => this.#fire());
    this.#unsubscribe = this.#authority.onChange((change) => this.#onCaChange(change));
  }

  /** The entry's SVID: the cached one while fresh, else a new one. Throws MINT_FAILED, NO_SVID or CLOSED. */
  get(entry: SvidEntry): CachedX509Svid {
    if (this.#closed) throw new SvidError('CLOSED', 'the X509-SVID cache is closed');
    const wanted = requestOf(entry, this.#defaultTtlSeconds);
    const now = this.#clock.now();
    const slot = this.#slots.get(entry.id);
    const waiting = slot !== undefined && slot.state !== 'current' && slot.wanted.key === wanted.key && now < slot.failure.retryAt;
    if (slot?.state === 'current' && slot.minted.request.key === wanted.key && now < slot.minted.svid.refreshAt
      && this.#roots.publishes(slot.minted.issuer)) return slot.minted.svid;
    if (slot?.state === 'renewing' && waiting && this.#servable(slot.minted, wanted, now)) return slot.minted.svid;
    if (slot?.state === 'failed' && waiting) {
      const { error, retryAt } = slot.failure;
      throw new SvidError('NO_SVID', `no X509-SVID for entry ${entry.id}: the last mint failed; next try at ${retryAt.toISOString()}`,
        { cause: error });
    }
    const next = this.#attempt(entry.id, wanted, slot, now);
    this.#timer.armBy(this.#dueAt(next, now));
    if (next.state === 'failed') throw next.failure.error;
    return next.minted.svid;
  }

  /** Forgets the SVIDs of entries not in `entryIds` (entries that no longer exist). */
  retain(entryIds: ReadonlySet<string>): void {
    for (const id of this.#slots.keys()) {
      if (entryIds.has(id)) continue;
      this.#slots.delete(id);
      this.#changed.delete(id);
    }
  }

  /** `listener` hears the entries whose SVID changed (re-minted, or lost), and every entry after a CA change. */
  onRotate(listener: (entryIds: ReadonlySet<string>) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** The bundle the cached SVIDs chain to, as of the last CA change. */
  x509Bundle(): X509Bundle {
    return this.#roots.bundle;
  }

  stats(): X509SvidCacheStats {
    return { entries: this.#slots.size, ...this.#counts };
  }

  close(): void {
    this.#closed = true;
    this.#timer.cancel();
    this.#unsubscribe();
    this.#listeners.clear();
    this.#slots.clear();
  }

  /** Mints, and records the outcome: current, or renewing (the old SVID still served), or failed. */
  #attempt(entryId: string, wanted: X509Request, previous: X509Slot | undefined, now: Date): X509Slot {
    const old = servedBy(previous);
    let next: X509Slot;
    try {
      const m = this.#authority.mintX509Svid({ id: wanted.id, ttlSeconds: wanted.ttlSeconds, dnsNames: wanted.dnsNames });
      const issuer = this.#roots.issuerOf(m.chain) ?? this.#reloadRoots().issuerOf(m.chain);
      const svid: CachedX509Svid = {
        entryId, spiffeId: wanted.id, chain: m.chain, privateKeyPkcs8: m.privateKeyPkcs8, serialHex: m.serialHex,
        notAfter: m.notAfter, refreshAt: refreshTime(now, m.notAfter, this.#policy),
      };
      next = { state: 'current', minted: { svid, request: wanted, issuer } };
      this.#counts.minted++;
      if (old !== undefined) this.#counts.rotated++;
    } catch (err) {
      next = this.#failed(entryId, wanted, previous, old, now, err);
    }
    this.#slots.set(entryId, next);
    if (previous !== undefined && servedBy(next) !== old) this.#changed.add(entryId);
    return next;
  }

  /** A failed mint: the old SVID kept while it is servable, a retry in retrySeconds; logged once per streak. */
  #failed(entryId: string, wanted: X509Request, previous: X509Slot | undefined, old: Minted | undefined, now: Date, err: unknown): X509Slot {
    this.#counts.failures++;
    const spiffeId = wanted.id.toString();
    const error = new SvidError('MINT_FAILED', `cannot mint an X509-SVID for ${spiffeId} (entry ${entryId})`, { cause: err });
    const failure = { error, retryAt: new Date(now.getTime() + this.#retryMs), streak: (failureOf(previous)?.streak ?? 0) + 1 };
    const keep = old !== undefined && this.#servable(old, wanted, now);
    if (failure.streak === 1) this.#log?.warn({ err, entryId, spiffeId, retryAt: failure.retryAt }, 'X509-SVID mint failed; will retry');
    if (old !== undefined && !keep) this.#log?.warn({ err, entryId, spiffeId }, 'an X509-SVID is gone and no new one could be minted');
    return keep ? { state: 'renewing', minted: old, wanted, failure } : { state: 'failed', wanted, failure };
  }

  /** The timer: re-mint what is due, re-arm, then tell listeners once. */
  #fire(): void {
    if (this.#closed) return;
    const now = this.#clock.now();
    for (const [entryId, slot] of this.#slots) {
      if (this.#dueAt(slot, now) <= now.getTime()) this.#attempt(entryId, requestOfSlot(slot), slot, now);
    }
    const entryIds: ReadonlySet<string> = new Set(this.#caChanged ? this.#slots.keys() : this.#changed);
    this.#caChanged = false;
    this.#changed.clear();
    let at = Infinity;
    for (const slot of this.#slots.values()) at = Math.min(at, this.#dueAt(slot, now));
    this.#timer.armAt(at);
    if (entryIds.size === 0) return;
    for (const listener of this.#listeners) {
      try {
        listener(entryIds);
      } catch (err) {
        this.#log?.warn({ err }, 'an SVID rotation listener threw');
      }
    }
  }

  /** When the timer must next look at the slot, or at the listeners' news, whichever is sooner. */
  #dueAt(slot: X509Slot, now: Date): number {
    const notify = this.#caChanged || this.#changed.size > 0 ? now.getTime() + NOTIFY_SETTLE_MS : Infinity;
    return Math.min(notify, slotDueAt(slot, now, (issuer) => this.#roots.publishes(issuer)));
  }

  #onCaChange(change: CaChange): void {
    this.#roots.update(change.x509Bundle);
    this.#caChanged = true; // SVIDs whose root left the bundle are due now; the rest are resent with the new bundle
    this.#timer.armBy(this.#clock.now().getTime() + NOTIFY_SETTLE_MS);
  }

  /** A still-valid SVID of the same identity whose root is still published: better than none. */
  #servable(minted: Minted, wanted: X509Request, now: Date): boolean {
    return minted.request.id.equals(wanted.id) && minted.svid.notAfter > now && this.#roots.publishes(minted.issuer);
  }

  #reloadRoots(): TrustedRoots {
    this.#roots.update(this.#authority.x509Bundle());
    return this.#roots;
  }
}
