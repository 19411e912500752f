import 'reflect-metadata'; // @peculiar/x509's ASN.1 schemas need it loaded first
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import {
  BasicConstraintsExtension, KeyUsageFlags, KeyUsagesExtension, SubjectAlternativeNameExtension,
  X509Certificate as AsnCertificate,
} from '@peculiar/x509';
import { SpiffeError, type X509SvidErrorCode } from './errors.js';
import { readPemBlocks } from './pem.js';
import { SpiffeId } from './spiffe-id.js';
import type { TrustDomain } from './trust-domain.js';
import type { X509Bundle } from './x509-bundle.js';

/** An X509-SVID as a workload holds it: its ID, the chain (DER, leaf first) and the leaf's key. */
export type X509Svid = { readonly id: SpiffeId; readonly chain: readonly Buffer[]; readonly privateKey: KeyObject };

/** A verified chain: the leaf's ID and the path, leaf first, ending at the bundle authority. */
export type VerifiedX509Svid = { readonly id: SpiffeId; readonly chain: readonly Buffer[] };

/** The X.509 bundle of a trust domain, or undefined when the caller trusts none for it. */
export type X509BundleSource = (trustDomain: TrustDomain) => X509Bundle | undefined;

/** One certificate read twice: node:crypto for keys and signatures, @peculiar/x509 for extensions. */
type Cert = { readonly der: Buffer; readonly node: X509Certificate; readonly asn: AsnCertificate; readonly label: string };

// The extensions whose rules this file applies; RFC 5280 6.1.4 (o): any other critical one fails the path.
const HANDLED_CRITICAL = new Set(['2.5.29.15', '2.5.29.17', '2.5.29.19', '2.5.29.37']);

const fail = (code: X509SvidErrorCode, message: string, cause?: unknown): SpiffeError =>
  new SpiffeError(code, message, cause === undefined ? undefined : { cause });

/**
 * Structural parse, as go-spiffe x509svid.Parse: CERTIFICATE blocks are the chain, one PKCS#8
 * PRIVATE KEY block the key (both may share one PEM text). No signature, chain or time checks.
 * Order follows go-spiffe, so a vector's `reason` names the same first broken rule.
 */
export function parseX509Svid(certsPem: string | Buffer, keyPem: string | Buffer): X509Svid {
  const certs = pemBlocks(certsPem, 'the certificate PEM')
    .filter((b) => b.type === 'CERTIFICATE')
    .map((b, i) => parseCert(b.der, certLabel(i)));
  const keyBlocks = pemBlocks(keyPem, 'the private key PEM');
  const keys = keyBlocks.filter((b) => b.type === 'PRIVATE KEY').map((b) => parseKey(b.der));
  const id = checkChain(certs);
  const privateKey = onlyKey(keys, keyBlocks.map((b) => b.type));
  const leaf = certs[0] as Cert; // checkChain refused an empty chain
  if (!leaf.node.checkPrivateKey(privateKey)) {
    throw fail('KEY_MISMATCH', 'the leaf certificate does not match the private key');
  }
  return { id, chain: certs.map((c) => c.der), privateKey };
}

/** The structural parse without a key (`tether svid inspect` with no --key): chain rules only. */
export function parseX509SvidChain(certsPem: string | Buffer): { id: SpiffeId; chain: readonly Buffer[] } {
  const certs = pemBlocks(certsPem, 'the certificate PEM')
    .filter((b) => b.type === 'CERTIFICATE')
    .map((b, i) => parseCert(b.der, certLabel(i)));
  return { id: checkChain(certs), chain: certs.map((c) => c.der) };
}

/** The leaf rules of X509-SVID.md (stricter than go-spiffe Verify); returns the leaf's SPIFFE ID. */
export function checkLeaf(cert: Buffer | X509Certificate): SpiffeId {
  return leafRules(toCert(cert, 'the leaf certificate'));
}

/** The signing-certificate rules: a CA, allowed to sign certificates. */
export function checkSigningCert(cert: Buffer | X509Certificate): void {
  signingRules(toCert(cert, 'the signing certificate'));
}

/**
 * Verifies an X509-SVID chain (DER, leaf first, the root optional) against the bundle of the
 * leaf's trust domain at `now`: the leaf and signing rules, then RFC 5280 path validation
 * (issuer names and keys, signatures, CA flags, path lengths, critical extensions, validity).
 */
