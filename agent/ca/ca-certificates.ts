import 'reflect-metadata'; // @peculiar/x509 2.x needs it loaded first
import * as x509 from '@peculiar/x509';
import { KeyObject, X509Certificate, randomBytes, webcrypto } from 'node:crypto';
import type { TrustDomain } from '../spiffe/index.js';
import { CaError } from './errors.js';
import { certificateSigningAlgorithm, generateKeyPair, webCryptoSigningKey, type CaKeyType } from './key-type.js';
import type { UpstreamAuthority } from './upstream.js';

/** A CA certificate with its key: the DER as issued, node's parse of it, the private key. */
export interface CaCertificate {
  readonly der: Buffer;
  readonly cert: X509Certificate;
  readonly privateKey: KeyObject;
}

/** A slot's root: with its key when the agent made it, without when it is the upstream root (whose key is never in the state dir). */
export interface CaRoot {
  readonly der: Buffer;
  readonly cert: X509Certificate;
  readonly privateKey: KeyObject | undefined;
}

export interface CaCertificatesRequest {
  readonly trustDomain: TrustDomain;
  readonly keyType: CaKeyType;
  /** The slot's id, in each subject's CN so an operator can tell CAs apart. */
  readonly id: string;
  readonly now: Date;
  readonly ttlSeconds: number;
  /** Also make a per-agent intermediate under the root, which then signs the SVIDs. */
  readonly intermediate: boolean;
  /** Mint only an intermediate, under this shared root; `ttlSeconds` is then clipped to the root's life. */
  readonly upstream?: UpstreamAuthority | undefined;
}

/** Clock skew between this host and a peer checking what the CA signs. */
const BACKDATE_MS = 10_000;

/**
 * A self-signed root, and an intermediate signed by it when asked. Both: basicConstraints CA
 * critical (pathLen 0 on the intermediate), keyUsage keyCertSign|cRLSign|digitalSignature critical,
 * subjectKeyIdentifier, and the trust domain's path-less SPIFFE ID as URI SAN (X509-SVID.md 4.1:
 * a signing certificate MAY carry one, and it must then have no path). Built with @peculiar/x509:
 * this runs once per rotation, so the generic path is fast enough; SVIDs take X509Minter's.
 */
export async function createCaCertificates(
  request: CaCertificatesRequest,
): Promise<{ readonly root: CaRoot; readonly intermediate: CaCertificate | undefined }> {
  if (request.upstream !== undefined) return createUpstreamIntermediate(request, request.upstream);
  const notBefore = new Date(request.now.getTime() - BACKDATE_MS);
  const notAfter = new Date(request.now.getTime() + request.ttlSeconds * 1000);
  const signingAlgorithm = certificateSigningAlgorithm(request.keyType);
  const rootKeys = await generateKeyPair(request.keyType);
  const rootCert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerialHex(),
    name: `O=Tether, CN=tether root ${request.id}`,
    notBefore, notAfter, keys: rootKeys, signingAlgorithm,
    extensions: await caExtensions(request.trustDomain, rootKeys.publicKey, undefined),
  }, webcrypto);
  const root = caCertificate(rootCert, rootKeys.privateKey);
  if (!request.intermediate) return { root, intermediate: undefined };

  const keys = await generateKeyPair(request.keyType);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerialHex(),
    subject: `O=Tether, CN=tether intermediate ${request.id}`,
    issuer: rootCert.subject,
    notBefore, notAfter, publicKey: keys.publicKey, signingKey: rootKeys.privateKey, signingAlgorithm,
    extensions: [
      ...await caExtensions(request.trustDomain, keys.publicKey, 0),
      await x509.AuthorityKeyIdentifierExtension.create(rootKeys.publicKey, false, webcrypto),
    ],
  }, webcrypto);
  return { root, intermediate: caCertificate(cert, keys.privateKey) };
}

/**
 * An intermediate under the upstream root, with a fresh key: CA:TRUE pathLen 0, the trust domain's
 * ID as URI SAN, authorityKeyIdentifier the root's subjectKeyIdentifier (when it has one), issuer
 * the root's subject as encoded, lifetime min(ttl, the root's remaining life).
 */
async function createUpstreamIntermediate(
  request: CaCertificatesRequest, upstream: UpstreamAuthority,
): Promise<{ readonly root: CaRoot; readonly intermediate: CaCertificate }> {
  const notBefore = new Date(request.now.getTime() - BACKDATE_MS);
  const wanted = request.now.getTime() + request.ttlSeconds * 1000;
  const notAfter = new Date(Math.min(wanted, upstream.notAfter.getTime()));
  if (notAfter <= request.now) {
    throw new CaError('UPSTREAM', `the upstream root ${upstream.certFile} expired at ${upstream.notAfter.toISOString()}; `
      + 'no intermediate can be made under it', { path: upstream.certFile });
  }
  const rootCert = new x509.X509Certificate(upstream.der);
  const rootKeyId = rootCert.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId;
  const keys = await generateKeyPair(request.keyType);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerialHex(),
    subject: `O=Tether, CN=tether intermediate ${request.id}`,
    issuer: rootCert.subjectName,
    notBefore: new Date(Math.max(notBefore.getTime(), new Date(upstream.cert.validFrom).getTime())), notAfter,
    publicKey: keys.publicKey,
    signingKey: await webCryptoSigningKey(upstream.privateKey, upstream.keyType),
    signingAlgorithm: certificateSigningAlgorithm(upstream.keyType),
    extensions: [
      ...await caExtensions(request.trustDomain, keys.publicKey, 0),
      ...(rootKeyId === undefined ? [] : [new x509.AuthorityKeyIdentifierExtension(rootKeyId, false)]),
    ],
  }, webcrypto);
  const intermediate = caCertificate(cert, keys.privateKey);
  if (!(intermediate.cert.checkIssued(upstream.cert) && intermediate.cert.verify(upstream.cert.publicKey))) {
    throw new CaError('UPSTREAM', `an intermediate signed with ${upstream.keyFile} does not chain to ${upstream.certFile}`,
      { path: upstream.certFile });
  }
  return { root: { der: upstream.der, cert: upstream.cert, privateKey: undefined }, intermediate };
}

async function caExtensions(
  trustDomain: TrustDomain, publicKey: webcrypto.CryptoKey, pathLength: number | undefined,
): Promise<x509.Extension[]> {
  const usages = x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature;
  return [
    new x509.BasicConstraintsExtension(true, pathLength, true),
    new x509.KeyUsagesExtension(usages, true),
    await x509.SubjectKeyIdentifierExtension.create(publicKey, false, webcrypto),
    new x509.SubjectAlternativeNameExtension([{ type: 'url', value: trustDomain.idString() }], false),
  ];
}

function caCertificate(cert: x509.X509Certificate, privateKey: webcrypto.CryptoKey): CaCertificate {
  const der = Buffer.from(cert.rawData);
  return { der, cert: new X509Certificate(der), privateKey: KeyObject.from(privateKey) };
}

/** 16 random bytes, top bit clear (positive) and next bit set (never shortened): 126 random bits, past the 64 asked for. */
function randomSerialHex(): string {
  const serial = randomBytes(16);
  serial[0] = ((serial[0] ?? 0) & 0x7f) | 0x40;
  return serial.toString('hex');
}
