import { describe, expect, it } from 'vitest';
import { compilePolicy, decideTunnel, parseCidr, parsePolicy } from '../../../agent/enforce/index.js';
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

describe('compilePolicy with meshed networks', () => {
  const cidr = (text: string) => {
    const r = parseCidr(text);
    if (!r.ok) throw new Error(r.reason);
    return r.value;
  };
  const rows = (c: ReturnType<typeof compilePolicy>): Array<[number, string, number, number]> =>
    c.cidrs.map((t) => [t.src, t.cidr.address.toString('hex'), t.cidr.prefixLength, t.port]);
  const policy = parsePolicy(`mode: enforce
rules:
  - from: spiffe://example.org/web
    to: spiffe://example.org/db
    ports: [5432, 8000]
  - from: spiffe://example.org/db
    to: spiffe://example.org/web
`, 'p.yaml');

  it('lets an identity rule reach the meshed networks on its ports (the tunnel checks the identity)', () => {
    const c = compilePolicy(policy, KNOWN, numberOf, { cidrs: [cidr('10.0.0.0/8')], ports: undefined });
    expect(c.tuples).toHaveLength(3); // the local tuples are unchanged
    expect(rows(c)).toEqual([[16, '0a000000', 8, 5432], [16, '0a000000', 8, 8000], [17, '0a000000', 8, 0]]);
  });

  it('keeps only the ports the mesh tunnels: a rule for any port gets mesh.ports, a rule with ports their intersection', () => {
    const c = compilePolicy(policy, KNOWN, numberOf, { cidrs: [cidr('10.0.0.0/8')], ports: [{ first: 8000, last: 8001 }] });
    expect(rows(c)).toEqual([[16, '0a000000', 8, 8000], [17, '0a000000', 8, 8000], [17, '0a000000', 8, 8001]]);
  });

  it('adds nothing without a mesh', () => {
    expect(compilePolicy(policy, KNOWN, numberOf).cidrs).toEqual([]);
  });
});

describe('decideTunnel', () => {
  const web = requireSpiffeId('spiffe://example.org/web');
  const db = requireSpiffeId('spiffe://example.org/db');
  const remote = { family: 4 as const, address: Buffer.from([10, 0, 0, 2]) };

  it('allows the identity a rule names, or the address an external rule covers; otherwise it names what is missing', () => {
    const p = parsePolicy(`mode: enforce
rules:
  - from: spiffe://example.org/web
    to: spiffe://example.org/db
    ports: [5432]
  - from: spiffe://example.org/web
    to: external
    cidrs: [10.0.0.0/24]
    ports: [443]
`, 'p.yaml');
    expect(decideTunnel(p, web, db, remote, 5432)).toMatchObject({ verdict: 'allow', line: 3 });
    expect(decideTunnel(p, web, web, remote, 443)).toMatchObject({ verdict: 'allow', line: 6 });
    expect(decideTunnel(p, web, web, remote, 5432)).toMatchObject({ verdict: 'deny', reason: expect.stringContaining('spiffe://example.org/web') });
  });

  it('allows and reports in audit mode', () => {
    const p = parsePolicy('mode: audit\nrules: []\n', 'p.yaml');
    expect(decideTunnel(p, web, db, remote, 5432).verdict).toBe('audit');
  });
});
