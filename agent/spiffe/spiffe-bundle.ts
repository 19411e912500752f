/**
 * A SPIFFE bundle document (SPIFFE_Trust_Domain_and_Bundle.md 4): one trust domain's X.509
 * and JWT authorities in a JWK Set, with spiffe_sequence and spiffe_refresh_hint. This is the
 * federation form; the Workload API sends the X.509 and JWT halves separately.
 */
import { X509Certificate, type JsonWebKey } from 'node:crypto';
import { Buffer } from 'node:buffer';
import { SpiffeError } from './errors.js';
import { checkNoPrivateMembers, isJwtKty, JwtBundle, jwksEntries, parseJsonObject, publicJwk } from './jwt-bundle.js';
import { rawTopLevelMember } from './raw-json-member.js';
import type { TrustDomain } from './trust-domain.js';
import { derElementEnd } from './pem.js';
import { X509Bundle } from './x509-bundle.js';

const MAX_SEQUENCE = 2n ** 64n - 1n; // spiffe_sequence is a uint64 in SPIRE
const X509_KTY = new Set(['EC', 'RSA', 'OKP']);
const DECIMAL = /^(?:0|[1-9][0-9]*)$/;

export interface SpiffeBundleOptions {
  readonly trustDomain: TrustDomain;
  readonly x509?: X509Bundle;
  readonly jwt?: JwtBundle;
  readonly sequence?: bigint;
  readonly refreshHintSeconds?: number;
  /** use "wit-svid" entries: carried through and counted, never used to verify anything here. */
  readonly witKeys?: readonly JsonWebKey[];
}

export class SpiffeBundle {
  readonly trustDomain: TrustDomain;
  readonly x509: X509Bundle;
  readonly jwt: JwtBundle;
  readonly sequence: bigint | undefined;
  readonly refreshHintSeconds: number | undefined;
  private readonly wit: readonly JsonWebKey[];

  constructor(options: SpiffeBundleOptions) {
    const td = options.trustDomain;
    for (const half of [options.x509, options.jwt]) {
      if (half !== undefined && !half.trustDomain.equals(td)) {
        throw new SpiffeError('TRUST_DOMAIN_MISMATCH', `a bundle of "${half.trustDomain.name}" cannot be part of the bundle of "${td.name}"`);
      }
    }
    const { sequence, refreshHintSeconds } = options;
    if (sequence !== undefined && (sequence < 0n || sequence > MAX_SEQUENCE)) {
      throw new SpiffeError('BAD_SEQUENCE', `spiffe_sequence must be an unsigned 64-bit integer: got ${sequence}`);
    }
    if (refreshHintSeconds !== undefined && !(Number.isSafeInteger(refreshHintSeconds) && refreshHintSeconds >= 0)) {
      throw new SpiffeError('BAD_REFRESH_HINT', `spiffe_refresh_hint must be a non-negative integer of seconds: got ${refreshHintSeconds}`);
    }
    this.trustDomain = td;
    this.x509 = options.x509 ?? new X509Bundle(td, []);
    this.jwt = options.jwt ?? new JwtBundle(td, new Map());
    this.sequence = sequence;
    this.refreshHintSeconds = refreshHintSeconds;
    this.wit = (options.witKeys ?? []).map((jwk, i) => {
      checkNoPrivateMembers(jwk, `wit-svid key ${i}`);
      return JSON.parse(JSON.stringify(jwk)) as JsonWebKey;
    });
  }

  /**
   * Entries are sorted by `use`; an unknown kty or a missing or unknown `use` is ignored (b.4).
   * `"keys": []` is valid and means every key is revoked: an empty bundle that trusts nothing.
   * A missing `keys` is MISSING_KEYS (go-spiffe says "no authorities found" for the same rule).
   * A non-empty `keys` of which nothing is usable is NO_AUTHORITIES: that is not the spec's
   * revocation signal but a document we do not understand, so the caller keeps what it had.
   */
  static parse(trustDomain: TrustDomain, json: string | Buffer): SpiffeBundle {
    const text = typeof json === 'string' ? json : json.toString('utf8');
    const doc = parseJsonObject(text);
    const entries = jwksEntries(doc);
    const sequence = readUnsigned(doc, text, 'spiffe_sequence', 'BAD_SEQUENCE');
    const hint = readUnsigned(doc, text, 'spiffe_refresh_hint', 'BAD_REFRESH_HINT');
    const x509: Buffer[] = [];
    const jwt = new Map<string, JsonWebKey>();
    const wit: JsonWebKey[] = [];
    for (const [i, entry] of entries.entries()) {
      if (entry.use === 'x509-svid' && X509_KTY.has(String(entry.kty))) {
        const der = x509Authority(entry, i);
        if (der !== undefined) x509.push(der);
      } else if (entry.use === 'jwt-svid' && isJwtKty(entry.kty)) {
        const kid = entry.kid;
        if (typeof kid !== 'string' || kid === '') throw new SpiffeError('MISSING_KID', `jwt-svid entry ${i} has no kid`);
        if (jwt.has(kid)) throw new SpiffeError('DUPLICATE_KID', `jwt-svid entry ${i} repeats kid "${kid}"`);
        jwt.set(kid, publicJwk(entry, `jwt-svid entry ${i}`).jwk);
      } else if (entry.use === 'wit-svid') {
        wit.push(entry);
      }
    }
    if (entries.length > 0 && x509.length + jwt.size + wit.length === 0) {
      throw new SpiffeError('NO_AUTHORITIES', `none of the ${entries.length} keys is an x509-svid, jwt-svid or wit-svid authority`);
    }
    return new SpiffeBundle({
      trustDomain, x509: new X509Bundle(trustDomain, x509), jwt: new JwtBundle(trustDomain, jwt), witKeys: wit,
      ...(sequence === undefined ? {} : { sequence }),
      ...(hint === undefined ? {} : { refreshHintSeconds: Number(hint) }),
    });
  }

