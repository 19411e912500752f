import 'reflect-metadata'; // @peculiar/x509 2.x needs it loaded first
import * as x509 from '@peculiar/x509';
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import type { TrustDomain } from '../spiffe/index.js';
import { CaError } from './errors.js';
import { keyTypeOf, type CaKeyType } from './key-type.js';

/** Where `ca.upstream` points: a shared root's certificate and key, read at start, never copied into the state dir (the certificate is). */
export interface UpstreamFiles {
  readonly certFile: string;
  readonly keyFile: string;
}

/**
 * A shared root every agent of the trust domain is given (SPIRE's disk UpstreamAuthority): each
 * agent mints its own intermediate under it, and publishes the root alone as its X.509 bundle.
 * The key is held in memory only.
 */
export interface UpstreamAuthority extends UpstreamFiles {
  readonly der: Buffer;
  readonly cert: X509Certificate;
  readonly privateKey: KeyObject;
  readonly keyType: CaKeyType;
  readonly notAfter: Date;
  /** Oddities that do not stop the agent (a key file others may read), for the log. */
  readonly warnings: readonly string[];
}

/**
 * Reads and checks `ca.upstream`: a self-signed CA certificate (basicConstraints CA:TRUE whose
 * pathLen allows an intermediate, keyUsage keyCertSign), valid at `now`, whose URI SAN (if any)
 * is the trust domain's own ID, and the unencrypted key of that certificate (ec-p256, ec-p384 or
 * rsa-2048). Each refusal is CaError UPSTREAM naming the file.
 */
export async function loadUpstreamAuthority(files: UpstreamFiles, trustDomain: TrustDomain, now: Date): Promise<UpstreamAuthority> {
  const { certFile, keyFile } = files;
  const certBytes = await readUpstreamFile(certFile, 'certFile');
  const pemCount = certBytes.toString('latin1').split('-----BEGIN CERTIFICATE-----').length - 1;
  if (pemCount > 1) {
    throw refuse(certFile, `ca.upstream.certFile ${certFile} holds ${pemCount} certificates; it must hold the one shared root`);
  }
  let cert: X509Certificate;
  let parsed: x509.X509Certificate;
  try {
    cert = new X509Certificate(certBytes);
    parsed = new x509.X509Certificate(cert.raw);
  } catch (err) {
    throw refuse(certFile, `ca.upstream.certFile ${certFile} does not hold an X.509 certificate (PEM or DER)`, err);
  }
  checkCaCertificate(certFile, cert, parsed);
  checkValidity(certFile, cert, now);
  checkTrustDomain(certFile, parsed, trustDomain);

  const keyBytes = await readUpstreamFile(keyFile, 'keyFile');
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: keyBytes, format: keyBytes.toString('latin1').includes('-----BEGIN') ? 'pem' : 'der',
      ...(keyBytes.toString('latin1').includes('-----BEGIN') ? {} : { type: 'pkcs8' as const }) });
  } catch (err) {
    throw refuse(keyFile, `ca.upstream.keyFile ${keyFile} does not hold an unencrypted private key (PEM, or PKCS#8 DER)`, err);
  }
  const keyType = keyTypeOf(privateKey);
  if (keyType === undefined) {
    throw refuse(keyFile, `ca.upstream.keyFile ${keyFile} holds a ${privateKey.asymmetricKeyType ?? 'unknown'} key; an upstream root key must be ec-p256, ec-p384 or rsa-2048`);
  }
  if (!cert.checkPrivateKey(privateKey)) {
    throw refuse(keyFile, `ca.upstream.keyFile ${keyFile} is not the key of the certificate in ca.upstream.certFile ${certFile}`);
  }
  const mode = (await stat(keyFile)).mode & 0o777;
  const warnings = (mode & 0o077) === 0 ? [] : [`ca.upstream.keyFile ${keyFile} has mode ${mode.toString(8)}; it should be 600 (the root key signs for the whole trust domain)`];
  return { certFile, keyFile, der: cert.raw, cert, privateKey, keyType, notAfter: new Date(cert.validTo), warnings };
}

function checkCaCertificate(certFile: string, cert: X509Certificate, parsed: x509.X509Certificate): void {
  const constraints = parsed.getExtension(x509.BasicConstraintsExtension);
  if (constraints === null || !constraints.ca) {
    throw refuse(certFile, `ca.upstream.certFile ${certFile} is not a CA certificate (basicConstraints CA:TRUE is required)`);
  }
  if (constraints.pathLength !== undefined && constraints.pathLength < 1) {
    throw refuse(certFile, `ca.upstream.certFile ${certFile} has pathlen ${constraints.pathLength}, which allows no intermediate under it; `
      + 'each agent signs with its own intermediate');
  }
  const usages = parsed.getExtension(x509.KeyUsagesExtension);
  if (usages === null || (usages.usages & x509.KeyUsageFlags.keyCertSign) === 0) {
    throw refuse(certFile, `ca.upstream.certFile ${certFile} is not a CA certificate (keyUsage keyCertSign is required)`);
  }
  if (!cert.ca) throw refuse(certFile, `ca.upstream.certFile ${certFile} is not a CA certificate (OpenSSL does not take it as one)`);
  if (!(cert.checkIssued(cert) && cert.verify(cert.publicKey))) {
    throw refuse(certFile, `ca.upstream.certFile ${certFile} is not self-signed; ca.upstream takes the root itself, which is what the bundle publishes`);
  }
}

/** A root made moments ago on a host whose clock runs a little ahead (automation minting it right
 * before the deploy) is taken (its SVIDs verify once the root's notBefore has passed); one that
 * starts later than this is refused. */
const CLOCK_SKEW_MS = 5 * 60_000;

function checkValidity(certFile: string, cert: X509Certificate, now: Date): void {
  const notBefore = new Date(cert.validFrom);
  const notAfter = new Date(cert.validTo);
  if (notAfter <= now) throw refuse(certFile, `ca.upstream.certFile ${certFile} expired at ${notAfter.toISOString()}`);
  if (notBefore.getTime() > now.getTime() + CLOCK_SKEW_MS) {
    throw refuse(certFile, `ca.upstream.certFile ${certFile} is not valid before ${notBefore.toISOString()} (more than 5 minutes from now)`);
  }
}

/** X509-SVID.md 4.1: a signing certificate MAY carry a URI SAN; it must then be the trust domain's ID, with no path. */
function checkTrustDomain(certFile: string, parsed: x509.X509Certificate, trustDomain: TrustDomain): void {
  const san = parsed.getExtension(x509.SubjectAlternativeNameExtension);
  const uris = san?.names.items.filter((n) => n.type === 'url').map((n) => n.value) ?? [];
  const foreign = uris.filter((u) => u !== trustDomain.idString());
  if (foreign.length > 0) {
    throw refuse(certFile, `ca.upstream.certFile ${certFile} names ${foreign.join(', ')} in its URI SAN, `
      + `not ${trustDomain.idString()}: it is not a root of this trust domain`);
  }
}

async function readUpstreamFile(path: string, key: 'certFile' | 'keyFile'): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw refuse(path, `ca.upstream.${key} ${path} does not exist`, err);
    throw refuse(path, `ca.upstream.${key} ${path} cannot be read (${code ?? 'error'})`, err);
  }
}

function refuse(path: string, message: string, cause?: unknown): CaError {
  return new CaError('UPSTREAM', message, { path, ...(cause === undefined ? {} : { cause }) });
}
