import { createHash } from 'node:crypto';
import type { SpiffeId, TrustDomain } from '../spiffe/index.js';
import { samePosture, type Posture } from './posture.js';

/** One registration entry: a workload whose selectors all match gets this SPIFFE ID. */
export interface Entry {
  /** sha256 of the SPIFFE ID and the sorted selectors, first 16 hex: the same entry keeps its id
   * across reloads (and edits of its TTLs or hint), so caches keyed by it stay warm. */
  readonly id: string;
  readonly spiffeId: SpiffeId;
  /** Canonical `type:key:value` strings (parseSelector), sorted, each once; never empty. */
  readonly selectors: readonly string[];
  readonly x509SvidTtlSeconds: number | undefined;
  readonly jwtSvidTtlSeconds: number | undefined;
  readonly dnsNames: readonly string[];
  readonly hint: string | undefined;
  readonly federatesWith: readonly TrustDomain[];
  /** Checks of the process besides its selectors (posture.ts); undefined: none. Not part of the
   * id: tightening an entry's posture keeps its SVID cache, and re-judges its holders. */
  readonly posture: Posture | undefined;
  /** 1-based line where the entry starts in its file. */
  readonly line: number;
}

/** Neither a SPIFFE ID nor a selector can hold NUL, so the joined text names one pair only. */
export function entryId(spiffeId: SpiffeId, sortedSelectors: readonly string[]): string {
  return createHash('sha256').update([spiffeId.toString(), ...sortedSelectors].join('\0')).digest('hex').slice(0, 16);
}

/**
 * Same entries, in the same order (the first SVID of a response is the workload's default), with
 * the same fields. Lines are left out: a comment added above an entry changes nothing it serves.
 */
export function sameEntries(a: readonly Entry[], b: readonly Entry[]): boolean {
  return a.length === b.length && a.every((e, i) => {
    const o = b[i];
    return o !== undefined && e.id === o.id && e.x509SvidTtlSeconds === o.x509SvidTtlSeconds
      && e.jwtSvidTtlSeconds === o.jwtSvidTtlSeconds && e.hint === o.hint && sameList(e.dnsNames, o.dnsNames)
      && sameList(e.federatesWith.map(String), o.federatesWith.map(String)) && samePosture(e.posture, o.posture);
  });
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

// RFC 1035 labels (letters, digits, inner hyphens; 1-63 bytes), RFC 6125 wildcard in the first.
const LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/** Why `name` cannot go in an SVID's DNS SANs, or undefined when it can. */
export function dnsNameProblem(name: string): string | undefined {
  if (name.length > 253) return 'a DNS name is at most 253 characters';
  const labels = name.split('.');
  const rest = labels[0] === '*' && labels.length > 2 ? labels.slice(1) : labels;
  if (rest.some((l) => !LABEL.test(l))) {
    return `"${name}" is not a DNS name (labels of 1-63 letters, digits and inner hyphens; "*." only first)`;
  }
  return undefined;
}

/** The Workload API spec: servers SHOULD NOT support hints longer than 1024 bytes. */
export const MAX_HINT_BYTES = 1024;
/** SPIFFE-ID.md: IDs longer than 2048 bytes SHOULD NOT be issued. */
export const MAX_SPIFFE_ID_BYTES = 2048;
