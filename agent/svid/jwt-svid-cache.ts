import type { CaChange } from '../ca/index.js';
import type { SvidAuthority, SvidClock, SvidEntry, SvidLog } from './deps.js';
import { SvidError } from './errors.js';
import { checkOption, isFraction, isPositiveInteger, refreshTime, type RefreshPolicy } from './refresh-time.js';

export interface JwtSvid {
  readonly token: string;
  readonly expiresAt: Date;
}

export interface JwtSvidCacheOptions {
  readonly authority: SvidAuthority;
  readonly clock: SvidClock;
  /** LRU bound on cached tokens (SPIRE users report unbounded JWT caches); default 10 000. */
  readonly maxEntries?: number;
  /** Re-mint once less than this fraction of a token's life is left; default 1/2 (SPIRE). */
  readonly refreshFraction?: number;
  /** After a failed re-mint, how long the still-valid token is served before the next try; default 5 s. */
  readonly retrySeconds?: number;
  readonly log?: SvidLog;
}

export interface JwtSvidCacheStats {
  readonly entries: number;
  readonly minted: number;
  readonly hits: number;
  readonly evicted: number;
  readonly failures: number;
}

/** One (entry, SPIFFE ID, audience set)'s token (STYLE §10). Both states count towards maxEntries. */
type Slot =
  | { readonly state: 'minting'; readonly entryId: string; readonly promise: Promise<JwtSvid> }
  | {
    readonly state: 'cached'; readonly entryId: string; readonly ttlSeconds: number | undefined; readonly svid: JwtSvid;
    /** The signing key's id (from the token's header): a token whose key left the bundle is dropped. */
    readonly kid: string | undefined; readonly refreshAt: Date;
  };

/**
 * JWT-SVIDs cached per entry, SPIFFE ID and audience set (order and repeats do not matter), LRU
 * bounded; re-minted once less than refreshFraction of a token's life is left. Concurrent gets of
 * one key share one mint. When a re-mint fails, the still-valid token is served (SPIRE does so).
 */
export class JwtSvidCache {
  readonly #authority: SvidAuthority;
  readonly #clock: SvidClock;
  readonly #maxEntries: number;
  readonly #policy: RefreshPolicy;
  readonly #retryMs: number;
  readonly #log: SvidLog | undefined;
  readonly #unsubscribe: () => void;
  /** Oldest use first: a Map keeps insertion order, and a use re-inserts. */
  readonly #slots = new Map<string, Slot>();
  readonly #counts = { minted: 0, hits: 0, evicted: 0, failures: 0 };
  #closed = false;

  constructor(options: JwtSvidCacheOptions) {
    this.#authority = options.authority;
    this.#clock = options.clock;
    this.#maxEntries = checkOption('maxEntries', options.maxEntries ?? 10_000, isPositiveInteger, 'a positive integer');
    const fraction = checkOption('refreshFraction', options.refreshFraction ?? 0.5, isFraction, 'between 0 and 1');
    this.#policy = { fraction, jitter: 0, random: () => 0.5 };
    this.#retryMs = checkOption('retrySeconds', options.retrySeconds ?? 5, (v) => v > 0, 'positive') * 1000;
    this.#log = options.log;
    this.#unsubscribe = this.#authority.onChange((change) => this.#onCaChange(change));
  }

