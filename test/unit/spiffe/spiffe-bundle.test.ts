import 'reflect-metadata';
import { generateKeyPairSync, webcrypto, type JsonWebKey } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { beforeAll, describe, expect, it } from 'vitest';
import { JwtBundle, SpiffeBundle, SpiffeError, TrustDomain, X509Bundle } from '../../../agent/spiffe/index.js';

x509.cryptoProvider.set(webcrypto);
const TD = TrustDomain.parse('example.org');
const EC = { name: 'ECDSA', namedCurve: 'P-384', hash: 'SHA-384' };
const ED = { name: 'Ed25519' };

interface Ca {
  readonly der: Buffer;
  readonly jwk: JsonWebKey;
}

/** A self-signed CA made at test time, with the JWK of its key as a bundle entry carries it. */
async function selfSignedCa(alg: typeof EC | typeof ED): Promise<Ca> {
  const keys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name: 'CN=root', keys, signingAlgorithm: alg, serialNumber: '01',
    notBefore: new Date('2024-01-01T00:00:00Z'), notAfter: new Date('2099-01-01T00:00:00Z'),
    extensions: [new x509.BasicConstraintsExtension(true, undefined, true)],
  });
  return { der: Buffer.from(cert.rawData), jwk: (await webcrypto.subtle.exportKey('jwk', keys.publicKey)) as JsonWebKey };
}

const jwtKey = (): JsonWebKey => generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' });
const JWT = jwtKey();
const x509Entry = (ca: Ca, x5c: unknown = [ca.der.toString('base64')]): object =>
  ({ use: 'x509-svid', kty: ca.jwk.kty, crv: ca.jwk.crv, x: ca.jwk.x, y: ca.jwk.y, x5c });
const jwtEntry = (kid: unknown, jwk: JsonWebKey = JWT): object => ({ use: 'jwt-svid', ...jwk, kid });
const doc = (keys: unknown, more = ''): string => `{"keys":${JSON.stringify(keys)}${more}}`;

function failure(fn: () => unknown): SpiffeError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(SpiffeError);
    return error as SpiffeError;
  }
  throw new Error('expected a SpiffeError');
}

let ca: Ca;
let other: Ca;
let edCa: Ca;
beforeAll(async () => {
  [ca, other, edCa] = await Promise.all([selfSignedCa(EC), selfSignedCa(EC), selfSignedCa(ED)]);
});

