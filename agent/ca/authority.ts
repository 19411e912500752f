import { KeyObject, createPublicKey, randomBytes, type JsonWebKey } from 'node:crypto';
import { JwtBundle, X509Bundle, type TrustDomain } from '../spiffe/index.js';
import type { CaConfig } from './ca-config.js';
import { createCaCertificates, type CaCertificate, type CaRoot } from './ca-certificates.js';
import { CaError } from './errors.js';
import { generateKeyPair, type CaKeyType } from './key-type.js';
import { isPublished, type Slot } from './lifecycle.js';
import type { UpstreamAuthority } from './upstream.js';
import type { SigningAuthority } from './x509-minter.js';

/**
 * One X.509 CA slot: a self-signed root (what the bundle publishes) and, when configured, a
 * per-agent intermediate under it (what then signs SVIDs). Validity is the root's. An upstream
 * slot's root is the shared `ca.upstream` root (no key here: it is never in the state dir) and
 * its intermediate, always present, signs; validity is then the intermediate's.
 */
export interface X509Authority extends Slot {
  readonly root: CaRoot;
  readonly intermediate: CaCertificate | undefined;
  readonly upstream: boolean;
}

/** One JWT signing key, separate from every X.509 CA; `id` is its kid. */
export interface JwtKey extends Slot {
  readonly privateKey: KeyObject;
  readonly publicJwk: JsonWebKey;
}

/** Slot ids name files: lower-case hex only, so a manifest can never point outside the CA directory. */
export const X509_ID = /^[0-9a-f]{16}$/;
export const JWT_KID = /^[0-9a-f]{32}$/;

export async function createX509Authority(options: {
  readonly trustDomain: TrustDomain; readonly keyType: CaKeyType; readonly ttlSeconds: number;
  readonly intermediate: boolean; readonly now: Date; readonly upstream?: UpstreamAuthority | undefined;
}): Promise<X509Authority> {
  const id = randomBytes(8).toString('hex');
  const { root, intermediate } = await createCaCertificates({ ...options, id });
  const upstream = options.upstream !== undefined;
  const validity = upstream && intermediate !== undefined ? intermediate.cert : root.cert;
  return {
    id, keyType: options.keyType, root, intermediate, upstream,
    notBefore: new Date(validity.validFrom), notAfter: new Date(validity.validTo),
    lifecycle: { state: 'prepared', preparedAt: options.now },
  };
}

export async function createJwtKey(options: {
  readonly keyType: CaKeyType; readonly ttlSeconds: number; readonly now: Date;
}): Promise<JwtKey> {
  const pair = await generateKeyPair(options.keyType);
  const privateKey = KeyObject.from(pair.privateKey);
  return {
    id: randomBytes(16).toString('hex'), keyType: options.keyType, privateKey, publicJwk: publicJwkOf(privateKey),
    notBefore: options.now, notAfter: new Date(options.now.getTime() + options.ttlSeconds * 1000),
    lifecycle: { state: 'prepared', preparedAt: options.now },
  };
}

export function publicJwkOf(privateKey: KeyObject): JsonWebKey {
  return createPublicKey(privateKey).export({ format: 'jwk' });
}

/** What X509Minter signs with: the intermediate when there is one (it then rides in each chain), else the root. */
export function signingAuthorityOf(authority: X509Authority): SigningAuthority {
  const issuer = authority.intermediate ?? authority.root;
  if (issuer.privateKey === undefined) throw new CaError('NO_ACTIVE_CA', `CA ${authority.id} has no signing key in this agent`);
  return { certDer: issuer.der, privateKey: issuer.privateKey, chainAbove: [] };
}

/** A slot just made, not yet in any state: its kind is which key it is under. */
export type NewSlot = { readonly x509: X509Authority } | { readonly jwt: JwtKey };

/** Everything the authority holds, oldest slot first; replaced whole on every change. */
export interface CaState {
  readonly x509: readonly X509Authority[];
  readonly jwt: readonly JwtKey[];
}

/** A new authority's first state: one CA and one JWT key, both active from `now`. */
export async function createInitialState(trustDomain: TrustDomain, config: CaConfig, now: Date): Promise<CaState> {
  const x509 = await createX509Authority({ ...config, trustDomain, ttlSeconds: config.caTtlSeconds, now });
  const jwt = await createJwtKey({ ...config, ttlSeconds: config.jwtKeyTtlSeconds, now });
  const active = { state: 'active', preparedAt: now, activatedAt: now, maxIssuedTtlSeconds: 0 } as const;
  return { x509: [{ ...x509, lifecycle: active }], jwt: [{ ...jwt, lifecycle: active }] };
}

/**
 * What the state publishes: every non-retired CA's root (old and new during an overlap), each
 * once (upstream slots share one root: the bundle is then that root alone), every non-retired JWT key.
 */
export function x509BundleOf(trustDomain: TrustDomain, state: CaState): X509Bundle {
  const roots: Buffer[] = [];
  for (const a of state.x509.filter(isPublished)) if (!roots.some((r) => r.equals(a.root.der))) roots.push(a.root.der);
  return new X509Bundle(trustDomain, roots);
}

export function jwtBundleOf(trustDomain: TrustDomain, state: CaState): JwtBundle {
  return new JwtBundle(trustDomain, new Map(state.jwt.filter(isPublished).map((k) => [k.id, k.publicJwk])));
}