  /** A token for `audience` (at least one, none empty). Throws BAD_AUDIENCE, MINT_FAILED or CLOSED. */
  async get(entry: SvidEntry, audience: readonly string[]): Promise<JwtSvid> {
    if (this.#closed) throw new SvidError('CLOSED', 'the JWT-SVID cache is closed');
    const aud = normalizedAudience(audience);
    const key = JSON.stringify([entry.id, entry.spiffeId.toString(), ...aud]);
    const slot = this.#slots.get(key);
    if (slot?.state === 'minting') {
      this.#use(key, slot);
      return slot.promise;
    }
    if (slot?.state === 'cached' && slot.ttlSeconds === entry.jwtSvidTtlSeconds && this.#clock.now() < slot.refreshAt) {
      this.#use(key, slot);
      this.#counts.hits++;
      return slot.svid;
    }
    return this.#mint(key, entry, aud, slot);
  }

  /** Forgets the tokens of entries not in `entryIds` (entries that no longer exist). */
  retain(entryIds: ReadonlySet<string>): void {
    for (const [key, slot] of this.#slots) if (!entryIds.has(slot.entryId)) this.#slots.delete(key);
  }

  stats(): JwtSvidCacheStats {
    return { entries: this.#slots.size, ...this.#counts };
  }

  close(): void {
    this.#closed = true;
    this.#unsubscribe();
    this.#slots.clear();
  }

  #mint(key: string, entry: SvidEntry, audience: readonly string[], stale: Slot | undefined): Promise<JwtSvid> {
    const issuedAt = this.#clock.now();
    const ttlSeconds = entry.jwtSvidTtlSeconds;
    const minting = (async () => this.#authority.mintJwtSvid({ id: entry.spiffeId, audience, ttlSeconds }))();
    const promise = minting.then((svid) => {
      this.#counts.minted++;
      const refreshAt = refreshTime(issuedAt, svid.expiresAt, this.#policy);
      if (this.#slots.get(key) === slot) {
        this.#slots.set(key, { state: 'cached', entryId: entry.id, ttlSeconds, svid, kid: kidOf(svid.token), refreshAt });
      }
      return svid;
    }, (err: unknown) => {
      this.#counts.failures++;
      const now = this.#clock.now();
      const fallback = stale?.state === 'cached' && stale.svid.expiresAt > now ? stale : undefined;
      this.#log?.warn({ err, entryId: entry.id, spiffeId: entry.spiffeId.toString(), fallback: fallback !== undefined },
        'JWT-SVID mint failed');
      const owned = this.#slots.get(key) === slot;
      if (fallback === undefined) {
        if (owned) this.#slots.delete(key);
        throw new SvidError('MINT_FAILED', `cannot mint a JWT-SVID for ${entry.spiffeId.toString()} (entry ${entry.id})`, { cause: err });
      }
      // Served until the next try, so a CA outage is not a mint attempt per request.
      if (owned) this.#slots.set(key, { ...fallback, ttlSeconds, refreshAt: new Date(now.getTime() + this.#retryMs) });
      return fallback.svid;
    });
    const slot: Slot = { state: 'minting', entryId: entry.id, promise };
    this.#use(key, slot);
    return promise;
  }

  /** Marks `key` most recently used, evicting the least recently used beyond maxEntries. */
  #use(key: string, slot: Slot): void {
    this.#slots.delete(key);
    this.#slots.set(key, slot);
    for (const oldest of this.#slots.keys()) {
      if (this.#slots.size <= this.#maxEntries) break;
      this.#slots.delete(oldest);
      this.#counts.evicted++;
    }
  }

  #onCaChange(change: CaChange): void {
    const kids = new Set(change.jwtBundle.kids());
    for (const [key, slot] of this.#slots) {
      if (slot.state === 'cached' && slot.kid !== undefined && !kids.has(slot.kid)) this.#slots.delete(key);
    }
  }
}

/** Sorted and without repeats: [a, b], [b, a] and [a, b, a] are one cache key (and one token's `aud`). */
function normalizedAudience(audience: readonly string[]): readonly string[] {
  if (audience.length === 0) throw new SvidError('BAD_AUDIENCE', 'a JWT-SVID needs at least one audience');
  if (audience.some((a) => a.length === 0)) throw new SvidError('BAD_AUDIENCE', 'a JWT-SVID audience must not be empty');
  return [...new Set(audience)].sort();
}

/** The `kid` of a compact JWS's protected header, if it has one. */
function kidOf(token: string): string | undefined {
  try {
    const header: unknown = JSON.parse(Buffer.from(token.split('.')[0] ?? '', 'base64url').toString('utf8'));
    return typeof header === 'object' && header !== null && 'kid' in header && typeof header.kid === 'string' ? header.kid : undefined;
  } catch {
    return undefined;
  }
}
