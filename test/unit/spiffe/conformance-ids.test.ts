import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseEndpointAddress, SpiffeError, SpiffeId, TrustDomain } from '../../../agent/spiffe/index.js';

/**
 * ../shared/conformance, read in place (STYLE.md 13). Levels (conformance/README.md): `must`
 * and `divergent` assert the verdict given (divergent: SPIRE's side); `either` asserts only the
 * fields of an accepted input. A `reason` is asserted as our code, upper-cased.
 */
const CONFORMANCE = fileURLToPath(new URL('../../../../shared/conformance/', import.meta.url));

type Level = 'must' | 'divergent' | 'either';
interface IdCase {
  readonly id: string;
  readonly input: string;
  readonly valid: boolean;
  readonly level: Level;
  readonly reason?: string;
  readonly trustDomain?: string;
  readonly path?: string;
  readonly form?: 'name' | 'id';
  readonly goSpiffeErrorContains?: string;
}

function load<T>(file: string): T {
  return JSON.parse(readFileSync(CONFORMANCE + file, 'utf8')) as T;
}

type Outcome<T> = { ok: true; value: T } | { ok: false; error: SpiffeError };

function attempt<T>(fn: () => T): Outcome<T> {
  try {
    return { ok: true, value: fn() };
  } catch (error) {
    expect(error).toBeInstanceOf(SpiffeError); // never a TypeError or a RangeError
    return { ok: false, error: error as SpiffeError };
  }
}

function checkVerdict(c: IdCase, outcome: Outcome<unknown>): void {
  if (c.level !== 'either') expect(outcome.ok, `${c.id} verdict`).toBe(c.valid);
  if (!outcome.ok && c.reason !== undefined) expect(outcome.error.code).toBe(c.reason.toUpperCase());
}

const table = <T extends { id: string }>(cases: readonly T[]): Array<[string, T]> => cases.map((c) => [c.id, c]);

describe('spiffe-id-cases.json', () => {
  const cases = load<IdCase[]>('spiffe-id-cases.json');

  it('holds the 114 cases the README counts', () => {
    expect(cases).toHaveLength(114);
  });

  it.each(table(cases))('%s', (_id, c) => {
    const outcome = attempt(() => SpiffeId.parse(c.input));
    checkVerdict(c, outcome);
    if (outcome.ok) {
      expect(outcome.value.trustDomain.name).toBe(c.trustDomain);
      expect(outcome.value.path).toBe(c.path);
      expect(outcome.value.toString()).toBe(c.input); // accepted input is already canonical
    }
  });
});

describe('trust-domain-cases.json', () => {
  const cases = load<IdCase[]>('trust-domain-cases.json');

  it('holds the 63 cases the README counts, in both forms', () => {
    expect(cases).toHaveLength(63);
    expect(new Set(cases.map((c) => c.form))).toEqual(new Set(['name', 'id']));
  });

  it.each(table(cases))('%s', (_id, c) => {
    const outcome = attempt(() => TrustDomain.parse(c.input));
    checkVerdict(c, outcome);
    if (outcome.ok) {
      expect(outcome.value.name).toBe(c.trustDomain);
      expect(outcome.value.toString()).toBe(c.trustDomain);
      expect(outcome.value.idString()).toBe(`spiffe://${c.trustDomain}`);
    }
    // The ID form is the ID's own verdict: the trust domain of an invalid ID is not taken.
    if (c.form === 'id') expect(attempt(() => SpiffeId.parse(c.input)).ok).toBe(outcome.ok);
  });
});

describe('endpoint-address-cases.json', () => {
  const { cases } = load<{ cases: IdCase[] }>('endpoint-address-cases.json');

  it('holds the 25 cases the README counts', () => {
    expect(cases).toHaveLength(25);
  });

  it.each(table(cases))('%s', (_id, c) => {
    const outcome = attempt(() => parseEndpointAddress(c.input));
    checkVerdict(c, outcome);
    if (outcome.ok) {
      // The vectors carry no parsed fields: derive them from the input's own text.
      const tcp = /^tcp:\/\/([0-9.]+):([0-9]+)$/.exec(c.input);
      const expected = tcp
        ? { kind: 'tcp', host: tcp[1], port: Number(tcp[2]) }
        : { kind: 'unix', path: c.input.slice('unix://'.length) };
      expect(outcome.value).toEqual(expected);
    } else {
      expect(outcome.error.code).toBe('BAD_ENDPOINT_ADDRESS');
      // Our messages keep go-spiffe's wording (net/url's own prefix aside).
      if (c.goSpiffeErrorContains !== undefined) {
        expect(outcome.error.message).toContain(c.goSpiffeErrorContains.replace(/^net\/url: /, ''));
      }
    }
  });
});
