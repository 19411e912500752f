/**
 * A SPIFFE ID, made only by parsing (SPIFFE-ID.md section 2; go-spiffe spiffeid.FromString).
 * Once built it is valid and canonical, so string equality is identity equality. IDs over the
 * 2048 bytes the spec asks issuers not to exceed still parse: the spec bounds what is minted,
 * not what is read (every SPIFFE library parses them); minting code enforces the limit.
 */
import { checkPath, splitIdString } from './id-grammar.js';
import { TrustDomain } from './trust-domain.js';

export class SpiffeId {
  readonly trustDomain: TrustDomain;
  /** '' for the trust domain's own ID, else "/seg/seg". */
  readonly path: string;
  private readonly text: string;

  private constructor(trustDomain: TrustDomain, path: string) {
    this.trustDomain = trustDomain;
    this.path = path;
    this.text = trustDomain.idString() + path;
  }

  /** "spiffe://<trust domain><path>"; throws SpiffeError naming the first rule broken. */
  static parse(input: string): SpiffeId {
    const parts = splitIdString(input);
    return new SpiffeId(TrustDomain.parse(parts.trustDomain), parts.path);
  }

  /** An ID from a trusted domain and a path that is checked here ('' or "/a/b"). */
  static fromPath(trustDomain: TrustDomain, path: string): SpiffeId {
    checkPath(path);
    return new SpiffeId(trustDomain, path);
  }

  /** The domain's own ID: what a signing authority's certificate carries (no path). */
  isRoot(): boolean {
    return this.path === '';
  }

  memberOf(trustDomain: TrustDomain): boolean {
    return this.trustDomain.equals(trustDomain);
  }

  equals(other: SpiffeId): boolean {
    return this.text === other.text;
  }

  toString(): string {
    return this.text;
  }
}

/** For literals in code and tests: the same rules as parse(), named for intent. */
export function requireSpiffeId(literal: string): SpiffeId {
  return SpiffeId.parse(literal);
}
