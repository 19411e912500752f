import { describe, expect, it } from 'vitest';
import {
  decide, parsePolicy, suggestPolicy, unusedRules, type ObservedFlow,
} from '../../../agent/enforce/index.js';
import { requireSpiffeId, type SpiffeId } from '../../../agent/spiffe/index.js';

const WEB = requireSpiffeId('spiffe://example.org/web');
const DB = requireSpiffeId('spiffe://example.org/db');
const CACHE = requireSpiffeId('spiffe://example.org/ns/prod/cache');
const byNumber = new Map<number, SpiffeId>([[16, WEB], [17, DB], [18, CACHE]]);
const idOf = (n: number): SpiffeId | undefined => byNumber.get(n);
const v4 = (text: string): Buffer => Buffer.from(text.split('.').map(Number));

const POLICY = `mode: enforce
unidentified: deny
rules:
  - from: spiffe://example.org/web
    to: spiffe://example.org/db
    ports: [5432]
  - from: spiffe://example.org/web
    to: spiffe://example.org/ns/prod/*
  - from: spiffe://example.org/web
    to: external
    cidrs: [10.0.0.0/8]
    ports: [443]
`;

describe('decide (tether policy check)', () => {
  const policy = parsePolicy(POLICY, 'p.yaml');

  it('names the allowing rule by line, for identities and for external addresses', () => {
    expect(decide(policy, WEB, { kind: 'identity', id: DB }, 5432)).toEqual({ verdict: 'allow', mode: 'enforce', reason: 'allowed by the rule at line 4', line: 4 });
    expect(decide(policy, WEB, { kind: 'identity', id: CACHE }, 6379).line).toBe(7);
    expect(decide(policy, WEB, { kind: 'address', family: 4, address: v4('10.1.2.3') }, 443).line).toBe(9);
  });

  it('denies what no rule allows, saying so; audit mode reports it as a would-deny', () => {
    expect(decide(policy, WEB, { kind: 'identity', id: DB }, 5433)).toMatchObject({ verdict: 'deny', reason: expect.stringContaining('no rule allows spiffe://example.org/web') });
    expect(decide(policy, WEB, { kind: 'address', family: 4, address: v4('11.0.0.1') }, 443).verdict).toBe('deny');
    expect(decide(policy, DB, { kind: 'identity', id: WEB }, 80).verdict).toBe('deny');
    // an identity rule never covers a destination without one, nor a CIDR rule an identity
    expect(decide(policy, WEB, { kind: 'address', family: 4, address: v4('10.0.0.1') }, 5432).verdict).toBe('deny');
    const audit = parsePolicy(POLICY.replace('mode: enforce', 'mode: audit'), 'p.yaml');
    expect(decide(audit, DB, { kind: 'identity', id: WEB }, 80)).toMatchObject({ verdict: 'audit', mode: 'audit', reason: expect.stringContaining('audit mode allows it') });
  });

  it('decides unidentified callers by the policy\'s unidentified setting', () => {
    expect(decide(policy, null, { kind: 'identity', id: DB }, 5432).verdict).toBe('deny');
    const open = parsePolicy(POLICY.replace('unidentified: deny', 'unidentified: allow'), 'p.yaml');
    expect(decide(open, null, { kind: 'identity', id: DB }, 5432).verdict).toBe('allow');
  });
});

describe('suggestPolicy and unusedRules', () => {
  const flows: ObservedFlow[] = [
    { src: 16, dst: 17, port: 5432, external: null, count: 3n, verdict: 'audit' },
    { src: 16, dst: 17, port: 5433, external: null, count: 1n, verdict: 'audit' },
    { src: 18, dst: 17, port: 5432, external: null, count: 1n, verdict: 'allow' },
    { src: 16, dst: 0, port: 443, external: { family: 4, address: v4('10.9.8.7') }, count: 2n, verdict: 'audit' },
    { src: 99, dst: 17, port: 1, external: null, count: 1n, verdict: 'audit' }, // number no longer named
  ];

  it('writes a policy that parses and allows exactly the observed flows', () => {
    const text = suggestPolicy(flows, idOf, { unidentified: 'allow', observedSince: '2026-11-23T07:00:00Z' });
    expect(text).toContain('1 flow(s) left out');
    const policy = parsePolicy(text, 'suggested.yaml');
    expect(policy.mode).toBe('enforce');
    expect(policy.rules).toHaveLength(3);
    for (const f of flows.slice(0, 4)) {
      const to = f.external ? { kind: 'address' as const, ...f.external } : { kind: 'identity' as const, id: idOf(f.dst) as SpiffeId };
      expect(decide(policy, idOf(f.src) as SpiffeId, to, f.port).verdict).toBe('allow');
    }
    // and nothing more: another port, another pair, another address
    expect(decide(policy, WEB, { kind: 'identity', id: DB }, 5434).verdict).toBe('deny');
    expect(decide(policy, CACHE, { kind: 'identity', id: WEB }, 5432).verdict).toBe('deny');
    expect(decide(policy, WEB, { kind: 'address', family: 4, address: v4('10.9.8.6') }, 443).verdict).toBe('deny');
    expect(unusedRules(policy, flows, idOf)).toEqual([]);
  });

  it('lists the rules no flow used, with line, from, to and ports', () => {
    const policy = parsePolicy(POLICY, 'p.yaml');
    const used: ObservedFlow[] = [{ src: 16, dst: 17, port: 5432, external: null, count: 1n, verdict: 'allow' }];
    expect(unusedRules(policy, used, idOf)).toEqual([
      { line: 7, from: 'spiffe://example.org/web', to: 'spiffe://example.org/ns/prod/*', ports: 'any' },
      { line: 9, from: 'spiffe://example.org/web', to: 'external 10.0.0.0/8', ports: '443' },
    ]);
    expect(unusedRules(policy, [...used, flows[3] as ObservedFlow], idOf).map((r) => r.line)).toEqual([7]);
  });

  it('suggests an empty rule list from no flows (everything identified is then denied)', () => {
    const policy = parsePolicy(suggestPolicy([], idOf, { unidentified: 'deny' }), 's.yaml');
    expect(policy).toMatchObject({ mode: 'enforce', unidentified: 'deny', rules: [] });
  });
});
