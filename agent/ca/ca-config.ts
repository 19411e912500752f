import type { TrustDomain } from '../spiffe/index.js';
import { CaError } from './errors.js';
import { DEFAULT_CA_KEY_TYPE, parseCaKeyType, type CaKeyType } from './key-type.js';
import type { UpstreamAuthority, UpstreamFiles } from './upstream.js';

/** The two log levels the authority uses; a pino child logger fits. Keys are never logged. */
export interface CaLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface LocalAuthorityOptions {
  readonly stateDir: string;
  readonly trustDomain: TrustDomain;
  /** SPIRE's `ca_key_type`; default ec-p256. Applies to CAs and JWT keys made from now on. */
  readonly keyType?: CaKeyType;
  /** Lifetime of each CA (root and intermediate); default SPIRE's 24 h. */
  readonly caTtlSeconds?: number;
  /** Lifetime of each JWT signing key; default the CA's. */
  readonly jwtKeyTtlSeconds?: number;
  /** Sign SVIDs with a per-agent intermediate under each root (pathLen 0). */
  readonly intermediate?: boolean;
  /**
   * A shared root (SPIRE's disk UpstreamAuthority): each agent mints its own intermediate under it
   * at start and on rotation, and its X.509 bundle is that root alone. Implies `intermediate`.
   */
  readonly upstream?: UpstreamFiles;
  readonly now: () => Date;
  readonly log?: CaLog;
}

export interface CaConfig {
  readonly keyType: CaKeyType;
  readonly caTtlSeconds: number;
  readonly jwtKeyTtlSeconds: number;
  readonly intermediate: boolean;
  /** Loaded by LocalAuthority.open from `options.upstream`. */
  readonly upstream: UpstreamAuthority | undefined;
}

/** SPIRE's defaults (SPIFFE.md b.3): CA 24 h, X509-SVID 1 h, JWT-SVID 5 min. */
export const DEFAULT_CA_TTL_SECONDS = 86_400;
export const DEFAULT_X509_SVID_TTL_SECONDS = 3_600;
export const DEFAULT_JWT_SVID_TTL_SECONDS = 300;

export function resolveCaConfig(options: LocalAuthorityOptions): CaConfig {
  const caTtlSeconds = options.caTtlSeconds ?? DEFAULT_CA_TTL_SECONDS;
  const jwtKeyTtlSeconds = options.jwtKeyTtlSeconds ?? caTtlSeconds;
  checkTtl('caTtlSeconds', caTtlSeconds);
  checkTtl('jwtKeyTtlSeconds', jwtKeyTtlSeconds);
  return {
    keyType: parseCaKeyType(options.keyType ?? DEFAULT_CA_KEY_TYPE),
    caTtlSeconds, jwtKeyTtlSeconds, intermediate: options.intermediate ?? false, upstream: undefined,
  };
}

export function checkTtl(name: string, seconds: number): number {
  if (!Number.isSafeInteger(seconds) || seconds <= 0) {
    throw new CaError('BAD_TTL', `${name} must be a positive whole number of seconds, got ${seconds}`);
  }
  return seconds;
}
