/**
 * The X.509 authorities of one trust domain: the CA certificates an X509-SVID of that domain
 * must chain to. Held as DER (what the Workload API sends and what equality compares); parsed
 * into node:crypto X509Certificates only when asked, once.
 */
import { X509Certificate } from 'node:crypto';
import { Buffer } from 'node:buffer';
import { SpiffeError } from './errors.js';
import type { TrustDomain } from './trust-domain.js';
import { derElementEnd, readPemBlocks } from './pem.js';

const PEM_LABEL = 'CERTIFICATE';

export class X509Bundle {
  readonly trustDomain: TrustDomain;
  private readonly ders: readonly Buffer[];
  private parsed: readonly X509Certificate[] | undefined;

  /** DER certificates, each exactly one DER element; copied, so later writes by the caller cannot change them. */
  constructor(trustDomain: TrustDomain, authorities: readonly Buffer[]) {
    this.trustDomain = trustDomain;
    this.ders = authorities.map((der, i) => {
      if (derElementEnd(der, 0) !== der.length) {
        throw new SpiffeError('MALFORMED_DER', `authority ${i} is not exactly one DER element`);
      }
      return Buffer.from(der);
    });
  }

  /**
   * PEM as go-spiffe's x509bundle.Parse reads it: empty input is an empty bundle; input with no
   * PEM block at all is not PEM; blocks of other types (a key, a CRL) are skipped; a CERTIFICATE
   * block must hold exactly one X.509 certificate.
   */
  static parsePem(trustDomain: TrustDomain, pem: string | Buffer): X509Bundle {
    const text = typeof pem === 'string' ? pem : pem.toString('latin1');
    if (text.length === 0) return new X509Bundle(trustDomain, []);
    const blocks = readPemBlocks(text);
    if (blocks.length === 0) throw new SpiffeError('NOT_PEM', 'no PEM blocks found');
    const ders: Buffer[] = [];
    for (const [i, block] of blocks.entries()) {
      if (block.label !== PEM_LABEL) continue;
      const der = block.der;
      if (der === undefined || derElementEnd(der, 0) !== der.length) {
        throw new SpiffeError('MALFORMED_CERTIFICATE', `PEM block ${i} (CERTIFICATE) does not hold one DER element`);
      }
      ders.push(der);
    }
    return validated(new X509Bundle(trustDomain, ders));
  }

  /** The Workload API form: DER certificates back to back, split by each SEQUENCE's length. */
  static parseDer(trustDomain: TrustDomain, concatenated: Buffer): X509Bundle {
    const ders: Buffer[] = [];
    for (let at = 0; at < concatenated.length;) {
      const end = derElementEnd(concatenated, at);
      if (end === undefined) {
        throw new SpiffeError('MALFORMED_DER', `certificate ${ders.length} at byte ${at}: not a well-formed DER SEQUENCE`);
      }
      ders.push(concatenated.subarray(at, end));
      at = end;
    }
    return validated(new X509Bundle(trustDomain, ders));
  }

  get size(): number {
    return this.ders.length;
  }

  /** Copies of the DER certificates, in order. */
  authorities(): Buffer[] {
    return this.ders.map((der) => Buffer.from(der));
  }

  /** Parsed once; throws MALFORMED_CERTIFICATE if a constructed-from-DER authority is not X.509. */
  certificates(): X509Certificate[] {
    this.parsed ??= this.ders.map((der, i) => {
      try {
        return new X509Certificate(der);
      } catch (cause) {
        throw new SpiffeError('MALFORMED_CERTIFICATE', `authority ${i} is not an X.509 certificate`, { cause });
      }
    });
    return [...this.parsed];
  }

  toDer(): Buffer {
    return Buffer.concat(this.ders);
  }

  /** One CERTIFICATE block per authority, base64 in 64-column lines (RFC 7468). */
  toPem(): string {
    return this.ders.map((der) => {
      const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
      return `-----BEGIN ${PEM_LABEL}-----\n${lines.join('\n')}\n-----END ${PEM_LABEL}-----\n`;
    }).join('');
  }

  /** Same trust domain and the same certificates in the same order. */
  equals(other: X509Bundle): boolean {
    return this.trustDomain.equals(other.trustDomain) && this.ders.length === other.ders.length
      && this.ders.every((der, i) => other.ders[i]?.equals(der) === true);
  }
}

function validated(bundle: X509Bundle): X509Bundle {
  bundle.certificates();
  return bundle;
}
