import { createHmac, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SpiffeError } from '../../../agent/spiffe/errors.js';
import { JwtBundle } from '../../../agent/spiffe/jwt-bundle.js';
import { signJwtSvid, verifyJwtSvid, type JwtBundleSource, type JwtSvidAlg } from '../../../agent/spiffe/jwt-svid.js';
import { requireSpiffeId } from '../../../agent/spiffe/spiffe-id.js';
import { TrustDomain } from '../../../agent/spiffe/trust-domain.js';

const TD = TrustDomain.parse('domain1.test');
const ID = requireSpiffeId('spiffe://domain1.test/workload');
const NOW = new Date('2030-01-01T00:00:00Z');
const ISSUED = new Date(NOW.getTime() - 10_000);
const EXPIRES = new Date(NOW.getTime() + 300_000);
const AUD = 'spiffe://domain1.test/server';
const seconds = (d: Date, offsetS = 0): number => Math.floor(d.getTime() / 1000) + offsetS;

const ec256 = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const ec384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });
const ec521 = generateKeyPairSync('ec', { namedCurve: 'P-521' });
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });

const KEYS: Record<string, KeyObject> = { 'k-es256': ec256.publicKey, 'k-es384': ec384.publicKey, 'k-es512': ec521.publicKey, 'k-rsa': rsa.publicKey };
const bundle = JwtBundle.parseJwks(TD, JSON.stringify({
  keys: Object.entries(KEYS).map(([kid, key]) => ({ ...key.export({ format: 'jwk' }), kid, use: 'jwt-svid' })),
}));
const bundles: JwtBundleSource = (td) => (td.equals(TD) ? bundle : undefined);
const OPTIONS = { audience: AUD, now: NOW };

const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

type Fields = Record<string, unknown>;
/** Drops the fields an override sets to undefined, so a test can remove a header or claim. */
const merge = (base: Fields, over: Fields): Fields =>
  Object.fromEntries(Object.entries({ ...base, ...over }).filter(([, v]) => v !== undefined));

/**
 * A token built by hand, for what jose refuses to make (alg none, extra headers, no exp...).
 * Signed ES256 with the bundle's P-256 key unless `signer` says otherwise, so only the field
 * under test is wrong.
 */
function forge(header: Fields = {}, claims: Fields = {}, signer?: (input: string) => Buffer): string {
  const h = merge({ alg: 'ES256', kid: 'k-es256', typ: 'JWT' }, header);
  const c = merge({ sub: ID.toString(), aud: AUD, exp: seconds(EXPIRES), iat: seconds(ISSUED) }, claims);
  const input = `${b64(h)}.${b64(c)}`;
  const signature = (signer ?? ((i) => sign('sha256', Buffer.from(i), { key: ec256.privateKey, dsaEncoding: 'ieee-p1363' })))(input);
  return `${input}.${signature.toString('base64url')}`;
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'no error';
  } catch (err) {
    if (err instanceof SpiffeError) return err.code;
    throw err;
  }
}

const headerOf = (token: string): Fields => JSON.parse(Buffer.from(token.split('.')[0] ?? '', 'base64url').toString()) as Fields;
const claimsOf = (token: string): Fields => JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as Fields;

