import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { beforeAll, describe, expect, it } from 'vitest';
import { SpiffeError, TrustDomain, X509Bundle } from '../../../agent/spiffe/index.js';

x509.cryptoProvider.set(webcrypto);
const TD = TrustDomain.parse('example.org');
const EC = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };

/** A self-signed CA made at test time: what a bundle holds. */
async function selfSignedCa(cn: string): Promise<Buffer> {
  const keys = (await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name: `CN=${cn}`, keys, signingAlgorithm: EC, serialNumber: '01',
    notBefore: new Date('2024-01-01T00:00:00Z'), notAfter: new Date('2099-01-01T00:00:00Z'),
    extensions: [new x509.BasicConstraintsExtension(true, undefined, true)],
  });
  return Buffer.from(cert.rawData);
}

function pemBlock(label: string, der: Buffer): string {
  return `-----BEGIN ${label}-----\n${der.toString('base64').replace(/.{64}/g, '$&\n')}\n-----END ${label}-----\n`;
}

function failure(fn: () => unknown): SpiffeError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(SpiffeError);
    return error as SpiffeError;
  }
  throw new Error('expected a SpiffeError');
}

let a: Buffer;
let b: Buffer;
beforeAll(async () => {
  [a, b] = await Promise.all([selfSignedCa('root a'), selfSignedCa('root b')]);
});

describe('X509Bundle.parsePem', () => {
  it('reads every CERTIFICATE block in order', () => {
    const bundle = X509Bundle.parsePem(TD, pemBlock('CERTIFICATE', a) + pemBlock('CERTIFICATE', b));
    expect(bundle.size).toBe(2);
    expect(bundle.certificates().map((c) => c.subject)).toEqual(['CN=root a', 'CN=root b']);
    expect(bundle.trustDomain.equals(TD)).toBe(true);
  });

  it('reads empty input as an empty bundle, from a string or a Buffer', () => {
    expect(X509Bundle.parsePem(TD, '').size).toBe(0);
    expect(X509Bundle.parsePem(TD, Buffer.alloc(0)).size).toBe(0);
  });

  it('rejects non-empty input without any PEM block: NOT_PEM', () => {
    expect(failure(() => X509Bundle.parsePem(TD, 'hello')).code).toBe('NOT_PEM');
    expect(failure(() => X509Bundle.parsePem(TD, '\n')).code).toBe('NOT_PEM');
  });

  it('does not count a BEGIN line without its END line as a block', () => {
    const truncated = pemBlock('CERTIFICATE', a).replace('-----END CERTIFICATE-----', '');
    expect(failure(() => X509Bundle.parsePem(TD, truncated)).code).toBe('NOT_PEM');
  });

  it('skips blocks of other types and text between blocks', () => {
    const pem = `${pemBlock('PRIVATE KEY', Buffer.from('not read'))}comment\n${pemBlock('CERTIFICATE', a)}`;
    expect(X509Bundle.parsePem(TD, pem).size).toBe(1);
  });

  it('accepts CRLF line endings', () => {
    expect(X509Bundle.parsePem(TD, pemBlock('CERTIFICATE', a).replace(/\n/g, '\r\n')).size).toBe(1);
  });

  it.each([
    ['invalid base64', (pem: string) => pem.replace(/^M/m, '!')],
    ['trailing bytes after the certificate', () => pemBlock('CERTIFICATE', Buffer.concat([a, Buffer.from([0])]))],
    ['a DER SEQUENCE that is not a certificate', () => pemBlock('CERTIFICATE', Buffer.from([0x30, 0x03, 0x02, 0x01, 0x01]))],
    ['an empty block', () => '-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n'],
  ])('rejects a CERTIFICATE block holding %s: MALFORMED_CERTIFICATE', (_what, make) => {
    expect(failure(() => X509Bundle.parsePem(TD, make(pemBlock('CERTIFICATE', a)))).code).toBe('MALFORMED_CERTIFICATE');
  });
});

