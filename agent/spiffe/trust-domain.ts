/**
 * A trust domain: the authority of a SPIFFE ID, made only by parse(), so a TrustDomain in hand
 * is always a valid, canonical (lower-case ASCII) name and two equal names are one domain.
 */
import { checkTrustDomainName, SPIFFE_SCHEME, splitIdString } from './id-grammar.js';

export class TrustDomain {
  readonly name: string;

  private constructor(name: string) {
    this.name = name;
  }

  /**
   * A bare name ("example.org") or a SPIFFE ID ("spiffe://example.org/path", whose whole ID
   * must be valid). Like go-spiffe's TrustDomainFromString, input containing ":/" is read as an
   * ID, so "spiffe:/example.org" is a wrong scheme rather than a bad character.
   */
  static parse(input: string): TrustDomain {
    if (input.includes(':/')) return new TrustDomain(splitIdString(input).trustDomain);
    checkTrustDomainName(input);
    return new TrustDomain(input);
  }

  /** "spiffe://example.org": the ID of the domain itself (e.g. a signing authority's). */
  idString(): string {
    return SPIFFE_SCHEME + this.name;
  }

  /** Byte equality: names are canonical, so no folding is needed (or allowed). */
  equals(other: TrustDomain): boolean {
    return this.name === other.name;
  }

  toString(): string {
    return this.name;
  }
}
