import { X509Certificate, randomBytes, sign, type KeyObject } from 'node:crypto';
import type { SpiffeId } from '../spiffe/index.js';
import { bitString, children, explicit, implicit, octetString, readTlv, seq, time, tlv, unsignedInteger } from './der.js';
import { CaError } from './errors.js';
import { P256Keys } from './p256-keys.js';

/** The CA that signs SVIDs: its certificate, key, and the certificates between it and the root. */
export interface SigningAuthority {
  readonly certDer: Buffer;
  readonly privateKey: KeyObject;
  /** Certificates between the issuer and the root, excluding the root; [] when the issuer is the root. */
  readonly chainAbove: readonly Buffer[];
}

export interface MintRequest {
  readonly id: SpiffeId;
  readonly ttlSeconds: number;
  readonly dnsNames?: readonly string[];
  readonly now: Date;
}

export interface MintedX509Svid {
  readonly id: SpiffeId;
  /** DER, leaf first, then the issuer (unless it is the root) and chainAbove. */
  readonly chain: readonly Buffer[];
  readonly privateKeyPkcs8: Buffer;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly serialHex: string;
}

// Fixed parts of every leaf (X509-SVID.md 4.3): key usage critical digitalSignature, CA:FALSE
// critical, EKU serverAuth + clientAuth, a one-value subject.
const OID = (hex: string): Buffer => tlv(0x06, Buffer.from(hex, 'hex'));
const KEY_USAGE = seq(OID('551d0f'), Buffer.from('0101ff', 'hex'), octetString(tlv(0x03, Buffer.from([0x07, 0x80]))));
const BASIC_CONSTRAINTS = seq(OID('551d13'), Buffer.from('0101ff', 'hex'), octetString(seq()));
const EXT_KEY_USAGE = seq(OID('551d25'), octetString(seq(OID('2b06010505070301'), OID('2b06010505070302'))));
const SUBJECT = seq(tlv(0x31, seq(OID('55040a'), tlv(0x0c, Buffer.from('Tether', 'utf8'))))); // O=Tether
const VERSION_3 = explicit(0, tlv(0x02, Buffer.from([2])));
const SIG_ALGS = {
  'P-256': { alg: seq(OID('2a8648ce3d040302')), hash: 'sha256' },
  'P-384': { alg: seq(OID('2a8648ce3d040303')), hash: 'sha384' },
  rsa: { alg: seq(OID('2a864886f70d01010b'), tlv(0x05)), hash: 'sha256' },
} as const;

/**
 * Mints X509-SVIDs under one signing authority: a fresh P-256 key, a TBSCertificate assembled
 * from fixed DER parts (issuer name, algorithm, extensions computed once here), one signature.
 */
export class X509Minter {
  readonly #issuer: SigningAuthority;
  readonly #keys: P256Keys;
  readonly #backdateMs: number;
  readonly #issuerName: Buffer;
  readonly #issuerNotAfter: Date;
  readonly #authorityKeyId: Buffer | undefined;
  readonly #sig: { readonly alg: Buffer; readonly hash: string };
  readonly #chainTail: readonly Buffer[];
  readonly #serials = new Serials();

  constructor(options: { issuer: SigningAuthority; keys?: P256Keys; backdateSeconds?: number }) {
    this.#issuer = options.issuer;
    this.#keys = options.keys ?? new P256Keys();
    this.#backdateMs = (options.backdateSeconds ?? 10) * 1000;
    const cert = new X509Certificate(options.issuer.certDer);
    this.#issuerNotAfter = new Date(cert.validTo);
    this.#sig = signatureAlgorithm(options.issuer.privateKey);
    const { subject, subjectKeyId } = issuerFields(options.issuer.certDer);
    this.#issuerName = subject;
    this.#authorityKeyId = subjectKeyId;
    // The leaf's chain: the issuer itself unless it is a self-signed root, then what lies above it.
    const selfSigned = cert.checkIssued(cert) && cert.verify(cert.publicKey);
    this.#chainTail = selfSigned ? [] : [options.issuer.certDer, ...options.issuer.chainAbove];
  }