describe('SpiffeBundle.parse', () => {
  it('sorts entries into X.509 authorities, JWT authorities and WIT keys', () => {
    const wit = { use: 'wit-svid', ...jwtKey(), kid: 'w' };
    const bundle = SpiffeBundle.parse(TD, doc([x509Entry(ca), jwtEntry('k1'), wit], ',"spiffe_refresh_hint":300,"spiffe_sequence":7'));
    expect(bundle.x509.authorities()).toEqual([ca.der]);
    expect(bundle.jwt.kids()).toEqual(['k1']);
    expect(bundle.witAuthorities).toBe(1);
    expect(bundle.witKeys()).toEqual([wit]);
    expect(bundle.jwt.key('w')).toBeUndefined(); // a WIT key never verifies a JWT-SVID
    expect(bundle.refreshHintSeconds).toBe(300);
    expect(bundle.sequence).toBe(7n);
  });

  it('reads "keys": [] as a valid empty bundle: every key revoked', () => {
    const bundle = SpiffeBundle.parse(TD, '{"keys":[]}');
    expect(bundle.x509.size + bundle.jwt.size + bundle.witAuthorities).toBe(0);
    expect(bundle.sequence).toBeUndefined();
    expect(bundle.refreshHintSeconds).toBeUndefined();
  });

  it('rejects a document without "keys": MISSING_KEYS', () => {
    expect(failure(() => SpiffeBundle.parse(TD, '{"spiffe_sequence":1}')).code).toBe('MISSING_KEYS');
  });

  it('rejects a non-empty "keys" with nothing usable: NO_AUTHORITIES', () => {
    const unusable = [{ ...jwtKey(), kid: 'no-use' }, { ...jwtKey(), kid: 'u', use: 'sig' }, { use: 'jwt-svid', kty: 'oct', k: 'AA', kid: 'o' }];
    expect(failure(() => SpiffeBundle.parse(TD, doc(unusable))).code).toBe('NO_AUTHORITIES');
  });

  it('ignores entries of unknown use or kty next to usable ones', () => {
    const bundle = SpiffeBundle.parse(TD, doc([{ ...jwtKey(), kid: 'x' }, { use: 'jwt-svid', kty: 'oct', k: 'AA' }, jwtEntry('k')]));
    expect(bundle.jwt.kids()).toEqual(['k']);
  });

  it('ignores an x509-svid entry without x5c, and uses only the first of several', () => {
    const bundle = SpiffeBundle.parse(TD, doc([{ ...x509Entry(ca), x5c: undefined }, x509Entry(ca, []), x509Entry(ca, [ca.der.toString('base64'), 'junk'])]));
    expect(bundle.x509.authorities()).toEqual([ca.der]);
  });

  it.each([
    ['x5c not an array', () => x509Entry(ca, ca.der.toString('base64'))],
    ['x5c[0] not base64', () => x509Entry(ca, ['%%%%'])],
    ['x5c[0] base64url', () => x509Entry(ca, [ca.der.toString('base64url')])],
    ['x5c[0] not a certificate', () => x509Entry(ca, [Buffer.from([0x30, 0x03, 0x02, 0x01, 0x01]).toString('base64')])],
    ['a JWK that is not the certificate\'s key', () => ({ ...x509Entry(other), x5c: [ca.der.toString('base64')] })],
  ])('rejects an x509-svid entry with %s: BAD_X5C', (_what, entry) => {
    expect(failure(() => SpiffeBundle.parse(TD, doc([entry()]))).code).toBe('BAD_X5C');
  });

  it('rejects a jwt-svid entry without kid: MISSING_KID', () => {
    expect(failure(() => SpiffeBundle.parse(TD, doc([jwtEntry('a'), jwtEntry(undefined)]))).message).toContain('entry 1');
  });

  it('rejects a repeated jwt-svid kid: DUPLICATE_KID', () => {
    expect(failure(() => SpiffeBundle.parse(TD, doc([jwtEntry('a'), jwtEntry('a', jwtKey())]))).code).toBe('DUPLICATE_KID');
  });

  it('rejects a bad jwt-svid key, and private material in any entry: BAD_KEY', () => {
    expect(failure(() => SpiffeBundle.parse(TD, doc([jwtEntry('a', { ...JWT, x: 'AAAA' })]))).code).toBe('BAD_KEY');
    expect(failure(() => SpiffeBundle.parse(TD, doc([{ use: 'wit-svid', ...JWT, kid: 'w', d: 'AAAA' }]))).code).toBe('BAD_KEY');
  });

  it('rejects text that is not a JSON object: MALFORMED_JSON', () => {
    expect(failure(() => SpiffeBundle.parse(TD, '{"keys":[]')).code).toBe('MALFORMED_JSON');
    expect(failure(() => SpiffeBundle.parse(TD, '"keys"')).code).toBe('MALFORMED_JSON');
  });
});

describe('SpiffeBundle spiffe_sequence (uint64) and spiffe_refresh_hint', () => {
  it('keeps every digit of a sequence past 2^53', () => {
    // JSON.parse alone reads 9007199254740993 as 9007199254740992.
    expect(SpiffeBundle.parse(TD, doc([], ',"spiffe_sequence":9007199254740993')).sequence).toBe(9007199254740993n);
    expect(SpiffeBundle.parse(TD, doc([], ',"spiffe_sequence":18446744073709551615')).sequence).toBe(2n ** 64n - 1n);
  });

  it('reads the top-level member, not a decoy inside a key or a string', () => {
    const text = `{"keys":[{"use":"jwt-svid","spiffe_sequence":5,"note":"\\"spiffe_sequence\\":6",${JSON.stringify(jwtEntry('k')).slice(1, -1)}}],`
      + '"x":{"spiffe_sequence":[8]},"spiffe\\u005fsequence":9}';
    expect(SpiffeBundle.parse(TD, text).sequence).toBe(9n);
  });

  it('takes the last of repeated members, as JSON.parse does', () => {
    expect(SpiffeBundle.parse(TD, doc([], ',"spiffe_sequence":1,"spiffe_sequence":2')).sequence).toBe(2n);
  });

  it('reads null as absent, as Go does', () => {
    expect(SpiffeBundle.parse(TD, doc([], ',"spiffe_sequence":null,"spiffe_refresh_hint":null')).sequence).toBeUndefined();
  });

  it.each(['-1', '1.5', '1e3', '"1"', '18446744073709551616', 'true'])('rejects spiffe_sequence %s: BAD_SEQUENCE', (raw) => {
    expect(failure(() => SpiffeBundle.parse(TD, doc([], `,"spiffe_sequence":${raw}`))).code).toBe('BAD_SEQUENCE');
  });

  it.each(['-1', '0.5', '"60"', '9007199254740992'])('rejects spiffe_refresh_hint %s: BAD_REFRESH_HINT', (raw) => {
    expect(failure(() => SpiffeBundle.parse(TD, doc([], `,"spiffe_refresh_hint":${raw}`))).code).toBe('BAD_REFRESH_HINT');
  });
});

