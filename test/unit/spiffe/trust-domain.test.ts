import { describe, expect, it } from 'vitest';
import { SpiffeError, TrustDomain } from '../../../agent/spiffe/index.js';

function failure(input: string): SpiffeError {
  try {
    TrustDomain.parse(input);
  } catch (error) {
    expect(error).toBeInstanceOf(SpiffeError);
    return error as SpiffeError;
  }
  throw new Error(`TrustDomain.parse(${JSON.stringify(input)}) did not throw`);
}

describe('TrustDomain.parse: a bare name', () => {
  it('keeps a valid name as given', () => {
    const td = TrustDomain.parse('prod-1.example_org');
    expect(td.name).toBe('prod-1.example_org');
    expect(td.toString()).toBe('prod-1.example_org');
    expect(td.idString()).toBe('spiffe://prod-1.example_org');
  });

  it('rejects an empty name: MISSING_TRUST_DOMAIN', () => {
    expect(failure('').code).toBe('MISSING_TRUST_DOMAIN');
  });

  it('rejects upper case instead of folding it: BAD_TRUST_DOMAIN_CHAR naming the char and index', () => {
    const error = failure('exAmple.org');
    expect(error.code).toBe('BAD_TRUST_DOMAIN_CHAR');
    expect(error.message).toContain('"A" (U+0041) at index 2');
  });

  it('rejects U+212A KELVIN SIGN, which Unicode folding would turn into "k"', () => {
    const error = failure('\u212Aube');
    expect(error.code).toBe('BAD_TRUST_DOMAIN_CHAR');
    expect(error.message).toContain('U+212A at index 0');
  });

  it('names a character outside the BMP by its code point', () => {
    expect(failure('a\u{1F92F}').message).toContain('U+1F92F at index 1');
  });

  it('rejects a port, userinfo and percent-encoding as characters', () => {
    for (const input of ['example.org:8080', 'user@example.org', 'example%2eorg']) {
      expect(failure(input).code).toBe('BAD_TRUST_DOMAIN_CHAR');
    }
  });

  it('accepts 255 bytes and rejects 256: TRUST_DOMAIN_TOO_LONG', () => {
    expect(TrustDomain.parse('a'.repeat(255)).name).toHaveLength(255);
    const error = failure('a'.repeat(256));
    expect(error.code).toBe('TRUST_DOMAIN_TOO_LONG');
    expect(error.message).toContain('256 bytes');
  });
});

describe('TrustDomain.parse: a SPIFFE ID', () => {
  it('takes the trust domain of a valid ID', () => {
    expect(TrustDomain.parse('spiffe://example.org/ns/default').name).toBe('example.org');
    expect(TrustDomain.parse('spiffe://example.org').name).toBe('example.org');
  });

  it('refuses the trust domain of an ID whose path is invalid', () => {
    expect(failure('spiffe://example.org/a/').code).toBe('TRAILING_SLASH');
  });

  it('reads anything with ":/" as an ID, so a one-slash scheme is WRONG_SCHEME', () => {
    expect(failure('spiffe:/example.org').code).toBe('WRONG_SCHEME');
    expect(failure('SPIFFE://example.org').code).toBe('WRONG_SCHEME');
  });

  it('points the index of a bad character into the whole input', () => {
    expect(failure('spiffe://exa$mple.org').message).toContain('"$" (U+0024) at index 12');
  });
});

describe('TrustDomain equality', () => {
  it('is byte equality of canonical names', () => {
    expect(TrustDomain.parse('example.org').equals(TrustDomain.parse('spiffe://example.org/x'))).toBe(true);
    expect(TrustDomain.parse('example.org').equals(TrustDomain.parse('example.org.'))).toBe(false);
    expect(TrustDomain.parse('example.org').equals(TrustDomain.parse('example.com'))).toBe(false);
  });
});
