import 'reflect-metadata'; // before @peculiar/x509
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import { beforeAll, describe, expect, it } from 'vitest';
import { SpiffeError } from '../../../agent/spiffe/errors.js';
import { TrustDomain } from '../../../agent/spiffe/trust-domain.js';
import { X509Bundle } from '../../../agent/spiffe/x509-bundle.js';
import {
  checkLeaf, checkSigningCert, parseX509Svid, verifyX509Svid, type X509BundleSource,
} from '../../../agent/spiffe/x509-svid.js';
import {
  DEFAULT_NOT_AFTER, DEFAULT_NOT_BEFORE, KeyUsageFlags, intermediate, leaf, pemChain, root, type Issued,
} from '../../support/x509-certs.js';

const TD = 'domain1.test';
const ID = `spiffe://${TD}/workload`;
const NOW = { now: new Date('2030-06-01T00:00:00Z') };

/** The SpiffeError that f throws, or undefined; anything else is a bug and rethrown. */
function errorOf(f: () => unknown): SpiffeError | undefined {
  try {
    f();
    return undefined;
  } catch (err) {
    if (err instanceof SpiffeError) return err;
    throw err;
  }
}
const codeOf = (f: () => unknown): string => errorOf(f)?.code ?? 'no error';

function bundleOf(td: string, ...authorities: readonly Issued[]): X509Bundle {
  return X509Bundle.parsePem(TrustDomain.parse(td), pemChain(...authorities));
}

function only(bundle: X509Bundle): X509BundleSource {
  return (td) => (td.equals(bundle.trustDomain) ? bundle : undefined);
}

/** The same DER with the last byte of its signature flipped: structure intact, signature wrong. */
function tampered(der: Buffer): Buffer {
  const copy = Buffer.from(der);
  copy[copy.length - 1] = (copy[copy.length - 1] ?? 0) ^ 0x01;
  return copy;
}

let ca: Issued;
let mid: Issued;
let good: Issued;
let goodUnderMid: Issued;

beforeAll(async () => {
  ca = await root(TD);
  mid = await intermediate(ca, TD);
  good = await leaf(ca, ID);
  goodUnderMid = await leaf(mid, ID);
});

describe('parseX509Svid', () => {
  it('parses a leaf-only and a leaf + intermediate SVID, key and chain from one PEM or two', () => {
    const svid = parseX509Svid(good.pem, good.keyPem);
    expect(svid.id.toString()).toBe(ID);
    expect(svid.chain).toEqual([good.der]);
    expect(svid.privateKey.type).toBe('private');
    const chained = parseX509Svid(Buffer.from(goodUnderMid.keyPem + pemChain(goodUnderMid, mid)), goodUnderMid.keyPem);
    expect(chained.chain).toEqual([goodUnderMid.der, mid.der]);
  });

  it('allows DNS SANs beside the one URI SAN', async () => {
    const withDns = await leaf(ca, ID, { dns: ['workload.domain1.test'] });
    expect(parseX509Svid(withDns.pem, withDns.keyPem).id.toString()).toBe(ID);
  });

  it('does not look at time: an expired SVID parses', async () => {
    const old = await leaf(ca, ID, { notBefore: new Date('2001-01-01Z'), notAfter: new Date('2001-01-02Z') });
    expect(parseX509Svid(old.pem, old.keyPem).id.toString()).toBe(ID);
  });

  it.each([
    ['NOT_PEM', 'certificates that are not PEM', () => parseX509Svid('not pem', good.keyPem)],
    ['NOT_PEM', 'a key that is not PEM', () => parseX509Svid(good.pem, good.der)],
    ['NO_CERTIFICATES', 'no CERTIFICATE block', () => parseX509Svid(good.keyPem, good.keyPem)],
    ['MALFORMED_CERTIFICATE', 'a CERTIFICATE block that is no certificate',
      () => parseX509Svid('-----BEGIN CERTIFICATE-----\nMAMCAQE=\n-----END CERTIFICATE-----\n', good.keyPem)],
    ['MALFORMED_CERTIFICATE', 'a CERTIFICATE block that is not base64',
      () => parseX509Svid(good.pem.replace(/\n([A-Za-z0-9+/]{8})/, '\n$1*'), good.keyPem)],
    ['NO_PRIVATE_KEY', 'no PRIVATE KEY block', () => parseX509Svid(good.pem, good.pem)],
    ['MALFORMED_KEY', 'a PRIVATE KEY block that is no PKCS#8 key',
      () => parseX509Svid(good.pem, '-----BEGIN PRIVATE KEY-----\nMAMCAQE=\n-----END PRIVATE KEY-----\n')],
    ['MALFORMED_KEY', 'two PRIVATE KEY blocks', () => parseX509Svid(good.pem, good.keyPem + mid.keyPem)],
    ['KEY_MISMATCH', 'the key of another certificate', () => parseX509Svid(good.pem, mid.keyPem)],
  ])('rejects %s: %s', (code, _what, f) => {
    expect(codeOf(f)).toBe(code);
  });

  it('names a SEC1 key as not PKCS#8 when it is the only key', () => {
    const sec1 = good.privateKey.export({ type: 'sec1', format: 'pem' }).toString();
    const err = errorOf(() => parseX509Svid(good.pem, sec1));
    expect(err?.code).toBe('NO_PRIVATE_KEY');
    expect(err?.message).toContain('EC PRIVATE KEY');
  });
});