export function verifyX509Svid(
  chain: readonly Buffer[], bundles: X509BundleSource, options: { now: Date },
): VerifiedX509Svid {
  const certs = chain.map((der, i) => parseCert(der, certLabel(i)));
  const id = checkChain(certs);
  const bundle = bundles(id.trustDomain);
  if (bundle === undefined) {
    throw fail('NO_BUNDLE_FOR_TRUST_DOMAIN', `no X.509 bundle for trust domain ${id.trustDomain.name} of ${id.toString()}`);
  }
  for (const cert of certs) {
    checkValidity(cert, options.now);
    checkCriticalExtensions(cert);
  }
  for (let i = 0; i + 1 < certs.length; i++) checkIssuedBy(certs[i] as Cert, certs[i + 1] as Cert);
  const top = certs[certs.length - 1] as Cert;
  const anchor = findAnchor(top, bundle, options.now);
  const path = anchor === undefined ? certs : [...certs, anchor];
  path.forEach((cert, i) => checkPathLength(cert, i));
  return { id, chain: path.map((c) => c.der) };
}

function checkChain(certs: readonly Cert[]): SpiffeId {
  const [leaf, ...signers] = certs;
  if (leaf === undefined) throw fail('NO_CERTIFICATES', 'no certificates found');
  const id = leafRules(leaf);
  signers.forEach(signingRules);
  return id;
}

function leafRules(cert: Cert): SpiffeId {
  const id = uriSanId(cert);
  if (id.isRoot()) throw fail('ROOT_PATH_ID', `${cert.label} SPIFFE ID ${id.toString()} must have a non-root path`);
  if (cert.asn.getExtension(BasicConstraintsExtension)?.ca === true) {
    throw fail('LEAF_IS_CA', `${cert.label} must not have the CA flag set`);
  }
  // An absent key usage extension has no digitalSignature either (conformance x509-parse-21).
  const usages = cert.asn.getExtension(KeyUsagesExtension)?.usages ?? 0;
  if ((usages & KeyUsageFlags.digitalSignature) === 0) {
    throw fail('LEAF_MISSING_DIGITAL_SIGNATURE', `${cert.label} must have key usage digitalSignature`);
  }
  if ((usages & KeyUsageFlags.keyCertSign) !== 0) {
    throw fail('LEAF_HAS_KEY_CERT_SIGN', `${cert.label} must not have key usage keyCertSign`);
  }
  if ((usages & KeyUsageFlags.cRLSign) !== 0) throw fail('LEAF_HAS_CRL_SIGN', `${cert.label} must not have key usage cRLSign`);
  return id;
}

function signingRules(cert: Cert): void {
  if (cert.asn.getExtension(BasicConstraintsExtension)?.ca !== true) {
    throw fail('SIGNING_CERT_NOT_CA', `${cert.label} must have the CA flag set`);
  }
  const usages = cert.asn.getExtension(KeyUsagesExtension)?.usages ?? 0;
  if ((usages & KeyUsageFlags.keyCertSign) === 0) {
    throw fail('SIGNING_CERT_MISSING_KEY_CERT_SIGN', `${cert.label} must have key usage keyCertSign`);
  }
}

/** Exactly one URI SAN, even if another is not spiffe:// (X509-SVID.md 2); DNS and others may sit beside it. */
function uriSanId(cert: Cert): SpiffeId {
  const uris = (cert.asn.getExtension(SubjectAlternativeNameExtension)?.names.items ?? [])
    .filter((name) => name.type === 'url')
    .map((name) => name.value);
  const [uri, ...more] = uris;
  if (uri === undefined) throw fail('NO_URI_SAN', `${cert.label} has no URI SAN`);
  if (more.length > 0) throw fail('MULTIPLE_URI_SANS', `${cert.label} has ${uris.length} URI SANs; an SVID has exactly one`);
  try {
    return SpiffeId.parse(uri);
  } catch (cause) {
    throw fail('BAD_URI_SAN', `${cert.label} URI SAN ${JSON.stringify(uri)} is not a SPIFFE ID`, cause);
  }
}

function checkValidity(cert: Cert, now: Date): void {
  const { notBefore, notAfter } = cert.asn;
  const window = `valid ${iso(notBefore)} to ${iso(notAfter)}`;
  // Written so that an invalid `now` (NaN) fails closed.
  if (!(now.getTime() >= notBefore.getTime())) throw fail('NOT_YET_VALID', `${cert.label} is not yet valid at ${iso(now)} (${window})`);
  if (!(now.getTime() <= notAfter.getTime())) throw fail('EXPIRED', `${cert.label} has expired at ${iso(now)} (${window})`);
}

function checkCriticalExtensions(cert: Cert): void {
  const unhandled = cert.asn.extensions.find((ext) => ext.critical && !HANDLED_CRITICAL.has(ext.type));
  if (unhandled !== undefined) {
    throw fail('UNTRUSTED_CHAIN', `${cert.label} has critical extension ${unhandled.type}, which this verifier does not process`);
  }
}

function checkIssuedBy(cert: Cert, issuer: Cert): void {
  if (!cert.node.checkIssued(issuer.node)) {
    throw fail('UNTRUSTED_CHAIN', `${cert.label} (issuer ${cert.node.issuer}) is not issued by ${issuer.label} (${issuer.node.subject})`);
  }
  if (!signedBy(cert, issuer.node)) throw fail('BAD_SIGNATURE', `the signature of ${cert.label} does not verify with the key of ${issuer.label}`);
}