  mint(request: MintRequest): MintedX509Svid {
    if (!(request.ttlSeconds > 0)) throw new CaError('MINT_FAILED', `SVID TTL must be positive, got ${request.ttlSeconds}`);
    const notBefore = new Date(request.now.getTime() - this.#backdateMs);
    const wanted = new Date(request.now.getTime() + request.ttlSeconds * 1000);
    // An SVID never outlives the CA that signed it (it could not be verified after).
    const notAfter = wanted < this.#issuerNotAfter ? wanted : this.#issuerNotAfter;
    if (notAfter <= request.now) throw new CaError('MINT_FAILED', `the signing CA expired at ${this.#issuerNotAfter.toISOString()}`);
    const serial = this.#serials.next();
    const key = this.#keys.generate();
    const tbs = seq(
      VERSION_3, unsignedInteger(serial), this.#sig.alg, this.#issuerName,
      seq(time(notBefore), time(notAfter)), SUBJECT, key.spkiDer,
      explicit(3, seq(...this.#extensions(request))),
    );
    const signature = sign(this.#sig.hash, tbs, this.#issuer.privateKey);
    const leaf = seq(tbs, this.#sig.alg, bitString(signature));
    return {
      id: request.id, chain: [leaf, ...this.#chainTail], privateKeyPkcs8: key.pkcs8Der,
      notBefore, notAfter, serialHex: serial.toString('hex'),
    };
  }

  #extensions(request: MintRequest): Buffer[] {
    const names = [implicit(6, Buffer.from(request.id.toString(), 'latin1')),
      ...(request.dnsNames ?? []).map((d) => implicit(2, Buffer.from(d, 'latin1')))];
    const san = seq(OID('551d11'), octetString(seq(...names)));
    const aki = this.#authorityKeyId === undefined ? [] : [seq(OID('551d23'), octetString(seq(implicit(0, this.#authorityKeyId))))];
    return [KEY_USAGE, BASIC_CONSTRAINTS, EXT_KEY_USAGE, san, ...aki];
  }
}

/** Serial numbers: 16 bytes, positive, never shortened (top bits 01), so 126 random bits; drawn
 * from the CSPRNG 256 at a time (one randomBytes call costs as much as DER-encoding a leaf). */
class Serials {
  #pool = Buffer.alloc(0);
  #at = 0;

  next(): Buffer {
    if (this.#at + 16 > this.#pool.length) {
      this.#pool = randomBytes(16 * 256);
      this.#at = 0;
    }
    const serial = Buffer.from(this.#pool.subarray(this.#at, this.#at + 16));
    this.#pool.fill(0, this.#at, this.#at + 16); // a drawn serial is not left lying in the pool
    this.#at += 16;
    serial[0] = ((serial[0] ?? 0) & 0x3f) | 0x40;
    return serial;
  }
}

function signatureAlgorithm(key: KeyObject): { readonly alg: Buffer; readonly hash: string } {
  if (key.asymmetricKeyType === 'rsa') return SIG_ALGS.rsa;
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (key.asymmetricKeyType === 'ec' && (curve === 'prime256v1' || curve === 'P-256')) return SIG_ALGS['P-256'];
  if (key.asymmetricKeyType === 'ec' && (curve === 'secp384r1' || curve === 'P-384')) return SIG_ALGS['P-384'];
  throw new CaError('BAD_KEY_TYPE', `a CA key of type ${key.asymmetricKeyType} ${curve ?? ''} cannot sign SVIDs (ec-p256, ec-p384, rsa-2048)`);
}

/** The issuer's subject (the leaf's issuer, byte for byte) and its subjectKeyIdentifier. */
function issuerFields(certDer: Buffer): { subject: Buffer; subjectKeyId: Buffer | undefined } {
  const cert = readTlv(certDer, 0);
  const tbsTlv = children(certDer, cert)[0];
  if (!tbsTlv) throw new CaError('MINT_FAILED', 'the issuing CA certificate has no TBSCertificate');
  const tbs = children(certDer, tbsTlv);
  const offset = tbs[0]?.tag === 0xa0 ? 1 : 0; // [0] version is optional
  const subject = tbs[offset + 4];
  if (!subject) throw new CaError('MINT_FAILED', 'the issuing CA certificate has no subject');
  const extensions = tbs.find((t) => t.tag === 0xa3);
  let subjectKeyId: Buffer | undefined;
  for (const ext of extensions ? children(certDer, children(certDer, extensions)[0] as ReturnType<typeof readTlv>) : []) {
    const [oid, ...rest] = children(certDer, ext);
    if (!oid || !certDer.subarray(oid.valueStart, oid.end).equals(Buffer.from('551d0e', 'hex'))) continue;
    const value = rest.at(-1); // OCTET STRING wrapping the KeyIdentifier OCTET STRING
    if (value) { const inner = readTlv(certDer, value.valueStart); subjectKeyId = Buffer.from(certDer.subarray(inner.valueStart, inner.end)); }
  }
  return { subject: Buffer.from(certDer.subarray(subject.start, subject.end)), subjectKeyId };
}
