import type { CaChange, JwtSvidRequest, MintedX509Svid, X509SvidRequest } from '../ca/index.js';
import type { SpiffeId, X509Bundle } from '../spiffe/index.js';

/**
 * What svid/ needs of a registration entry; registry/'s Entry satisfies it structurally (STYLE §9:
 * the consumer declares). `id` is stable across reloads: it keys the caches.
 */
export interface SvidEntry {
  readonly id: string;
  readonly spiffeId: SpiffeId;
  /** undefined: the cache's default (X509) or the authority's (JWT). */
  readonly x509SvidTtlSeconds: number | undefined;
  readonly jwtSvidTtlSeconds: number | undefined;
  readonly dnsNames: readonly string[];
}

/** The four methods of ca/'s LocalAuthority the caches use. */
export interface SvidAuthority {
  mintX509Svid(request: X509SvidRequest): MintedX509Svid;
  mintJwtSvid(request: JwtSvidRequest): Promise<{ readonly token: string; readonly expiresAt: Date }>;
  x509Bundle(): X509Bundle;
  /** Fired after each committed CA or JWT key change (prepared, activated, retired); returns the unsubscribe. */
  onChange(listener: (change: CaChange) => void): () => void;
}

export interface SvidClock {
  now(): Date;
}

/** Injectable so tests move time by hand; the default is Node's, unref'd. */
export interface SvidTimers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** A pino child fits. Keys and tokens are never logged. */
export interface SvidLog {
  warn(obj: object, msg: string): void;
}

export const NODE_TIMERS: SvidTimers = {
  setTimeout(callback, ms) {
    const timer = setTimeout(callback, ms);
    timer.unref();
    return timer;
  },
  clearTimeout(handle) {
    clearTimeout(handle as NodeJS.Timeout);
  },
};