/**
 * The bundle authority the chain ends at: undefined when the top certificate is an authority
 * itself, else an authority that issued and signed it and is valid at `now`.
 */
function findAnchor(top: Cert, bundle: X509Bundle, now: Date): Cert | undefined {
  const authorities = bundle.certificates();
  if (authorities.some((a) => a.raw.equals(top.der))) return undefined;
  const td = bundle.trustDomain.name;
  const issuers = authorities.filter((a) => top.node.checkIssued(a));
  if (issuers.length === 0) {
    throw fail('UNTRUSTED_CHAIN', `${top.label} (issuer ${top.node.issuer}) is not issued by an authority of the bundle of ${td}`);
  }
  const signers = issuers.filter((a) => signedBy(top, a)).map((a) => toCert(a, `the trust anchor ${a.subject}`));
  const anchor = signers.find((a) => isValidAt(a, now)) ?? signers[0];
  if (anchor === undefined) throw fail('BAD_SIGNATURE', `the signature of ${top.label} does not verify with any authority of ${td}`);
  checkValidity(anchor, now); // when no signer is valid at `now`: throws, naming the anchor and its dates
  return anchor;
}

/** RFC 5280 4.2.1.9: at most pathLenConstraint intermediates below a CA (self-issued ones counted too). */
function checkPathLength(cert: Cert, index: number): void {
  const limit = index > 0 ? cert.asn.getExtension(BasicConstraintsExtension)?.pathLength : undefined;
  if (limit !== undefined && index - 1 > limit) {
    throw fail('UNTRUSTED_CHAIN', `${cert.label} allows ${limit} intermediates below it (pathLenConstraint), the chain has ${index - 1}`);
  }
}

const iso = (d: Date): string => (Number.isNaN(d.getTime()) ? 'an invalid date' : d.toISOString());

function isValidAt(cert: Cert, now: Date): boolean {
  return now.getTime() >= cert.asn.notBefore.getTime() && now.getTime() <= cert.asn.notAfter.getTime();
}

function signedBy(cert: Cert, issuer: X509Certificate): boolean {
  try {
    return cert.node.verify(issuer.publicKey);
  } catch {
    return false; // an algorithm OpenSSL cannot verify with this key is no valid signature
  }
}

function onlyKey(keys: readonly KeyObject[], blockTypes: readonly string[]): KeyObject {
  const [key, ...more] = keys;
  if (more.length > 0) throw fail('MALFORMED_KEY', `the private key PEM holds ${keys.length} PRIVATE KEY blocks; which one is meant is unclear`);
  if (key !== undefined) return key;
  const others = blockTypes.filter((t) => t.endsWith('PRIVATE KEY'));
  const hint = others.length > 0 ? ` (found ${others.join(', ')}; the key must be PKCS#8, "PRIVATE KEY")` : '';
  throw fail('NO_PRIVATE_KEY', `no private key found${hint}`);
}

function parseKey(der: Buffer): KeyObject {
  try {
    return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  } catch (cause) {
    throw fail('MALFORMED_KEY', 'the PRIVATE KEY block is not a PKCS#8 private key', cause);
  }
}

function toCert(cert: Buffer | X509Certificate, label: string): Cert {
  return parseCert(Buffer.isBuffer(cert) ? cert : cert.raw, label);
}

function parseCert(der: Buffer, label: string): Cert {
  let cert: Cert;
  try {
    cert = { der, node: new X509Certificate(der), asn: new AsnCertificate(der), label };
  } catch (cause) {
    throw fail('MALFORMED_CERTIFICATE', `${label} is not a DER X.509 certificate`, cause);
  }
  if (!cert.node.raw.equals(der)) throw fail('MALFORMED_CERTIFICATE', `${label} has bytes after its DER certificate`);
  const types = cert.asn.extensions.map((ext) => ext.type);
  const repeated = types.find((t, i) => types.indexOf(t) !== i);
  if (repeated !== undefined) throw fail('MALFORMED_CERTIFICATE', `${label} has extension ${repeated} twice (RFC 5280 4.2)`);
  return cert;
}

function certLabel(index: number): string {
  return index === 0 ? 'the leaf certificate' : `certificate ${index + 1} of the chain`;
}

function pemBlocks(input: string | Buffer, what: string): { type: string; der: Buffer }[] {
  // A body that is not base64 (headers of an encrypted key, say) reads as no DER: malformed.
  const blocks = readPemBlocks(input).map((b) => ({ type: b.label, der: b.der ?? Buffer.alloc(0) }));
  if (blocks.length === 0) throw fail('NOT_PEM', `${what} holds no PEM block`);
  return blocks;
}
