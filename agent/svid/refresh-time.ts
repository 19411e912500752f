import { SvidError } from './errors.js';

/** An SVID whose life is clipped to an expiring CA still waits this long before its next re-mint. */
export const MIN_REFRESH_MS = 1_000;

export interface RefreshPolicy {
  /** Re-mint once at most this fraction of the SVID's life is left. */
  readonly fraction: number;
  /** The fraction moves by up to ± this share of itself, drawn per SVID. */
  readonly jitter: number;
  /** Uniform in [0, 1). */
  readonly random: () => number;
}

/**
 * When to re-mint a credential issued at `issuedAt` that expires at `notAfter`: once the remaining
 * life is at most `fraction` of the whole, the fraction moved by up to ±jitter of itself. That is
 * SPIRE's rule (pkg/common/rotationutil: half the life, ±10%); the jitter keeps SVIDs minted
 * together from all renewing in the same instant. Never sooner than MIN_REFRESH_MS after issue
 * (or a credential clipped to an expiring CA would renew in a loop), never after notAfter.
 */
export function refreshTime(issuedAt: Date, notAfter: Date, policy: RefreshPolicy): Date {
  const start = issuedAt.getTime();
  const end = notAfter.getTime();
  const spread = policy.jitter * (2 * policy.random() - 1);
  const leftWhenRefreshed = (end - start) * policy.fraction * (1 + spread);
  const at = Math.max(end - leftWhenRefreshed, start + MIN_REFRESH_MS);
  return new Date(Math.min(at, end));
}

/** Refuses an option out of its range with BAD_OPTION, naming the option and the rule. */
export function checkOption(name: string, value: number, valid: (v: number) => boolean, rule: string): number {
  if (!Number.isFinite(value) || !valid(value)) throw new SvidError('BAD_OPTION', `${name} must be ${rule}, got ${value}`);
  return value;
}

export const isFraction = (v: number): boolean => v > 0 && v < 1;
export const isJitter = (v: number): boolean => v >= 0 && v < 1;
export const isPositiveInteger = (v: number): boolean => Number.isSafeInteger(v) && v > 0;
