import { generateKeyPairSync, type JsonWebKey } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { JwtBundle, SpiffeError, TrustDomain } from '../../../agent/spiffe/index.js';

const TD = TrustDomain.parse('example.org');

function publicJwk(type: 'P-256' | 'P-384' | 'RSA' | 'Ed25519' | 'secp256k1'): JsonWebKey {
  const { publicKey } = type === 'RSA'
    ? generateKeyPairSync('rsa', { modulusLength: 2048 })
    : type === 'Ed25519' ? generateKeyPairSync('ed25519') : generateKeyPairSync('ec', { namedCurve: type });
  return publicKey.export({ format: 'jwk' });
}

const EC256 = publicJwk('P-256');
const EC384 = publicJwk('P-384');
const OTHER_EC256 = publicJwk('P-256');
const RSA = publicJwk('RSA');

const jwks = (...keys: unknown[]): string => JSON.stringify({ keys });

function failure(fn: () => unknown): SpiffeError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(SpiffeError);
    return error as SpiffeError;
  }
  throw new Error('expected a SpiffeError');
}

describe('JwtBundle.parseJwks', () => {
  it('keys EC and RSA public keys by kid, in a normal form', () => {
    const bundle = JwtBundle.parseJwks(TD, jwks({ ...EC256, kid: 'a', alg: 'ES256' }, { ...RSA, kid: 'b', use: 'jwt-svid' }));
    expect(bundle.kids()).toEqual(['a', 'b']);
    expect(bundle.key('a')).toEqual({ kty: 'EC', crv: 'P-256', x: EC256.x, y: EC256.y, kid: 'a' });
    expect(bundle.key('b')).toEqual({ kty: 'RSA', n: RSA.n, e: RSA.e, kid: 'b' });
    expect(bundle.key('c')).toBeUndefined();
    expect(bundle.publicKey('a')?.export({ format: 'jwk' })).toEqual(EC256);
  });

  it('reads a JWKS from a Buffer, and an empty "keys" as an empty bundle', () => {
    expect(JwtBundle.parseJwks(TD, Buffer.from(jwks({ ...EC256, kid: 'a' }))).size).toBe(1);
    expect(JwtBundle.parseJwks(TD, '{"keys":[]}').size).toBe(0);
  });

  it('skips keys of a kty JWT-SVIDs cannot use, even without a kid', () => {
    const bundle = JwtBundle.parseJwks(TD, jwks({ kty: 'oct', k: 'c2VjcmV0' }, { ...publicJwk('Ed25519') }, { ...EC256, kid: 'a' }));
    expect(bundle.kids()).toEqual(['a']);
  });

  it('skips keys marked for another use', () => {
    const bundle = JwtBundle.parseJwks(TD, jwks({ ...EC256, kid: 'w', use: 'wit-svid' }, { ...EC384, use: 'x509-svid' }));
    expect(bundle.size).toBe(0);
  });

  it('rejects the whole set when a key has no kid: MISSING_KID', () => {
    expect(failure(() => JwtBundle.parseJwks(TD, jwks({ ...EC256, kid: 'a' }, EC384))).message).toContain('key 1');
    expect(failure(() => JwtBundle.parseJwks(TD, jwks({ ...EC256, kid: '' }))).code).toBe('MISSING_KID');
    expect(failure(() => JwtBundle.parseJwks(TD, jwks({ ...EC256, kid: 7 }))).code).toBe('MISSING_KID');
  });

  it('rejects a repeated kid: DUPLICATE_KID', () => {
    expect(failure(() => JwtBundle.parseJwks(TD, jwks({ ...EC256, kid: 'a' }, { ...EC384, kid: 'a' }))).code).toBe('DUPLICATE_KID');
  });

  it.each([
    ['a point off the curve', { ...EC256, y: OTHER_EC256.y }],
    ['a coordinate of the wrong size', { ...EC256, x: EC384.x }],
    ['a curve JWT-SVID has no algorithm for', publicJwk('secp256k1')],
    ['a missing modulus', { kty: 'RSA', e: 'AQAB' }],
    ['private key material', { ...EC256, d: 'AAAA' }],
  ])('rejects %s: BAD_KEY', (_what, jwk) => {
    expect(failure(() => JwtBundle.parseJwks(TD, jwks({ ...jwk, kid: 'a' }))).code).toBe('BAD_KEY');
  });

  it('rejects a document without "keys": MISSING_KEYS', () => {
    expect(failure(() => JwtBundle.parseJwks(TD, '{}')).code).toBe('MISSING_KEYS');
    expect(failure(() => JwtBundle.parseJwks(TD, '{"keys":null}')).code).toBe('MISSING_KEYS');
  });

  it.each([
    ['not JSON', '{"keys":['],
    ['a top-level array', '[]'],
    ['"keys" not an array', '{"keys":{}}'],
    ['a key that is not an object', '{"keys":[1]}'],
  ])('rejects %s: MALFORMED_JSON', (_what, text) => {
    expect(failure(() => JwtBundle.parseJwks(TD, text)).code).toBe('MALFORMED_JSON');
  });
});

describe('JwtBundle.toJwks', () => {
  it('round-trips, each key with its kid and use "jwt-svid"', () => {
    const bundle = JwtBundle.parseJwks(TD, jwks({ ...EC256, kid: 'a', key_ops: ['verify'] }, { ...RSA, kid: 'b' }));
    const doc = JSON.parse(bundle.toJwks()) as { keys: JsonWebKey[] };
    expect(doc.keys).toEqual([
      { kty: 'EC', crv: 'P-256', x: EC256.x, y: EC256.y, kid: 'a', use: 'jwt-svid' },
      { kty: 'RSA', n: RSA.n, e: RSA.e, kid: 'b', use: 'jwt-svid' },
    ]);
    expect(JwtBundle.parseJwks(TD, bundle.toJwks()).equals(bundle)).toBe(true);
  });
});

describe('JwtBundle values', () => {
  it('checks keys given to the constructor too', () => {
    expect(failure(() => new JwtBundle(TD, new Map([['', EC256]]))).code).toBe('MISSING_KID');
    expect(failure(() => new JwtBundle(TD, new Map([['a', { kty: 'EC', crv: 'P-256' }]]))).code).toBe('BAD_KEY');
    expect(failure(() => new JwtBundle(TD, new Map([['a', publicJwk('Ed25519')]]))).code).toBe('BAD_KEY');
  });

  it('hands out copies: changing a returned key changes nothing', () => {
    const bundle = new JwtBundle(TD, new Map([['a', EC256]]));
    const key = bundle.key('a');
    if (key) key.x = 'changed';
    expect(bundle.key('a')?.x).toBe(EC256.x);
  });

  it('is equal only with the same trust domain and the same keys under the same kids', () => {
    const one = new JwtBundle(TD, new Map([['a', EC256], ['b', RSA]]));
    expect(one.equals(new JwtBundle(TD, new Map([['b', RSA], ['a', EC256]])))).toBe(true);
    expect(one.equals(new JwtBundle(TD, new Map([['a', RSA], ['b', EC256]])))).toBe(false);
    expect(one.equals(new JwtBundle(TD, new Map([['a', EC256]])))).toBe(false);
    expect(one.equals(new JwtBundle(TrustDomain.parse('example.com'), new Map([['a', EC256], ['b', RSA]])))).toBe(false);
  });
});