describe('X509Bundle.parseDer', () => {
  it('splits certificates sent back to back', () => {
    const bundle = X509Bundle.parseDer(TD, Buffer.concat([a, b]));
    expect(bundle.authorities()).toEqual([a, b]);
  });

  it('reads no bytes as an empty bundle', () => {
    expect(X509Bundle.parseDer(TD, Buffer.alloc(0)).size).toBe(0);
  });

  it.each([
    ['a truncated last certificate', () => Buffer.concat([a, b.subarray(0, b.length - 1)])],
    ['a tag other than SEQUENCE', () => Buffer.concat([a, Buffer.from([0x31, 0x00])])],
    ['an indefinite (BER) length', () => Buffer.from([0x30, 0x80, 0x00, 0x00])],
    ['a non-minimal length', () => Buffer.from([0x30, 0x81, 0x01, 0x00])],
    ['a lone tag byte', () => Buffer.from([0x30])],
  ])('rejects %s: MALFORMED_DER', (_what, make) => {
    expect(failure(() => X509Bundle.parseDer(TD, make())).code).toBe('MALFORMED_DER');
  });

  it('rejects a well-framed SEQUENCE that is not X.509: MALFORMED_CERTIFICATE', () => {
    expect(failure(() => X509Bundle.parseDer(TD, Buffer.from([0x30, 0x03, 0x02, 0x01, 0x01]))).code).toBe('MALFORMED_CERTIFICATE');
  });
});

describe('X509Bundle round trips', () => {
  it('PEM -> bundle -> DER -> bundle -> PEM gives the same bundle and text', () => {
    const pem = pemBlock('CERTIFICATE', a) + pemBlock('CERTIFICATE', b);
    const fromPem = X509Bundle.parsePem(TD, pem);
    const fromDer = X509Bundle.parseDer(TD, fromPem.toDer());
    expect(fromDer.equals(fromPem)).toBe(true);
    expect(fromDer.toPem()).toBe(pem);
    expect(X509Bundle.parsePem(TD, fromDer.toPem()).equals(fromPem)).toBe(true);
  });

  it('writes RFC 7468 PEM: 64-column base64 lines', () => {
    const lines = new X509Bundle(TD, [a]).toPem().trimEnd().split('\n');
    expect(lines[0]).toBe('-----BEGIN CERTIFICATE-----');
    expect(lines.at(-1)).toBe('-----END CERTIFICATE-----');
    expect(lines.slice(1, -2).every((l) => l.length === 64)).toBe(true);
    expect(new X509Bundle(TD, []).toPem()).toBe('');
  });
});

describe('X509Bundle values', () => {
  it('copies its input: later writes to the caller\'s buffer change nothing', () => {
    const mine = Buffer.from(a);
    const bundle = new X509Bundle(TD, [mine]);
    mine.fill(0);
    expect(bundle.authorities()[0]).toEqual(a);
    bundle.authorities()[0]?.fill(0);
    expect(bundle.toDer()).toEqual(a);
  });

  it('rejects an authority that is not one DER element: MALFORMED_DER', () => {
    expect(failure(() => new X509Bundle(TD, [a.subarray(0, 10)])).code).toBe('MALFORMED_DER');
  });

  it('parses lazily: a well-framed non-certificate fails in certificates(), not before', () => {
    const bundle = new X509Bundle(TD, [Buffer.from([0x30, 0x03, 0x02, 0x01, 0x01])]);
    expect(failure(() => bundle.certificates()).code).toBe('MALFORMED_CERTIFICATE');
  });

  it('parses each certificate once', () => {
    const bundle = new X509Bundle(TD, [a]);
    expect(bundle.certificates()[0]).toBe(bundle.certificates()[0]);
    expect(bundle.certificates()[0]?.raw).toEqual(a);
  });

  it('is equal only with the same trust domain and certificates in the same order', () => {
    const ab = new X509Bundle(TD, [a, b]);
    expect(ab.equals(new X509Bundle(TD, [a, b]))).toBe(true);
    expect(ab.equals(new X509Bundle(TD, [b, a]))).toBe(false);
    expect(ab.equals(new X509Bundle(TD, [a]))).toBe(false);
    expect(ab.equals(new X509Bundle(TrustDomain.parse('example.com'), [a, b]))).toBe(false);
  });
});