describe('signJwtSvid then verifyJwtSvid', () => {
  it.each([
    ['ES256', ec256.privateKey, 'k-es256', undefined],
    ['ES384', ec384.privateKey, 'k-es384', undefined],
    ['ES512', ec521.privateKey, 'k-es512', undefined],
    ['RS256', rsa.privateKey, 'k-rsa', undefined],
    ['PS256', rsa.privateKey, 'k-rsa', 'PS256'],
  ] as const)('round-trips %s', async (alg, key, kid, explicit: JwtSvidAlg | undefined) => {
    const token = await signJwtSvid({ id: ID, audience: [AUD], expiresAt: EXPIRES, issuedAt: ISSUED, key, kid, ...(explicit ? { alg: explicit } : {}) });
    expect(headerOf(token)).toEqual({ alg, kid, typ: 'JWT' });
    expect(claimsOf(token)).toEqual({ sub: ID.toString(), aud: AUD, exp: seconds(EXPIRES), iat: seconds(ISSUED) });
    const svid = await verifyJwtSvid(token, bundles, OPTIONS);
    expect(svid.id.toString()).toBe(ID.toString());
    expect(svid.audience).toEqual([AUD]);
    expect(svid.expiresAt).toEqual(new Date(seconds(EXPIRES) * 1000));
    expect(svid.claims['iat']).toBe(seconds(ISSUED));
  });

  it('writes aud as an array when there are several, and verifies for any of them', async () => {
    const token = await signJwtSvid({ id: ID, audience: ['a', AUD], expiresAt: EXPIRES, issuedAt: ISSUED, key: ec256.privateKey, kid: 'k-es256' });
    expect(claimsOf(token)['aud']).toEqual(['a', AUD]);
    expect((await verifyJwtSvid(token, bundles, { audience: 'a', now: NOW })).audience).toEqual(['a', AUD]);
  });

  it('refuses to sign without an audience or with a key no JWT-SVID alg fits', async () => {
    const base = { id: ID, expiresAt: EXPIRES, issuedAt: ISSUED, kid: 'k' };
    expect(await codeOf(signJwtSvid({ ...base, audience: [], key: ec256.privateKey }))).toBe('MISSING_AUD');
    const ed = generateKeyPairSync('ed25519').privateKey;
    expect(await codeOf(signJwtSvid({ ...base, audience: [AUD], key: ed }))).toBe('UNSUPPORTED_ALG');
    expect(await codeOf(signJwtSvid({ ...base, audience: [AUD], key: ec256.publicKey }))).toBe('UNSUPPORTED_ALG');
    expect(await codeOf(signJwtSvid({ ...base, audience: [AUD], key: ec256.privateKey, alg: 'ES384' }))).toBe('UNSUPPORTED_ALG');
  });

  it('accepts a hand-built token, so the rejections below are each for their one defect', async () => {
    expect((await verifyJwtSvid(forge(), bundles, OPTIONS)).id.toString()).toBe(ID.toString());
    expect((await verifyJwtSvid(forge({ typ: 'JOSE' }), bundles, OPTIONS)).audience).toEqual([AUD]);
    expect((await verifyJwtSvid(forge({ typ: undefined }), bundles, OPTIONS)).audience).toEqual([AUD]);
  });
});

