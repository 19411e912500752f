import { describe, expect, it } from 'vitest';
import { requireSpiffeId, SpiffeError, SpiffeId, TrustDomain, type SpiffeIdErrorCode } from '../../../agent/spiffe/index.js';

function failure(fn: () => unknown): SpiffeError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(SpiffeError);
    return error as SpiffeError;
  }
  throw new Error('expected a SpiffeError');
}

const TD = TrustDomain.parse('example.org');

describe('SpiffeId.parse', () => {
  it('splits an ID into its trust domain and path', () => {
    const id = SpiffeId.parse('spiffe://example.org/ns/prod/sa/Web-1');
    expect(id.trustDomain.name).toBe('example.org');
    expect(id.path).toBe('/ns/prod/sa/Web-1');
    expect(id.toString()).toBe('spiffe://example.org/ns/prod/sa/Web-1');
    expect(id.isRoot()).toBe(false);
  });

  it('parses the trust domain ID itself (empty path)', () => {
    const id = SpiffeId.parse('spiffe://example.org');
    expect(id.path).toBe('');
    expect(id.isRoot()).toBe(true);
  });

  // One row per rule: the first rule broken gives the code; the message names the rule and where.
  it.each<[SpiffeIdErrorCode, string, string]>([
    ['EMPTY', '', 'cannot be empty'],
    ['WRONG_SCHEME', 'Spiffe://example.org/a', 'scheme is missing or invalid'],
    ['MISSING_TRUST_DOMAIN', 'spiffe:///a', 'trust domain is missing'],
    ['BAD_TRUST_DOMAIN_CHAR', 'spiffe://example.org:443/a', '":" (U+003A) at index 20'],
    ['TRUST_DOMAIN_TOO_LONG', `spiffe://${'a'.repeat(256)}/a`, 'the maximum is 255'],
    ['BAD_PATH_SEGMENT_CHAR', 'spiffe://example.org/a/b%2Fc', '"%" (U+0025) at index 24 in segment 2'],
    ['EMPTY_SEGMENT', 'spiffe://example.org/a//b', 'segment 2 at index 22 is empty'],
    ['DOT_SEGMENT', 'spiffe://example.org/a/../b', 'segment 2 ".." at index 22'],
    ['TRAILING_SLASH', 'spiffe://example.org/a/', 'trailing slash (index 22)'],
  ])('rejects %s: %j', (code, input, message) => {
    const error = failure(() => SpiffeId.parse(input));
    expect(error.code).toBe(code);
    expect(error.message).toContain(message);
  });

  it('rejects query, fragment and whitespace as path characters rather than trimming them', () => {
    for (const input of ['spiffe://example.org/a?b=1', 'spiffe://example.org/a#b', 'spiffe://example.org/a\n']) {
      expect(failure(() => SpiffeId.parse(input)).code).toBe('BAD_PATH_SEGMENT_CHAR');
    }
  });

  it('parses IDs past the 2048 bytes issuers must not exceed: the limit is on minting', () => {
    const input = `spiffe://example.org/${'a'.repeat(5000)}`;
    expect(SpiffeId.parse(input).toString()).toBe(input);
  });
});

describe('SpiffeId.fromPath', () => {
  it('builds an ID from a trust domain and a checked path', () => {
    expect(SpiffeId.fromPath(TD, '/a/b').toString()).toBe('spiffe://example.org/a/b');
    expect(SpiffeId.fromPath(TD, '').isRoot()).toBe(true);
  });

  it('rejects a path without its leading slash: NO_LEADING_SLASH', () => {
    expect(failure(() => SpiffeId.fromPath(TD, 'a/b')).code).toBe('NO_LEADING_SLASH');
  });

  it('applies every path rule, with indexes into the path', () => {
    expect(failure(() => SpiffeId.fromPath(TD, '/a/.')).code).toBe('DOT_SEGMENT');
    expect(failure(() => SpiffeId.fromPath(TD, '/a b')).message).toContain('U+0020 at index 2 in segment 1');
  });
});

describe('SpiffeId identity', () => {
  it('compares the whole ID, path case-sensitively', () => {
    const a = SpiffeId.parse('spiffe://example.org/Web');
    expect(a.equals(SpiffeId.fromPath(TD, '/Web'))).toBe(true);
    expect(a.equals(SpiffeId.parse('spiffe://example.org/web'))).toBe(false);
    expect(a.equals(SpiffeId.parse('spiffe://example.com/Web'))).toBe(false);
  });

  it('knows its trust domain', () => {
    const id = SpiffeId.parse('spiffe://example.org/web');
    expect(id.memberOf(TD)).toBe(true);
    expect(id.memberOf(TrustDomain.parse('example.com'))).toBe(false);
  });
});

describe('requireSpiffeId', () => {
  it('returns the parsed literal', () => {
    expect(requireSpiffeId('spiffe://example.org/web').path).toBe('/web');
  });

  it('throws SpiffeError on an invalid literal', () => {
    expect(failure(() => requireSpiffeId('spiffe://example.org/web/')).code).toBe('TRAILING_SLASH');
  });
});
