import { createPublicKey, type KeyObject } from 'node:crypto';
import { CompactSign, compactVerify, errors } from 'jose';
import { SpiffeError, type JwtSvidErrorCode } from './errors.js';
import type { JwtBundle } from './jwt-bundle.js';
import { SpiffeId } from './spiffe-id.js';
import type { TrustDomain } from './trust-domain.js';

/** The algorithms JWT-SVID.md 3 allows; validators reject every other (none, HS*, EdDSA). */
export type JwtSvidAlg = 'ES256' | 'ES384' | 'ES512' | 'RS256' | 'RS384' | 'RS512' | 'PS256' | 'PS384' | 'PS512';
const ALGS: ReadonlySet<string> = new Set<JwtSvidAlg>(['ES256', 'ES384', 'ES512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512']);
const HEADERS: ReadonlySet<string> = new Set(['alg', 'kid', 'typ']);
const EC_ALGS: ReadonlyMap<string, JwtSvidAlg> = new Map([['prime256v1', 'ES256'], ['secp384r1', 'ES384'], ['secp521r1', 'ES512']]);
const B64URL = /^[A-Za-z0-9_-]*$/;
/** go-jose's leeway, which SPIRE uses, for exp, nbf and iat (SPIFFE.md b.3). */
const LEEWAY_MS = 60_000;

export type SignJwtSvidOptions = {
  readonly id: SpiffeId;
  readonly audience: readonly string[];
  readonly expiresAt: Date;
  readonly issuedAt: Date;
  readonly key: KeyObject;
  readonly kid: string;
  readonly alg?: JwtSvidAlg;
};

/** A verified JWT-SVID: its subject, audience, expiry, and every claim as the token carried it. */
export type JwtSvid = { readonly id: SpiffeId; readonly audience: string[]; readonly expiresAt: Date; readonly claims: Record<string, unknown> };

/** The JWT bundle of a trust domain, or undefined when the caller trusts none for it. */
export type JwtBundleSource = (trustDomain: TrustDomain) => JwtBundle | undefined;

type Json = Record<string, unknown>;

const fail = (code: JwtSvidErrorCode, message: string, cause?: unknown): SpiffeError =>
  new SpiffeError(code, message, cause === undefined ? undefined : { cause });

/** Signs a JWT-SVID: compact JWS, header {alg, kid, typ: JWT}, claims {sub, aud, exp, iat}. */
export async function signJwtSvid(options: SignJwtSvidOptions): Promise<string> {
  const { id, audience, expiresAt, issuedAt, key, kid } = options;
  if (audience.length === 0) throw fail('MISSING_AUD', 'a JWT-SVID needs at least one audience');
  if (kid === '') throw fail('MISSING_KID', 'a JWT-SVID needs a kid, to find its key in the JWT bundle');
  if (!(expiresAt.getTime() > issuedAt.getTime())) throw fail('EXPIRED', 'expiresAt must come after issuedAt');
  if (key.type !== 'private') throw fail('UNSUPPORTED_ALG', `a JWT-SVID is signed with a private key, not a ${key.type} one`);
  const alg = options.alg ?? defaultAlg(key);
  const claims = {
    sub: id.toString(),
    aud: audience.length === 1 ? audience[0] : [...audience],
    exp: Math.floor(expiresAt.getTime() / 1000),
    iat: Math.floor(issuedAt.getTime() / 1000),
  };
  try {
    return await new CompactSign(new TextEncoder().encode(JSON.stringify(claims)))
      .setProtectedHeader({ alg, kid, typ: 'JWT' })
      .sign(key);
  } catch (cause) {
    throw fail('UNSUPPORTED_ALG', `cannot sign ${alg} with a ${describeKey(key)} key`, cause);
  }
}

/**
 * Validates a JWT-SVID for `audience` at `now` (JWT-SVID.md 3-4). The header and claims are read
 * first, so alg is refused before any key is touched and the key is looked up in the bundle of
 * the sub's trust domain; then the signature; then aud and the times, with 60 s of leeway.
 */
