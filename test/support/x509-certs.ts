import 'reflect-metadata';
import { createPrivateKey, webcrypto, type KeyObject } from 'node:crypto';
import * as x509 from '@peculiar/x509';

/**
 * Certificates built at test time, shaped as SPIRE issues them (EC P-256, SKI/AKI, critical key
 * usage and basic constraints), with one knob per X509-SVID rule so a test can break exactly
 * one. Not a CA: no policy here, only what a test asks for.
 */
x509.cryptoProvider.set(webcrypto);

export const { KeyUsageFlags } = x509;
export const LEAF_USAGES = x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment | x509.KeyUsageFlags.keyAgreement;
export const CA_USAGES = x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature;
const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };

export type Issued = {
  readonly der: Buffer;
  readonly pem: string;
  /** PKCS#8 PEM of the certificate's key. */
  readonly keyPem: string;
  readonly privateKey: KeyObject;
  readonly keys: webcrypto.CryptoKeyPair;
  readonly cert: x509.X509Certificate;
};

export type CertSpec = {
  readonly subject: string;
  readonly uris?: readonly string[];
  readonly dns?: readonly string[];
  /** undefined: no basicConstraints extension at all. */
  readonly ca?: boolean;
  readonly pathLength?: number;
  /** null: no keyUsage extension at all. */
  readonly usages: number | null;
  readonly notBefore?: Date;
  readonly notAfter?: Date;
  /** Self-signed when absent. */
  readonly issuer?: Issued;
  readonly extensions?: readonly x509.Extension[];
};

export const DEFAULT_NOT_BEFORE = new Date('2024-01-01T00:00:00Z');
export const DEFAULT_NOT_AFTER = new Date('2099-12-31T23:59:59Z');

export async function issue(spec: CertSpec): Promise<Issued> {
  const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const signer = spec.issuer?.keys ?? keys;
  const extensions: x509.Extension[] = [
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    await x509.AuthorityKeyIdentifierExtension.create(signer.publicKey),
  ];
  if (spec.ca !== undefined) extensions.push(new x509.BasicConstraintsExtension(spec.ca, spec.pathLength, true));
  if (spec.usages !== null) extensions.push(new x509.KeyUsagesExtension(spec.usages, true));
  const names = [
    ...(spec.uris ?? []).map((value) => ({ type: 'url' as const, value })),
    ...(spec.dns ?? []).map((value) => ({ type: 'dns' as const, value })),
  ];
  if (names.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(names));
  extensions.push(...(spec.extensions ?? []));
  const cert = await x509.X509CertificateGenerator.create({
    subject: spec.subject,
    issuer: spec.issuer?.cert.subject ?? spec.subject,
    notBefore: spec.notBefore ?? DEFAULT_NOT_BEFORE,
    notAfter: spec.notAfter ?? DEFAULT_NOT_AFTER,
    publicKey: keys.publicKey,
    signingKey: signer.privateKey,
    signingAlgorithm: ALG,
    extensions,
  });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
  const privateKey = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' });
  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  return { der: Buffer.from(cert.rawData), pem: cert.toString('pem') + '\n', keyPem, privateKey, keys, cert };
}

/** A root CA of the trust domain, as SPIRE makes it: URI SAN spiffe://<td>, CA, keyCertSign. */
export function root(td: string, more: Partial<CertSpec> = {}): Promise<Issued> {
  return issue({ subject: `CN=root ${td}`, uris: [`spiffe://${td}`], ca: true, usages: CA_USAGES, ...more });
}

export function intermediate(issuer: Issued, td: string, more: Partial<CertSpec> = {}): Promise<Issued> {
  return issue({ subject: `CN=intermediate ${td}`, uris: [`spiffe://${td}`], ca: true, usages: CA_USAGES, issuer, ...more });
}

/** A good leaf for `id`; `more` breaks one rule at a time. */
export function leaf(issuer: Issued, id: string, more: Partial<CertSpec> = {}): Promise<Issued> {
  const eku = new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]);
  return issue({ subject: 'O=SPIRE,C=US', uris: [id], ca: false, usages: LEAF_USAGES, issuer, extensions: [eku], ...more });
}

export function pemChain(...certs: readonly Issued[]): string {
  return certs.map((c) => c.pem).join('');
}

/** A CA made elsewhere (openssl: a shared upstream root) as an issuer for issue(): its PEM
 * certificate and its unencrypted EC P-256 key (PEM, PKCS#8 or SEC1). */
export async function importIssuer(certPem: string, keyPem: string): Promise<Issued> {
  const cert = new x509.X509Certificate(certPem);
  const privateKey = createPrivateKey(keyPem);
  const pkcs8 = privateKey.export({ type: 'pkcs8', format: 'der' });
  const alg = { name: 'ECDSA', namedCurve: 'P-256' };
  const keys = {
    privateKey: await webcrypto.subtle.importKey('pkcs8', pkcs8, alg, true, ['sign']),
    publicKey: await cert.publicKey.export(alg, ['verify']),
  } as webcrypto.CryptoKeyPair;
  const pem = cert.toString('pem') + '\n';
  return { der: Buffer.from(cert.rawData), pem, keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), privateKey, keys, cert };
}
