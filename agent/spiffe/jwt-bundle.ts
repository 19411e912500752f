/**
 * The JWT authorities of one trust domain: public keys by key ID, as the Workload API's
 * FetchJWTBundles sends them (a JWK Set). Every key is a checked public key in a normal form
 * ({kty, crv, x, y} or {kty, n, e}, plus kid), so equality and output are deterministic.
 */
import { createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import type { Buffer } from 'node:buffer';
import { SpiffeError } from './errors.js';
import type { TrustDomain } from './trust-domain.js';

/** The key types JWT-SVID's algorithms use (RS*, PS*: RSA; ES*: EC). Others are skipped (b.4). */
const JWT_KTY = new Set(['EC', 'RSA']);
const EC_CURVES = new Set(['P-256', 'P-384', 'P-521']);
const OKP_CURVES = new Set(['Ed25519', 'Ed448']);
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const;

export class JwtBundle {
  readonly trustDomain: TrustDomain;
  private readonly jwks: ReadonlyMap<string, JsonWebKey>;
  private readonly keyObjects = new Map<string, KeyObject>();

  /** Keys by kid; each is checked (public, importable) and normalised; throws BAD_KEY or MISSING_KID. */
  constructor(trustDomain: TrustDomain, keys: ReadonlyMap<string, JsonWebKey>) {
    this.trustDomain = trustDomain;
    const jwks = new Map<string, JsonWebKey>();
    for (const [kid, jwk] of keys) {
      if (kid === '') throw new SpiffeError('MISSING_KID', 'a JWT authority needs a non-empty kid');
      // JWT-SVID allows RS*, PS* and ES* only: an OKP (EdDSA) key could never verify one.
      if (!isJwtKty(jwk.kty)) throw new SpiffeError('BAD_KEY', `key "${kid}": kty ${JSON.stringify(jwk.kty)} is not EC or RSA`);
      const checked = publicJwk(jwk, `key "${kid}"`);
      jwks.set(kid, { ...checked.jwk, kid });
      this.keyObjects.set(kid, checked.key);
    }
    this.jwks = jwks;
  }

  /**
   * A JWK Set. Every JWT key needs a kid, or the whole set is refused (SPIRE parity: a key that
   * cannot be selected is a publisher bug worth surfacing). Keys of another kty, or marked for
   * another `use` (x509-svid, wit-svid), are skipped: they are not JWT-SVID authorities.
   */
  static parseJwks(trustDomain: TrustDomain, json: string | Buffer): JwtBundle {
    const entries = jwksEntries(parseJsonObject(json));
    const keys = new Map<string, JsonWebKey>();
    for (const [i, entry] of entries.entries()) {
      if (!isJwtKty(entry.kty)) continue;
      if (entry.use !== undefined && entry.use !== 'jwt-svid') continue;
      const kid = entry.kid;
      if (typeof kid !== 'string' || kid === '') throw new SpiffeError('MISSING_KID', `key ${i} of the JWKS has no kid`);
      if (keys.has(kid)) throw new SpiffeError('DUPLICATE_KID', `key ${i} of the JWKS repeats kid "${kid}"`);
      keys.set(kid, publicJwk(entry, `key ${i} of the JWKS`).jwk);
    }
    return new JwtBundle(trustDomain, keys);
  }

  get size(): number {
    return this.jwks.size;
  }

  kids(): string[] {
    return [...this.jwks.keys()];
  }

  /** The normalised JWK (with its kid), or undefined: a copy, so the bundle stays immutable. */
  key(kid: string): JsonWebKey | undefined {
    const jwk = this.jwks.get(kid);
    return jwk === undefined ? undefined : { ...jwk };
  }

  /** The imported key, for signature checks. */
  publicKey(kid: string): KeyObject | undefined {
    return this.keyObjects.get(kid);
  }

  /** {"keys":[...]}: each JWK with its kid and `use: "jwt-svid"`. */
  toJwks(): string {
    return JSON.stringify({ keys: [...this.jwks.values()].map((jwk) => ({ ...jwk, use: 'jwt-svid' })) });
  }

  equals(other: JwtBundle): boolean {
    if (!this.trustDomain.equals(other.trustDomain) || this.jwks.size !== other.jwks.size) return false;
    for (const [kid, jwk] of this.jwks) {
      const theirs = other.jwks.get(kid);
      if (theirs === undefined || JSON.stringify(jwk) !== JSON.stringify(theirs)) return false;
    }
    return true;
  }
}

export function isJwtKty(kty: unknown): boolean {
  return typeof kty === 'string' && JWT_KTY.has(kty);
}

/** A bundle publishes public keys; private members are refused rather than silently dropped. */
export function checkNoPrivateMembers(jwk: JsonWebKey, where: string): void {
  const found = PRIVATE_MEMBERS.find((m) => jwk[m] !== undefined);
  if (found !== undefined) throw new SpiffeError('BAD_KEY', `${where} carries private key material ("${found}")`);
}

/** Checks an EC, RSA or OKP JWK is a public key node:crypto can import; returns its normal form. */
export function publicJwk(jwk: JsonWebKey, where: string): { jwk: JsonWebKey; key: KeyObject } {
  checkNoPrivateMembers(jwk, where);
  let normal: JsonWebKey;
  if (jwk.kty === 'EC') {
    if (!EC_CURVES.has(String(jwk.crv))) throw new SpiffeError('BAD_KEY', `${where}: EC curve ${JSON.stringify(jwk.crv)} is not P-256, P-384 or P-521`);
    normal = { kty: 'EC', crv: jwk.crv, x: jwk.x, y: jwk.y };
  } else if (jwk.kty === 'RSA') {
    normal = { kty: 'RSA', n: jwk.n, e: jwk.e };
  } else if (jwk.kty === 'OKP' && OKP_CURVES.has(String(jwk.crv))) {
    normal = { kty: 'OKP', crv: jwk.crv, x: jwk.x }; // an X.509 CA may use EdDSA; a JWT-SVID may not
  } else {
    throw new SpiffeError('BAD_KEY', `${where}: kty ${JSON.stringify(jwk.kty)} (crv ${JSON.stringify(jwk.crv)}) is not supported`);
  }
  try {
    return { jwk: normal, key: createPublicKey({ key: normal, format: 'jwk' }) };
  } catch (cause) {
    throw new SpiffeError('BAD_KEY', `${where} is not a valid ${jwk.kty} public key`, { cause });
  }
}

/** JSON text to a top-level object; anything else is MALFORMED_JSON. */
export function parseJsonObject(json: string | Buffer): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = JSON.parse(typeof json === 'string' ? json : json.toString('utf8'));
  } catch (cause) {
    throw new SpiffeError('MALFORMED_JSON', 'bundle is not valid JSON', { cause });
  }
  if (!isObject(doc)) throw new SpiffeError('MALFORMED_JSON', 'bundle must be a JSON object (a JWK Set)');
  return doc;
}

/** The `keys` member of a JWK Set (RFC 7517 5: it MUST be present), each entry an object. */
export function jwksEntries(doc: Record<string, unknown>): JsonWebKey[] {
  const keys = doc.keys;
  if (keys === undefined || keys === null) throw new SpiffeError('MISSING_KEYS', 'the JWK Set has no "keys" member');
  if (!Array.isArray(keys)) throw new SpiffeError('MALFORMED_JSON', '"keys" must be an array');
  return keys.map((entry: unknown, i) => {
    if (!isObject(entry)) throw new SpiffeError('MALFORMED_JSON', `key ${i} of the JWK Set is not an object`);
    return entry;
  });
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
