import 'reflect-metadata';
import { execFileSync } from 'node:child_process';
import { X509Certificate, createPrivateKey, createPublicKey, sign, verify } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { P256Keys } from '../../../agent/ca/p256-keys.js';
import { X509Minter, type SigningAuthority } from '../../../agent/ca/x509-minter.js';
import { TrustDomain, X509Bundle, requireSpiffeId, verifyX509Svid } from '../../../agent/spiffe/index.js';

// CAs made with openssl (an independent implementation), SVIDs from the minter's hand-written
// DER, checked by openssl, node's X509Certificate, @peculiar/x509 and our own verifier.
let dir: string;
let NOW: Date; // taken after the CAs exist: openssl truncates their notBefore to the second

function openssl(...args: string[]): string {
  return execFileSync('openssl', args, { encoding: 'utf8', cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
}

function rootCa(name: string, keyArgs: string[]): SigningAuthority {
  openssl('req', '-x509', '-newkey', ...keyArgs, '-nodes', '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '2',
    '-subj', `/O=Test/CN=${name}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    '-addext', 'subjectKeyIdentifier=hash');
  return {
    certDer: new X509Certificate(openssl('x509', '-in', `${name}.pem`)).raw,
    privateKey: createPrivateKey(openssl('pkey', '-in', `${name}.key`)),
    chainAbove: [],
  };
}

function pem(der: Buffer): string {
  return new X509Certificate(der).toString();
}

describe('X509Minter', () => {
  let p256: SigningAuthority;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'tether-minter-'));
    p256 = rootCa('root-p256', ['ec', '-pkeyopt', 'ec_paramgen_curve:P-256']);
    NOW = new Date(Date.now() + 1000);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each([
    ['ec-p256', ['ec', '-pkeyopt', 'ec_paramgen_curve:P-256']],
    ['ec-p384', ['ec', '-pkeyopt', 'ec_paramgen_curve:P-384']],
    ['rsa-2048', ['rsa:2048']],
  ])('mints what openssl verifies under a %s root, with the SPIFFE extensions', (name, keyArgs) => {
    const ca = name === 'ec-p256' ? p256 : rootCa(`root-${name}`, keyArgs as string[]);
    NOW = new Date(Date.now() + 1000);
    const minter = new X509Minter({ issuer: ca, keys: new P256Keys() });
    const svid = minter.mint({ id: requireSpiffeId('spiffe://example.org/ns/prod/web'), ttlSeconds: 600, dnsNames: ['web.prod'], now: NOW });
    expect(svid.chain).toHaveLength(1);
    writeFileSync(join(dir, 'leaf.pem'), pem(svid.chain[0] as Buffer));
    writeFileSync(join(dir, 'bundle.pem'), pem(ca.certDer));
    expect(openssl('verify', '-CAfile', 'bundle.pem', 'leaf.pem')).toContain('leaf.pem: OK');
    const text = openssl('x509', '-in', 'leaf.pem', '-noout', '-text');
    expect(text).toMatch(/X509v3 Key Usage: critical\s+Digital Signature\n/);
    expect(text).toMatch(/X509v3 Basic Constraints: critical\s+CA:FALSE/);
    expect(text).toMatch(/URI:spiffe:\/\/example\.org\/ns\/prod\/web, DNS:web\.prod/);
    expect(text).toMatch(/TLS Web Server Authentication, TLS Web Client Authentication/);
    expect(text).toContain('X509v3 Authority Key Identifier');
    // the key handed out is the leaf's
    const leaf = new X509Certificate(svid.chain[0] as Buffer);
    const key = createPrivateKey({ key: svid.privateKeyPkcs8, format: 'der', type: 'pkcs8' });
    expect(verify('sha256', Buffer.from('x'), leaf.publicKey, sign('sha256', Buffer.from('x'), key))).toBe(true);
    expect(createPublicKey(key).export({ type: 'spki', format: 'der' })).toEqual(leaf.publicKey.export({ type: 'spki', format: 'der' }));
    // our own verifier and an independent parser agree
    const bundle = new X509Bundle(TrustDomain.parse('example.org'), [ca.certDer]);
    expect(verifyX509Svid(svid.chain, () => bundle, { now: NOW }).id.toString()).toBe('spiffe://example.org/ns/prod/web');
    const parsed = new x509.X509Certificate(svid.chain[0] as Buffer);
    expect(parsed.serialNumber).toBe(svid.serialHex);
  });

  it('backdates notBefore, takes the TTL, never outlives its CA, and uses fresh serials of 126 random bits', () => {
    const minter = new X509Minter({ issuer: p256, backdateSeconds: 30 });
    const id = requireSpiffeId('spiffe://example.org/a');
    const a = minter.mint({ id, ttlSeconds: 3600, now: NOW });
    const b = minter.mint({ id, ttlSeconds: 10 * 24 * 3600, now: NOW });
    expect(NOW.getTime() - a.notBefore.getTime()).toBe(30_000);
    expect(a.notAfter.getTime() - NOW.getTime()).toBe(3_600_000);
    expect(b.notAfter.getTime()).toBe(new Date(new X509Certificate(p256.certDer).validTo).getTime()); // clipped to the 2-day CA
    expect(a.serialHex).not.toBe(b.serialHex);
    expect(a.serialHex).toMatch(/^[4-7][0-9a-f]{31}$/);
  });

  it('puts an intermediate issuer and what is above it in the chain', () => {
    openssl('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'int.key', '-out', 'int.csr', '-subj', '/O=Test/CN=int');
    writeFileSync(join(dir, 'int.ext'), 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n');
    writeFileSync(join(dir, 'root.pem'), pem(p256.certDer));
    writeFileSync(join(dir, 'root.key'), p256.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    openssl('x509', '-req', '-in', 'int.csr', '-CA', 'root.pem', '-CAkey', 'root.key', '-CAcreateserial', '-days', '1', '-extfile', 'int.ext', '-out', 'int.pem');
    const intermediate: SigningAuthority = {
      certDer: new X509Certificate(openssl('x509', '-in', 'int.pem')).raw, privateKey: createPrivateKey(openssl('pkey', '-in', 'int.key')), chainAbove: [],
    };
    const minter = new X509Minter({ issuer: intermediate });
    const svid = minter.mint({ id: requireSpiffeId('spiffe://example.org/b'), ttlSeconds: 60, now: NOW });
    expect(svid.chain).toHaveLength(2);
    expect(svid.chain[1]).toEqual(intermediate.certDer);
    writeFileSync(join(dir, 'leaf.pem'), pem(svid.chain[0] as Buffer));
    writeFileSync(join(dir, 'untrusted.pem'), pem(svid.chain[1] as Buffer));
    expect(openssl('verify', '-CAfile', 'root.pem', '-untrusted', 'untrusted.pem', 'leaf.pem')).toContain('leaf.pem: OK');
  });

  it('refuses a non-positive TTL and a CA that has expired', () => {
    const minter = new X509Minter({ issuer: p256 });
    const id = requireSpiffeId('spiffe://example.org/c');
    expect(() => minter.mint({ id, ttlSeconds: 0, now: NOW })).toThrow(/TTL must be positive/);
    expect(() => minter.mint({ id, ttlSeconds: 60, now: new Date(NOW.getTime() + 3 * 86400_000) })).toThrow(/expired/);
  });

  it('gives every SVID its own P-256 key, as valid PKCS#8 whose public half is the SPKI', () => {
    const keys = new P256Keys();
    const seen = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const k = keys.generate();
      const priv = createPrivateKey({ key: k.pkcs8Der, format: 'der', type: 'pkcs8' });
      expect(priv.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
      expect(createPublicKey(priv).export({ type: 'spki', format: 'der' })).toEqual(k.spkiDer);
      seen.add(k.pkcs8Der.toString('hex'));
    }
    expect(seen.size).toBe(50);
  });
});
