import { describe, expect, it } from 'vitest';
import { compilePolicy, parsePolicy } from '../../../agent/enforce/index.js';
import { requireSpiffeId, type SpiffeId } from '../../../agent/spiffe/index.js';

const KNOWN = ['spiffe://example.org/web', 'spiffe://example.org/db', 'spiffe://example.org/ns/prod/a', 'spiffe://example.org/ns/prod/b',
  'spiffe://example.org/ns/production/c'].map(requireSpiffeId);
const numbers = new Map(KNOWN.map((id, i) => [id.toString(), 16 + i]));
const numberOf = (id: SpiffeId): number => numbers.get(id.toString()) ?? 99;

describe('compilePolicy', () => {
  it('turns rules into (source, destination, port) tuples of identity numbers', () => {
    const p = parsePolicy(`mode: enforce
rules:
  - from: spiffe://example.org/web
    to: spiffe://example.org/db
    ports: [5432, "8000-8002"]
  - from: spiffe://example.org/ns/prod/*
    to: spiffe://example.org/db
`, 'policy.yaml');
    const c = compilePolicy(p, KNOWN, numberOf);
    expect(c.mode).toBe('enforce');
    expect(c.unidentified).toBe('allow');
    expect(c.tuples).toEqual([
      { src: 16, dst: 17, port: 5432 }, { src: 16, dst: 17, port: 8000 }, { src: 16, dst: 17, port: 8001 }, { src: 16, dst: 17, port: 8002 },
      { src: 18, dst: 17, port: 0 }, { src: 19, dst: 17, port: 0 }, // the pattern's IDs, not /ns/production/c; any port
    ]);
    expect(c.cidrs).toEqual([]);
  });

  it('turns rules to external CIDRs into (source, network, port) tuples, for each source the pattern covers', () => {
    const p = parsePolicy('mode: audit\nrules:\n  - from: spiffe://example.org/ns/prod/*\n    to: external\n    cidrs: [10.0.0.0/8, "fd00::/8"]\n    ports: [443]\n', 'p.yaml');
    const c = compilePolicy(p, KNOWN, numberOf);
    expect(c.tuples).toEqual([]);
    expect(c.cidrs.map((t) => [t.src, t.cidr.family, t.cidr.address.toString('hex'), t.cidr.prefixLength, t.port])).toEqual([
      [18, 4, '0a000000', 8, 443], [18, 6, 'fd000000000000000000000000000000', 8, 443],
      [19, 4, '0a000000', 8, 443], [19, 6, 'fd000000000000000000000000000000', 8, 443],
    ]);
  });

  it('refuses a port range too wide to write as map entries, and merges duplicates', () => {
    const wide = parsePolicy('mode: enforce\nrules:\n  - from: spiffe://example.org/web\n    to: spiffe://example.org/db\n    ports: ["1-5000"]\n', 'p.yaml');
    expect(() => compilePolicy(wide, KNOWN, numberOf)).toThrow(/wider than 1024 ports/);
    const dup = parsePolicy('mode: enforce\nrules:\n  - from: spiffe://example.org/web\n    to: spiffe://example.org/db\n  - from: spiffe://example.org/web\n    to: spiffe://example.org/db\n', 'p.yaml');
    expect(compilePolicy(dup, KNOWN, numberOf).tuples).toHaveLength(1);
  });
});