describe('the leaf and signing-certificate rules', () => {
  const leafCases: ReadonlyArray<readonly [string, string, (ca: Issued) => Promise<Issued>]> = [
    ['NO_URI_SAN', 'no SAN at all', (c) => leaf(c, ID, { uris: [] })],
    ['NO_URI_SAN', 'only a DNS SAN', (c) => leaf(c, ID, { uris: [], dns: ['workload.domain1.test'] })],
    ['MULTIPLE_URI_SANS', 'a second URI SAN that is not spiffe://', (c) => leaf(c, ID, { uris: [ID, 'https://domain1.test/x'] })],
    ['MULTIPLE_URI_SANS', 'two SPIFFE IDs', (c) => leaf(c, ID, { uris: [ID, `${ID}-2`] })],
    ['BAD_URI_SAN', 'a URI SAN that is not spiffe://', (c) => leaf(c, 'https://domain1.test/workload')],
    ['BAD_URI_SAN', 'an upper-case trust domain', (c) => leaf(c, 'spiffe://Domain1.test/workload')],
    ['ROOT_PATH_ID', 'the trust domain ID', (c) => leaf(c, `spiffe://${TD}`)],
    ['LEAF_IS_CA', 'cA=true', (c) => leaf(c, ID, { ca: true })],
    ['LEAF_MISSING_DIGITAL_SIGNATURE', 'no key usage extension', (c) => leaf(c, ID, { usages: null })],
    ['LEAF_MISSING_DIGITAL_SIGNATURE', 'key usage without digitalSignature', (c) => leaf(c, ID, { usages: KeyUsageFlags.keyEncipherment })],
    ['LEAF_HAS_KEY_CERT_SIGN', 'keyCertSign', (c) => leaf(c, ID, { usages: KeyUsageFlags.digitalSignature | KeyUsageFlags.keyCertSign })],
    ['LEAF_HAS_CRL_SIGN', 'cRLSign', (c) => leaf(c, ID, { usages: KeyUsageFlags.digitalSignature | KeyUsageFlags.cRLSign })],
  ];

  it.each(leafCases)('rejects a leaf with %s: %s, in parse, checkLeaf and verify', async (code, _what, build) => {
    const bad = await build(ca);
    expect(codeOf(() => parseX509Svid(bad.pem, bad.keyPem))).toBe(code);
    expect(codeOf(() => checkLeaf(bad.der))).toBe(code);
    expect(codeOf(() => checkLeaf(new X509Certificate(bad.der)))).toBe(code);
    expect(codeOf(() => verifyX509Svid([bad.der], only(bundleOf(TD, ca)), NOW))).toBe(code);
  });

  it('keeps the SPIFFE ID error as the cause of BAD_URI_SAN', async () => {
    const bad = await leaf(ca, 'spiffe://domain1.test/a//b');
    const err = errorOf(() => checkLeaf(bad.der));
    expect(err?.code).toBe('BAD_URI_SAN');
    expect(err?.cause).toBeInstanceOf(SpiffeError);
    expect((err?.cause as SpiffeError).code).toBe('EMPTY_SEGMENT');
  });

  it('returns the ID of a good leaf, and accepts a good signing certificate', () => {
    expect(checkLeaf(good.der).toString()).toBe(ID);
    expect(codeOf(() => checkSigningCert(mid.der))).toBe('no error');
    expect(codeOf(() => checkSigningCert(new X509Certificate(ca.der)))).toBe('no error');
  });

  it.each([
    ['SIGNING_CERT_NOT_CA', 'cA=false', { ca: false }],
    ['SIGNING_CERT_NOT_CA', 'no basic constraints', { ca: undefined }],
    ['SIGNING_CERT_MISSING_KEY_CERT_SIGN', 'key usage without keyCertSign', { usages: KeyUsageFlags.cRLSign | KeyUsageFlags.digitalSignature }],
    ['SIGNING_CERT_MISSING_KEY_CERT_SIGN', 'no key usage extension', { usages: null }],
  ] as const)('rejects a signing certificate with %s: %s', async (code, _what, more) => {
    const badMid = await intermediate(ca, TD, more);
    const under = await leaf(badMid, ID);
    expect(codeOf(() => checkSigningCert(badMid.der))).toBe(code);
    expect(codeOf(() => parseX509Svid(pemChain(under, badMid), under.keyPem))).toBe(code);
    expect(codeOf(() => verifyX509Svid([under.der, badMid.der], only(bundleOf(TD, ca)), NOW))).toBe(code);
  });

  it('refuses a certificate with one extension twice, or bytes after its DER', async () => {
    const twice = await leaf(ca, ID, { extensions: [new x509.KeyUsagesExtension(KeyUsageFlags.digitalSignature, true)] });
    expect(codeOf(() => checkLeaf(twice.der))).toBe('MALFORMED_CERTIFICATE');
    expect(codeOf(() => checkLeaf(Buffer.concat([good.der, Buffer.from([0])])))).toBe('MALFORMED_CERTIFICATE');
  });
});

