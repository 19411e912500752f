import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { JwtBundle, SpiffeBundle, SpiffeError, TrustDomain, X509Bundle } from '../../../agent/spiffe/index.js';

/** ../shared/conformance bundle vectors, read in place; levels as in conformance/README.md. */
const CONFORMANCE = fileURLToPath(new URL('../../../../shared/conformance/', import.meta.url));
const TD = TrustDomain.parse('example.org');

interface BundleCase {
  readonly id: string;
  readonly operation: 'parseJwks' | 'parseSpiffeBundle' | 'parseBundle';
  readonly file?: string;
  readonly bundle?: string;
  readonly valid: boolean;
  readonly level: 'must' | 'divergent' | 'either';
  readonly reason?: string;
  readonly jwtAuthorities?: number;
  readonly x509Authorities?: number;
  readonly witAuthorities?: number;
  readonly authorities?: number;
  readonly refreshHintSeconds?: number;
  readonly sequenceNumber?: number;
}

/**
 * bundle-07 (`either`) has no "keys" member at all. Its reason, no_authorities, is go-spiffe's
 * message for that very rule (Parse checks `jwks.Keys == nil`); Tether names the rule it breaks,
 * "keys MUST be present", MISSING_KEYS, and keeps NO_AUTHORITIES for a non-empty "keys" with
 * nothing usable in it (spiffe-bundle.test.ts).
 */
const CODE_FOR_REASON: Readonly<Record<string, string>> = { 'bundle-07': 'MISSING_KEYS' };

function attempt<T>(fn: () => T): { ok: true; value: T } | { ok: false; error: SpiffeError } {
  try {
    return { ok: true, value: fn() };
  } catch (error) {
    expect(error).toBeInstanceOf(SpiffeError);
    return { ok: false, error: error as SpiffeError };
  }
}

function checkVerdict(c: BundleCase, outcome: { ok: boolean; error?: SpiffeError }): void {
  if (c.level !== 'either') expect(outcome.ok, `${c.id} verdict`).toBe(c.valid);
  if (!outcome.ok && c.reason !== undefined) {
    expect(outcome.error?.code).toBe(CODE_FOR_REASON[c.id] ?? c.reason.toUpperCase());
  }
}

const table = <T extends { id: string }>(cases: readonly T[]): Array<[string, T]> => cases.map((c) => [c.id, c]);

describe('bundles/index.json', () => {
  const { cases } = JSON.parse(readFileSync(`${CONFORMANCE}bundles/index.json`, 'utf8')) as { cases: BundleCase[] };

  it('holds the 9 cases the README counts', () => {
    expect(cases).toHaveLength(9);
  });

  it.each(table(cases.filter((c) => c.operation === 'parseJwks')))('%s (JWKS)', (_id, c) => {
    const outcome = attempt(() => JwtBundle.parseJwks(TD, readFileSync(`${CONFORMANCE}bundles/${c.file}`)));
    checkVerdict(c, outcome);
    if (outcome.ok) {
      expect(outcome.value.size).toBe(c.jwtAuthorities);
      expect(JwtBundle.parseJwks(TD, outcome.value.toJwks()).equals(outcome.value)).toBe(true);
    }
  });

  it.each(table(cases.filter((c) => c.operation === 'parseSpiffeBundle')))('%s (SPIFFE bundle)', (_id, c) => {
    const outcome = attempt(() => SpiffeBundle.parse(TD, readFileSync(`${CONFORMANCE}bundles/${c.file}`)));
    checkVerdict(c, outcome);
    if (!outcome.ok) return;
    const bundle = outcome.value;
    expect(bundle.x509.size).toBe(c.x509Authorities);
    expect(bundle.jwt.size).toBe(c.jwtAuthorities);
    expect(bundle.witAuthorities).toBe(c.witAuthorities ?? 0);
    expect(bundle.refreshHintSeconds).toBe(c.refreshHintSeconds);
    expect(bundle.sequence).toBe(c.sequenceNumber === undefined ? undefined : BigInt(c.sequenceNumber));
    expect(SpiffeBundle.parse(TD, bundle.toJson()).equals(bundle)).toBe(true);
  });
});

describe('x509svid/index.json bundleCases', () => {
  const { bundleCases } = JSON.parse(readFileSync(`${CONFORMANCE}x509svid/index.json`, 'utf8')) as { bundleCases: BundleCase[] };

  it('holds the 6 cases the README counts', () => {
    expect(bundleCases).toHaveLength(6);
  });

  it.each(table(bundleCases))('%s', (_id, c) => {
    const outcome = attempt(() => X509Bundle.parsePem(TD, readFileSync(`${CONFORMANCE}x509svid/${c.bundle}`)));
    checkVerdict(c, outcome);
    if (outcome.ok) {
      expect(outcome.value.size).toBe(c.authorities);
      expect(outcome.value.certificates()).toHaveLength(c.authorities ?? -1);
      expect(X509Bundle.parseDer(TD, outcome.value.toDer()).equals(outcome.value)).toBe(true);
    }
  });
});