describe('SpiffeBundle.toJson', () => {
  it('round-trips a bundle with a sequence past 2^53, EC and EdDSA authorities and WIT keys', () => {
    const bundle = new SpiffeBundle({
      trustDomain: TD,
      x509: new X509Bundle(TD, [ca.der, edCa.der]),
      jwt: new JwtBundle(TD, new Map([['k1', JWT], ['k2', jwtKey()]])),
      sequence: 2n ** 63n + 5n,
      refreshHintSeconds: 60,
      witKeys: [{ use: 'wit-svid', ...jwtKey(), kid: 'w' }],
    });
    const text = bundle.toJson();
    expect(text).toContain('"spiffe_sequence":9223372036854775813}');
    const again = SpiffeBundle.parse(TD, text);
    expect(again.equals(bundle)).toBe(true);
    expect(again.sequence).toBe(2n ** 63n + 5n);
    expect(again.toJson()).toBe(text);
  });

  it('writes x509-svid entries as the JWK of the certificate key plus x5c, without kid', () => {
    const entry = (JSON.parse(new SpiffeBundle({ trustDomain: TD, x509: new X509Bundle(TD, [ca.der]) }).toJson()) as { keys: JsonWebKey[] }).keys[0];
    expect(entry).toEqual({ use: 'x509-svid', kty: 'EC', crv: 'P-384', x: ca.jwk.x, y: ca.jwk.y, x5c: [ca.der.toString('base64')] });
  });

  it('omits the optional members it does not have', () => {
    expect(new SpiffeBundle({ trustDomain: TD }).toJson()).toBe('{"keys":[]}');
  });
});

describe('SpiffeBundle values', () => {
  it('refuses halves of another trust domain: TRUST_DOMAIN_MISMATCH', () => {
    const elsewhere = TrustDomain.parse('example.com');
    expect(failure(() => new SpiffeBundle({ trustDomain: TD, x509: new X509Bundle(elsewhere, []) })).code).toBe('TRUST_DOMAIN_MISMATCH');
    expect(failure(() => new SpiffeBundle({ trustDomain: TD, jwt: new JwtBundle(elsewhere, new Map()) })).code).toBe('TRUST_DOMAIN_MISMATCH');
  });

  it('refuses a sequence outside uint64 and a refresh hint that is not whole seconds', () => {
    expect(failure(() => new SpiffeBundle({ trustDomain: TD, sequence: -1n })).code).toBe('BAD_SEQUENCE');
    expect(failure(() => new SpiffeBundle({ trustDomain: TD, sequence: 2n ** 64n })).code).toBe('BAD_SEQUENCE');
    expect(failure(() => new SpiffeBundle({ trustDomain: TD, refreshHintSeconds: 1.5 })).code).toBe('BAD_REFRESH_HINT');
    expect(failure(() => new SpiffeBundle({ trustDomain: TD, refreshHintSeconds: -1 })).code).toBe('BAD_REFRESH_HINT');
  });

  it('is equal only when every part is', () => {
    const base = { trustDomain: TD, x509: new X509Bundle(TD, [ca.der]), sequence: 1n, refreshHintSeconds: 5 };
    const one = new SpiffeBundle(base);
    expect(one.equals(new SpiffeBundle(base))).toBe(true);
    expect(one.equals(new SpiffeBundle({ ...base, sequence: 2n }))).toBe(false);
    expect(one.equals(new SpiffeBundle({ ...base, refreshHintSeconds: 6 }))).toBe(false);
    expect(one.equals(new SpiffeBundle({ ...base, x509: new X509Bundle(TD, [other.der]) }))).toBe(false);
    expect(one.equals(new SpiffeBundle({ ...base, jwt: new JwtBundle(TD, new Map([['k', JWT]])) }))).toBe(false);
    expect(one.equals(new SpiffeBundle({ ...base, witKeys: [{ use: 'wit-svid', ...JWT, kid: 'w' }] }))).toBe(false);
  });
});