export async function verifyJwtSvid(
  token: string, bundles: JwtBundleSource, options: { audience: string; now: Date },
): Promise<JwtSvid> {
  const { header, claims } = decode(token);
  const { alg, kid } = checkHeader(header);
  const id = subject(claims);
  const key = bundleKey(bundles, id, kid, alg);
  await checkSignature(token, key, alg, kid);
  const audience = checkAudience(claims, options.audience);
  const expiresAt = checkTimes(claims, options.now);
  return { id, audience, expiresAt, claims };
}

function decode(token: string): { header: Json; claims: Json } {
  if (typeof token !== 'string') throw fail('MALFORMED_TOKEN', 'a JWT-SVID is a string');
  if (token.trimStart().startsWith('{')) throw fail('MALFORMED_TOKEN', 'JWS JSON serialization is not allowed for a JWT-SVID');
  const parts = token.split('.');
  const [header, claims] = parts;
  if (parts.length !== 3 || header === undefined || claims === undefined) {
    throw fail('MALFORMED_TOKEN', `a compact JWS has 3 dot-separated parts, this token has ${parts.length}`);
  }
  if (!parts.every((p) => B64URL.test(p))) throw fail('MALFORMED_TOKEN', 'a part of the token is not base64url');
  return { header: jsonObject(header, 'header'), claims: jsonObject(claims, 'claims') };
}

function jsonObject(part: string, what: string): Json {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch (cause) {
    throw fail('MALFORMED_TOKEN', `the token's ${what} is not JSON`, cause);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw fail('MALFORMED_TOKEN', `the token's ${what} is not a JSON object`);
  }
  return value as Json;
}

function checkHeader(header: Json): { alg: JwtSvidAlg; kid: string } {
  const { alg, kid, typ } = header;
  if (typeof alg !== 'string' || !ALGS.has(alg)) {
    throw fail('UNSUPPORTED_ALG', `alg ${JSON.stringify(alg) ?? 'absent'} is not one of ${[...ALGS].join(', ')}`);
  }
  const extra = Object.keys(header).filter((name) => !HEADERS.has(name));
  if (extra.length > 0) throw fail('BAD_HEADER', `header ${extra.join(', ')} is not allowed; only alg, kid and typ are`);
  if (typ !== undefined && typ !== 'JWT' && typ !== 'JOSE') throw fail('BAD_TYP', `typ ${JSON.stringify(typ)} is neither JWT nor JOSE`);
  if (kid === undefined || kid === '') throw fail('MISSING_KID', 'the header has no kid');
  if (typeof kid !== 'string') throw fail('BAD_HEADER', 'kid is not a string');
  return { alg: alg as JwtSvidAlg, kid };
}

function subject(claims: Json): SpiffeId {
  const { sub } = claims;
  if (sub === undefined) throw fail('MISSING_SUB', 'the token has no sub claim');
  if (typeof sub !== 'string') throw fail('BAD_SUB', 'sub is not a string');
  try {
    return SpiffeId.parse(sub);
  } catch (cause) {
    throw fail('BAD_SUB', `sub ${JSON.stringify(sub)} is not a SPIFFE ID`, cause);
  }
}

function bundleKey(bundles: JwtBundleSource, id: SpiffeId, kid: string, alg: JwtSvidAlg): KeyObject {
  const td = id.trustDomain.name;
  const bundle = bundles(id.trustDomain);
  if (bundle === undefined) throw fail('NO_BUNDLE_FOR_TRUST_DOMAIN', `no JWT bundle for trust domain ${td} of ${id.toString()}`);
  const jwk = bundle.key(kid);
  if (jwk === undefined) throw fail('UNKNOWN_KID', `kid ${JSON.stringify(kid)} is not in the JWT bundle of ${td}`);
  if (jwk.alg !== undefined && jwk.alg !== alg) throw fail('BAD_SIGNATURE', `key ${kid} of ${td} is for ${jwk.alg}, the token says ${alg}`);
  try {
    return createPublicKey({ key: jwk, format: 'jwk' });
  } catch (cause) {
    throw fail('BAD_SIGNATURE', `key ${kid} of the JWT bundle of ${td} is not a usable public key`, cause);
  }
}