describe('verifyJwtSvid rejects', () => {
  const tamperSignature = (token: string): string => {
    const [h, c, s] = token.split('.');
    const sig = Buffer.from(s ?? '', 'base64url');
    sig[10] = (sig[10] ?? 0) ^ 0xff;
    return `${h}.${c}.${sig.toString('base64url')}`;
  };
  const otherKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const publicPem = ec256.publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const hmacWithPublicKey = (input: string): Buffer => createHmac('sha256', publicPem).update(input).digest();
  const untouchable: JwtBundleSource = () => {
    throw new Error('the bundle was consulted');
  };

  it.each([
    ['BAD_SIGNATURE', 'a tampered signature', () => tamperSignature(forge())],
    ['BAD_SIGNATURE', 'claims changed after signing', () => {
      const [h, , s] = forge().split('.');
      return `${h}.${b64({ sub: 'spiffe://domain1.test/admin', aud: AUD, exp: seconds(EXPIRES) })}.${s}`;
    }],
    ['BAD_SIGNATURE', 'a signature by a key not in the bundle', () =>
      forge({}, {}, (i) => sign('sha256', Buffer.from(i), { key: otherKey, dsaEncoding: 'ieee-p1363' }))],
    ['BAD_SIGNATURE', 'a kid whose key does not fit alg (an RSA key for ES256)', () => forge({ kid: 'k-rsa' })],
    ['AUD_MISMATCH', 'another audience', () => forge({}, { aud: ['spiffe://domain1.test/other'] })],
    ['MISSING_AUD', 'no aud', () => forge({}, { aud: undefined })],
    ['MISSING_AUD', 'an empty aud array', () => forge({}, { aud: [] })],
    ['EXPIRED', 'exp 61 s ago', () => forge({}, { exp: seconds(NOW, -61) })],
    ['EXPIRED', 'exp exactly 60 s ago (the leeway is not inclusive)', () => forge({}, { exp: seconds(NOW, -60) })],
    ['MISSING_EXP', 'no exp', () => forge({}, { exp: undefined })],
    ['MALFORMED_TOKEN', 'exp as a string', () => forge({}, { exp: String(seconds(EXPIRES)) })],
    ['NOT_YET_VALID', 'nbf 2 min ahead', () => forge({}, { nbf: seconds(NOW, 120) })],
    ['ISSUED_IN_FUTURE', 'iat 2 min ahead', () => forge({}, { iat: seconds(NOW, 120) })],
    ['UNKNOWN_KID', 'a kid not in the bundle', () => forge({ kid: 'k-gone' })],
    ['MISSING_KID', 'no kid', () => forge({ kid: undefined })],
    ['BAD_TYP', 'typ at+jwt', () => forge({ typ: 'at+jwt' })],
    ['BAD_TYP', 'typ jwt in lower case', () => forge({ typ: 'jwt' })],
    ['BAD_HEADER', 'an extra jku header', () => forge({ jku: 'https://attacker.example/jwks' })],
    ['BAD_HEADER', 'a crit header', () => forge({ crit: ['exp'] })],
    ['BAD_SUB', 'a sub that is not a SPIFFE ID', () => forge({}, { sub: 'workload' })],
    ['BAD_SUB', 'a sub with an upper-case trust domain', () => forge({}, { sub: 'spiffe://Domain1.test/workload' })],
    ['MISSING_SUB', 'no sub', () => forge({}, { sub: undefined })],
    ['NO_BUNDLE_FOR_TRUST_DOMAIN', 'a sub of a trust domain without a bundle', () => forge({}, { sub: 'spiffe://domain2.test/workload' })],
    ['MALFORMED_TOKEN', 'two parts', () => forge().split('.').slice(0, 2).join('.')],
    ['MALFORMED_TOKEN', 'a part that is not base64url', () => `${forge()}=`],
    ['MALFORMED_TOKEN', 'a header that is not a JSON object', () => `${b64([1])}.${forge().split('.').slice(1).join('.')}`],
    ['MALFORMED_TOKEN', 'JWS JSON serialization', () => {
      const [h, c, s] = forge().split('.');
      return JSON.stringify({ protected: h, payload: c, signature: s });
    }],
  ])('%s: %s', async (code, _what, make) => {
    expect(await codeOf(verifyJwtSvid(make(), bundles, OPTIONS))).toBe(code);
  });

  it('accepts exp 59 s ago and nbf / iat 59 s ahead: the 60 s leeway', async () => {
    const token = forge({}, { exp: seconds(NOW, -59), nbf: seconds(NOW, 59), iat: seconds(NOW, 59) });
    expect(await codeOf(verifyJwtSvid(token, bundles, OPTIONS))).toBe('no error');
  });

  it.each([
    ['alg none', () => `${b64({ alg: 'none', kid: 'k-es256', typ: 'JWT' })}.${forge().split('.')[1]}.`],
    ['HS256 with the public key as the HMAC secret', () => forge({ alg: 'HS256' }, {}, hmacWithPublicKey)],
    ['EdDSA', () => forge({ alg: 'EdDSA' })],
    ['no alg', () => forge({ alg: undefined })],
  ])('UNSUPPORTED_ALG: %s, before any key is looked up', async (_what, make) => {
    expect(await codeOf(verifyJwtSvid(make(), untouchable, OPTIONS))).toBe('UNSUPPORTED_ALG');
  });

  it('wraps what went wrong below as the cause, never throwing jose errors', async () => {
    const err = await verifyJwtSvid(tamperSignature(forge()), bundles, OPTIONS).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SpiffeError);
    expect((err as SpiffeError).cause).toBeDefined();
    expect((err as SpiffeError).cause).not.toBeInstanceOf(SpiffeError);
  });

  it('fails closed on an invalid `now`', async () => {
    expect(await codeOf(verifyJwtSvid(forge(), bundles, { audience: AUD, now: new Date(Number.NaN) }))).toBe('EXPIRED');
  });
});