describe('verifyX509Svid', () => {
  it('verifies a leaf signed by a bundle root, returning the path up to that root', () => {
    const seen: string[] = [];
    const bundle = bundleOf(TD, mid, ca); // mid, first, did not sign `good`: the verifier must pick ca
    const result = verifyX509Svid([good.der], (td) => (seen.push(td.name), bundle), NOW);
    expect(result.id.toString()).toBe(ID);
    expect(result.chain).toEqual([good.der, ca.der]);
    expect(seen).toEqual([TD]);
  });

  it('verifies leaf + intermediate, and a chain that carries its root', () => {
    const source = only(bundleOf(TD, ca));
    expect(verifyX509Svid([goodUnderMid.der, mid.der], source, NOW).chain).toEqual([goodUnderMid.der, mid.der, ca.der]);
    expect(verifyX509Svid([goodUnderMid.der, mid.der, ca.der], source, NOW).chain).toEqual([goodUnderMid.der, mid.der, ca.der]);
  });

  it('verifies through two intermediates', async () => {
    const mid2 = await intermediate(mid, TD, { subject: 'CN=intermediate 2' });
    const deep = await leaf(mid2, ID);
    expect(verifyX509Svid([deep.der, mid2.der, mid.der], only(bundleOf(TD, ca)), NOW).id.toString()).toBe(ID);
  });

  it('uses only the bundle of the leaf trust domain: NO_BUNDLE_FOR_TRUST_DOMAIN', () => {
    // The right root, filed under another trust domain, must not be used.
    const elsewhere = only(bundleOf('domain2.test', ca));
    expect(codeOf(() => verifyX509Svid([good.der], elsewhere, NOW))).toBe('NO_BUNDLE_FOR_TRUST_DOMAIN');
  });

  it('refuses a chain to a root not in the bundle: UNTRUSTED_CHAIN', async () => {
    const stranger = await root(TD); // same trust domain and subject, another key
    const strangerLeaf = await leaf(stranger, ID);
    const source = only(bundleOf(TD, ca));
    expect(codeOf(() => verifyX509Svid([strangerLeaf.der], source, NOW))).toBe('UNTRUSTED_CHAIN');
    expect(codeOf(() => verifyX509Svid([strangerLeaf.der, stranger.der], source, NOW))).toBe('UNTRUSTED_CHAIN');
    // An intermediate that did not issue the leaf breaks the chain too.
    expect(codeOf(() => verifyX509Svid([good.der, mid.der], source, NOW))).toBe('UNTRUSTED_CHAIN');
  });

  it('refuses a tampered signature: BAD_SIGNATURE, at the root and at an intermediate', () => {
    const source = only(bundleOf(TD, ca));
    expect(codeOf(() => verifyX509Svid([tampered(good.der)], source, NOW))).toBe('BAD_SIGNATURE');
    expect(codeOf(() => verifyX509Svid([tampered(goodUnderMid.der), mid.der], source, NOW))).toBe('BAD_SIGNATURE');
    expect(codeOf(() => verifyX509Svid([goodUnderMid.der, tampered(mid.der)], source, NOW))).toBe('BAD_SIGNATURE');
  });

  it('checks every certificate against the `now` it is given, naming the certificate and its dates', async () => {
    const source = only(bundleOf(TD, ca));
    const before = errorOf(() => verifyX509Svid([good.der], source, { now: new Date('2023-12-31T23:59:59Z') }));
    expect(before?.code).toBe('NOT_YET_VALID');
    expect(before?.message).toContain('leaf');
    expect(before?.message).toContain(DEFAULT_NOT_BEFORE.toISOString());
    const after = errorOf(() => verifyX509Svid([good.der], source, { now: new Date('2100-01-01T00:00:00Z') }));
    expect(after?.code).toBe('EXPIRED');
    expect(after?.message).toContain(DEFAULT_NOT_AFTER.toISOString());
    const shortMid = await intermediate(ca, TD, { notAfter: new Date('2025-01-01T00:00:00Z') });
    const underShort = await leafUnder(shortMid);
    const err = errorOf(() => verifyX509Svid([underShort, shortMid.der], source, NOW));
    expect([err?.code, err?.message.includes('certificate 2 of the chain')]).toEqual(['EXPIRED', true]);
    expect(codeOf(() => verifyX509Svid([good.der], source, { now: new Date(Number.NaN) }))).not.toBe('no error');
  });

  it('refuses an expired trust anchor', async () => {
    const oldRoot = await root(TD, { notAfter: new Date('2025-01-01T00:00:00Z') });
    const underOld = await leafUnder(oldRoot);
    const err = errorOf(() => verifyX509Svid([underOld], only(bundleOf(TD, oldRoot)), NOW));
    expect([err?.code, err?.message.includes('trust anchor')]).toEqual(['EXPIRED', true]);
  });

  it('is stricter than go-spiffe Verify: a root-path ID or no digitalSignature is refused', async () => {
    const source = only(bundleOf(TD, ca));
    const rootPath = await leaf(ca, `spiffe://${TD}`);
    const noSig = await leaf(ca, ID, { usages: KeyUsageFlags.keyAgreement });
    expect(codeOf(() => verifyX509Svid([rootPath.der], source, NOW))).toBe('ROOT_PATH_ID');
    expect(codeOf(() => verifyX509Svid([noSig.der], source, NOW))).toBe('LEAF_MISSING_DIGITAL_SIGNATURE');
  });

  it('applies pathLenConstraint and refuses unknown critical extensions: UNTRUSTED_CHAIN', async () => {
    const strict = await root(TD, { pathLength: 0 });
    const midUnderStrict = await intermediate(strict, TD);
    const under = await leaf(midUnderStrict, ID);
    expect(codeOf(() => verifyX509Svid([under.der, midUnderStrict.der], only(bundleOf(TD, strict)), NOW))).toBe('UNTRUSTED_CHAIN');
    const direct = await leafUnder(strict);
    expect(codeOf(() => verifyX509Svid([direct], only(bundleOf(TD, strict)), NOW))).toBe('no error');
    const odd = await leaf(ca, ID, { extensions: [new x509.Extension('1.3.6.1.4.1.99999.1', true, new Uint8Array([5, 0]))] });
    expect(codeOf(() => verifyX509Svid([odd.der], only(bundleOf(TD, ca)), NOW))).toBe('UNTRUSTED_CHAIN');
  });

  it('refuses an empty chain: NO_CERTIFICATES', () => {
    expect(codeOf(() => verifyX509Svid([], only(bundleOf(TD, ca)), NOW))).toBe('NO_CERTIFICATES');
  });
});