  get witAuthorities(): number {
    return this.wit.length;
  }

  witKeys(): JsonWebKey[] {
    return this.wit.map((jwk) => JSON.parse(JSON.stringify(jwk)) as JsonWebKey);
  }

  /** The document: x509-svid entries (JWK + x5c), jwt-svid entries (JWK + kid), wit-svid entries. */
  toJson(): string {
    const keys: JsonWebKey[] = [
      ...this.x509.certificates().map((cert, i) => ({ use: 'x509-svid', ...certificateJwk(cert, i), x5c: [cert.raw.toString('base64')] })),
      ...this.jwt.kids().map((kid) => ({ ...this.jwt.key(kid), use: 'jwt-svid' })),
      ...this.wit,
    ];
    const doc: Record<string, unknown> = { keys };
    if (this.refreshHintSeconds !== undefined) doc.spiffe_refresh_hint = this.refreshHintSeconds;
    const text = JSON.stringify(doc);
    // A bigint has no JSON form: write its digits, so values past 2^53 survive.
    return this.sequence === undefined ? text : `${text.slice(0, -1)},"spiffe_sequence":${this.sequence.toString()}}`;
  }

  equals(other: SpiffeBundle): boolean {
    return this.trustDomain.equals(other.trustDomain) && this.x509.equals(other.x509) && this.jwt.equals(other.jwt)
      && this.sequence === other.sequence && this.refreshHintSeconds === other.refreshHintSeconds
      && JSON.stringify(this.wit) === JSON.stringify(other.wit);
  }
}

/**
 * The first x5c certificate (X509-SVID.md 6.2: consumers use the first and ignore the rest), or
 * undefined for an entry without x5c, which consumers ignore. The JWK must be that certificate's
 * key, as go-jose checks: two keys in one entry would be two answers to "what is trusted".
 */
function x509Authority(entry: JsonWebKey, i: number): Buffer | undefined {
  const x5c = entry.x5c;
  if (x5c === undefined || (Array.isArray(x5c) && x5c.length === 0)) return undefined;
  const first: unknown = Array.isArray(x5c) ? x5c[0] : undefined;
  // RFC 7517 4.7: standard base64 (not base64url) of DER.
  if (typeof first !== 'string' || !/^[A-Za-z0-9+/]+={0,2}$/.test(first) || first.length % 4 !== 0) {
    throw new SpiffeError('BAD_X5C', `x509-svid entry ${i}: x5c[0] must be a base64 DER certificate`);
  }
  const der = Buffer.from(first, 'base64');
  let cert: X509Certificate;
  try {
    if (derElementEnd(der, 0) !== der.length) throw new Error('not exactly one DER element');
    cert = new X509Certificate(der);
  } catch (cause) {
    throw new SpiffeError('BAD_X5C', `x509-svid entry ${i}: x5c[0] is not an X.509 certificate`, { cause });
  }
  if (!publicJwk(entry, `x509-svid entry ${i}`).key.equals(cert.publicKey)) {
    throw new SpiffeError('BAD_X5C', `x509-svid entry ${i}: the JWK is not the public key of x5c[0]`);
  }
  return der;
}

function certificateJwk(cert: X509Certificate, i: number): JsonWebKey {
  try {
    return publicJwk(cert.publicKey.export({ format: 'jwk' }), `x509 authority ${i}`).jwk;
  } catch (cause) {
    throw new SpiffeError('BAD_KEY', `x509 authority ${i}: its public key has no JWK form`, { cause });
  }
}

/**
 * An optional non-negative integer member, read from the raw text because JSON.parse rounds
 * numbers past 2^53 (Node 20 has no JSON.parse source access). null counts as absent, as in Go.
 */
function readUnsigned(doc: Record<string, unknown>, text: string, name: string,
  code: 'BAD_SEQUENCE' | 'BAD_REFRESH_HINT'): bigint | undefined {
  const value = doc[name];
  if (value === undefined || value === null) return undefined;
  const raw = typeof value === 'number' ? rawTopLevelMember(text, name) : undefined;
  if (raw === undefined || !DECIMAL.test(raw)) {
    throw new SpiffeError(code, `${name} must be a non-negative integer: got ${raw ?? JSON.stringify(value)}`);
  }
  const n = BigInt(raw);
  if (n > (code === 'BAD_SEQUENCE' ? MAX_SEQUENCE : BigInt(Number.MAX_SAFE_INTEGER))) {
    throw new SpiffeError(code, `${name} is too large: ${raw}`);
  }
  return n;
}
