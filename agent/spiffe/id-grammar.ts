/**
 * The grammar of SPIFFE-ID.md section 2, shared by TrustDomain and SpiffeId so that neither
 * imports the other. Checks run left to right, like go-spiffe's spiffeid.FromString, so the
 * error is the first rule the input breaks and names the character or segment and its index.
 * Only ASCII is ever accepted: no case folding, no percent-decoding, no Unicode normalisation.
 */
import { SpiffeError } from './errors.js';

export const SPIFFE_SCHEME = 'spiffe://';
export const MAX_TRUST_DOMAIN_BYTES = 255;

/** [a-z0-9._-]: lower case only (SPIRE parity), so each trust domain has one spelling. */
function isTrustDomainChar(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2e || c === 0x2d || c === 0x5f;
}

/** [A-Za-z0-9._-]: the path is case-sensitive. */
function isPathChar(c: number): boolean {
  return isTrustDomainChar(c) || (c >= 0x41 && c <= 0x5a);
}

/** `"$" (U+0024)`: printable ASCII quoted, everything else by code point only. */
export function describeChar(text: string, index: number): string {
  const cp = text.codePointAt(index) ?? 0;
  const hex = `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;
  return cp > 0x20 && cp < 0x7f ? `${JSON.stringify(String.fromCodePoint(cp))} (${hex})` : hex;
}

/**
 * Checks a bare trust domain name. `offset` is where the name starts in the caller's input, so
 * the index in a message points into what the caller passed.
 */
export function checkTrustDomainName(name: string, offset = 0): void {
  if (name.length === 0) throw new SpiffeError('MISSING_TRUST_DOMAIN', 'trust domain is missing');
  for (let i = 0; i < name.length; i++) {
    if (!isTrustDomainChar(name.charCodeAt(i))) {
      throw new SpiffeError('BAD_TRUST_DOMAIN_CHAR',
        'trust domain characters are limited to lowercase letters, numbers, dots, dashes, and underscores: '
        + `${describeChar(name, i)} at index ${offset + i}`);
    }
  }
  // Every char is ASCII by now, so length in UTF-16 units is length in bytes.
  if (name.length > MAX_TRUST_DOMAIN_BYTES) {
    throw new SpiffeError('TRUST_DOMAIN_TOO_LONG',
      `trust domain is ${name.length} bytes; the maximum is ${MAX_TRUST_DOMAIN_BYTES}`);
  }
}

/** Checks a path: '' or "/seg/seg", segments of [A-Za-z0-9._-], none empty, "." or "..". */
export function checkPath(path: string, offset = 0): void {
  if (path === '') return;
  if (path[0] !== '/') {
    throw new SpiffeError('NO_LEADING_SLASH', `path must be empty or begin with "/": got ${describeChar(path, 0)} at index ${offset}`);
  }
  let start = 0; // index of the '/' that opens the current segment
  let segment = 1;
  for (let i = 1; i <= path.length; i++) {
    if (i === path.length || path[i] === '/') {
      checkSegment(path.slice(start + 1, i), segment, offset + start, i === path.length);
      start = i;
      segment++;
      continue;
    }
    if (!isPathChar(path.charCodeAt(i))) {
      throw new SpiffeError('BAD_PATH_SEGMENT_CHAR',
        'path segment characters are limited to letters, numbers, dots, dashes, and underscores: '
        + `${describeChar(path, i)} at index ${offset + i} in segment ${segment}`);
    }
  }
}

function checkSegment(segment: string, n: number, at: number, last: boolean): void {
  if (segment === '') {
    // An empty last segment is a trailing "/"; an empty one before it is "//".
    if (last) throw new SpiffeError('TRAILING_SLASH', `path cannot have a trailing slash (index ${at})`);
    throw new SpiffeError('EMPTY_SEGMENT', `path cannot contain empty segments: segment ${n} at index ${at} is empty`);
  }
  if (segment === '.' || segment === '..') {
    throw new SpiffeError('DOT_SEGMENT', `path cannot contain dot segments: segment ${n} "${segment}" at index ${at}`);
  }
}

/**
 * Splits "spiffe://<td><path>" and checks both parts. The trust domain runs to the first "/",
 * so a port, userinfo, query or fragment there is a bad trust domain character, as in go-spiffe.
 */
export function splitIdString(input: string): { readonly trustDomain: string; readonly path: string } {
  if (input.length === 0) throw new SpiffeError('EMPTY', 'SPIFFE ID cannot be empty');
  if (!input.startsWith(SPIFFE_SCHEME)) {
    throw new SpiffeError('WRONG_SCHEME',
      `scheme is missing or invalid: a SPIFFE ID begins with "spiffe://" (lower case); got ${JSON.stringify(input.slice(0, 9))}`);
  }
  const rest = input.slice(SPIFFE_SCHEME.length);
  const slash = rest.indexOf('/');
  const trustDomain = slash < 0 ? rest : rest.slice(0, slash);
  checkTrustDomainName(trustDomain, SPIFFE_SCHEME.length);
  const path = slash < 0 ? '' : rest.slice(slash);
  checkPath(path, SPIFFE_SCHEME.length + trustDomain.length);
  return { trustDomain, path };
}