describe('the chains built here are real X.509', () => {
  it('openssl verify accepts the good leaf-only and leaf + intermediate chains, and refuses the tampered one', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tether-x509-'));
    const opensslVerify = (leafPem: string, untrusted: string): string => {
      writeFileSync(join(dir, 'leaf.pem'), leafPem);
      writeFileSync(join(dir, 'untrusted.pem'), untrusted || ca.pem); // openssl wants a file; the root is harmless there
      writeFileSync(join(dir, 'root.pem'), ca.pem);
      const args = ['verify', '-x509_strict', '-CAfile', 'root.pem', '-untrusted', 'untrusted.pem', 'leaf.pem'];
      try {
        return execFileSync('openssl', args, { cwd: dir, encoding: 'utf8', stdio: 'pipe' });
      } catch (err) {
        return `failed: ${String((err as { stderr?: unknown }).stderr)}`;
      }
    };
    try {
      expect(opensslVerify(good.pem, '')).toBe('leaf.pem: OK\n');
      expect(opensslVerify(goodUnderMid.pem, mid.pem)).toBe('leaf.pem: OK\n');
      expect(opensslVerify(new X509Certificate(tampered(good.der)).toString(), '')).toMatch(/^failed:.*signature/s);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

async function leafUnder(issuer: Issued): Promise<Buffer> {
  return (await leaf(issuer, ID)).der;
}