async function checkSignature(token: string, key: KeyObject, alg: JwtSvidAlg, kid: string): Promise<void> {
  try {
    await compactVerify(token, key, { algorithms: [alg] });
  } catch (cause) {
    if (cause instanceof errors.JWSSignatureVerificationFailed) {
      throw fail('BAD_SIGNATURE', `the signature does not verify with key ${kid}`, cause);
    }
    if (cause instanceof errors.JWSInvalid) throw fail('MALFORMED_TOKEN', 'the token is not a valid compact JWS', cause);
    // jose refuses a key of the wrong type or curve for alg (an RSA key for ES256, say).
    throw fail('BAD_SIGNATURE', `key ${kid} (${describeKey(key)}) cannot verify ${alg}`, cause);
  }
}

function checkAudience(claims: Json, expected: string): string[] {
  const { aud } = claims;
  const values: unknown[] = Array.isArray(aud) ? aud : aud === undefined ? [] : [aud];
  if (values.length === 0) throw fail('MISSING_AUD', 'the token has no aud claim');
  if (!values.every((v): v is string => typeof v === 'string')) throw fail('MALFORMED_TOKEN', 'aud is not a string or an array of strings');
  if (!values.includes(expected)) throw fail('AUD_MISMATCH', `aud ${JSON.stringify(values)} does not include ${JSON.stringify(expected)}`);
  return values;
}

/** The comparisons are written so that an invalid `now` (NaN) fails closed. */
function checkTimes(claims: Json, now: Date): Date {
  const t = now.getTime();
  const exp = numericDate(claims, 'exp');
  if (exp === undefined) throw fail('MISSING_EXP', 'the token has no exp claim');
  if (!(exp > t - LEEWAY_MS)) throw fail('EXPIRED', `the token expired at ${iso(exp)}`);
  const nbf = numericDate(claims, 'nbf');
  if (nbf !== undefined && !(nbf <= t + LEEWAY_MS)) throw fail('NOT_YET_VALID', `the token is not valid before ${iso(nbf)}`);
  const iat = numericDate(claims, 'iat');
  if (iat !== undefined && !(iat <= t + LEEWAY_MS)) throw fail('ISSUED_IN_FUTURE', `the token was issued in the future, at ${iso(iat)}`);
  return new Date(exp);
}

const iso = (ms: number): string => (Math.abs(ms) <= 8.64e15 ? new Date(ms).toISOString() : `${ms / 1000} s after 1970`);

/** A NumericDate claim (seconds, RFC 7519 2) in milliseconds. */
function numericDate(claims: Json, name: 'exp' | 'nbf' | 'iat'): number | undefined {
  const value = claims[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value)) throw fail('MALFORMED_TOKEN', `${name} is not a NumericDate`);
  return value * 1000;
}

function defaultAlg(key: KeyObject): JwtSvidAlg {
  if (key.asymmetricKeyType === 'rsa') return 'RS256';
  if (key.asymmetricKeyType === 'rsa-pss') return 'PS256';
  const alg = EC_ALGS.get(key.asymmetricKeyDetails?.namedCurve ?? '');
  if (key.asymmetricKeyType === 'ec' && alg !== undefined) return alg;
  throw fail('UNSUPPORTED_ALG', `no JWT-SVID algorithm signs with a ${describeKey(key)} key`);
}

function describeKey(key: KeyObject): string {
  return [key.asymmetricKeyType ?? 'secret', key.asymmetricKeyDetails?.namedCurve].filter(Boolean).join(' ');
}
