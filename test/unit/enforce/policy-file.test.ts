import { describe, expect, it } from 'vitest';
import { EnforceError } from '../../../agent/enforce/errors.js';
import { parsePolicy } from '../../../agent/enforce/policy-file.js';
import { matchesId, parseIdPattern, type IdPattern } from '../../../agent/enforce/policy-values.js';
import { requireSpiffeId, TrustDomain } from '../../../agent/spiffe/index.js';

const FILE = 'policy.yaml';
const TD = TrustDomain.parse('example.org');

/** The error parsePolicy throws for `text`; fails the test if it throws none. */
function refusal(text: string, trustDomain?: TrustDomain): EnforceError {
  try {
    parsePolicy(text, FILE, trustDomain);
  } catch (err) {
    if (err instanceof EnforceError) return err;
    throw err;
  }
  throw new Error('the policy was accepted');
}

const EXAMPLE = `mode: enforce            # or audit: allow everything, report what enforce would deny
unidentified: allow      # what processes with no identity may do: allow | deny
rules:                   # identified workloads may do only what a rule allows
  - from: spiffe://example.org/web
    to: spiffe://example.org/db
    ports: [5432]
  - from: spiffe://example.org/ns/prod/*   # a trailing * matches any path below
    to: external
    cidrs: [10.0.0.0/8]
    ports: [443]
`;

/** A policy with one rule whose lines are `ruleLines` (indented under "- "), the rule on line 3. */
function oneRule(...ruleLines: string[]): string {
  return `mode: enforce\nrules:\n${ruleLines.map((l, i) => `${i === 0 ? '  - ' : '    '}${l}`).join('\n')}\n`;
}

describe('parsePolicy', () => {
  it('reads the issue\'s example exactly', () => {
    const policy = parsePolicy(EXAMPLE, FILE, TD);
    expect(policy.mode).toBe('enforce');
    expect(policy.unidentified).toBe('allow');
    const [web, prod, ...rest] = policy.rules;
    expect(rest).toEqual([]);
    expect(web?.line).toBe(4);
    expect(web?.from).toEqual({ kind: 'exact', id: requireSpiffeId('spiffe://example.org/web') });
    expect(web?.to).toEqual({ kind: 'identity', pattern: { kind: 'exact', id: requireSpiffeId('spiffe://example.org/db') } });
    expect(web?.ports).toEqual([{ first: 5432, last: 5432 }]);
    expect(prod?.line).toBe(7);
    expect(prod?.from).toEqual({ kind: 'prefix', trustDomain: TD, pathPrefix: '/ns/prod/' });
    expect(prod?.to).toEqual({ kind: 'external', cidrs: [{ family: 4, address: Buffer.from([10, 0, 0, 0]), prefixLength: 8 }] });
    expect(prod?.ports).toEqual([{ first: 443, last: 443 }]);
  });

  it('defaults unidentified to allow and rules to none, but requires mode', () => {
    expect(parsePolicy('mode: audit\n', FILE)).toEqual({ mode: 'audit', unidentified: 'allow', rules: [] });
    expect(refusal('unidentified: deny\n').message).toMatch(/^policy\.yaml:1:1: mode: required: a policy says whether it enforces/);
    expect(refusal('').message).toMatch(/mode: required/);
  });

  it('reads port ranges, IPv6 CIDRs and rules without ports (any port)', () => {
    const [rule] = parsePolicy(oneRule('from: spiffe://example.org/a', 'to: external', 'cidrs: ["fd00::/8", 192.168.1.7]',
      'ports: ["8000-8100", 22]'), FILE).rules;
    expect(rule?.ports).toEqual([{ first: 8000, last: 8100 }, { first: 22, last: 22 }]);
    expect(rule?.to).toEqual({ kind: 'external', cidrs: [
      { family: 6, address: Buffer.from('fd' + '00'.repeat(15), 'hex'), prefixLength: 8 },
      { family: 4, address: Buffer.from([192, 168, 1, 7]), prefixLength: 32 },
    ] });
    expect(parsePolicy(oneRule('from: spiffe://example.org/a', 'to: spiffe://other.org/b'), FILE).rules[0]?.ports).toEqual([]);
  });

  it.each([
    ['an unknown key', oneRule('from: spiffe://example.org/a', 'to: spiffe://example.org/b', 'port: [80]'),
      /^policy\.yaml:5:5: rules\[0\]\.port: unknown key "port" \(known: from, to, cidrs, ports\)$/],
    ['an unknown top-level key', 'mode: enforce\nrule: []\n', /^policy\.yaml:2:1: rule: unknown key "rule"/],
    ['a bad SPIFFE ID', oneRule('from: spiffe://Example.org/a', 'to: spiffe://example.org/b'),
      /^policy\.yaml:3:11: rules\[0\]\.from: trust domain characters are limited/],
    ['"*" in the middle', oneRule('from: spiffe://example.org/ns/*/web', 'to: spiffe://example.org/b'),
      /^policy\.yaml:3:11: rules\[0\]\.from: "\*" is allowed only as the whole last segment/],
    ['"*" glued to a segment', oneRule('from: spiffe://example.org/a', 'to: spiffe://example.org/web*'),
      /^policy\.yaml:4:9: rules\[0\]\.to: "\*" is allowed only as the whole last segment/],
    ['a CIDR with host bits set', oneRule('from: spiffe://example.org/a', 'to: external', 'cidrs: [10.0.0.1/8]'),
      /^policy\.yaml:5:13: rules\[0\]\.cidrs\[0\]: 10\.0\.0\.1\/8 has host bits set below the \/8 prefix: did you mean 10\.0\.0\.0\/8\?$/],
    ['a prefix length too long', oneRule('from: spiffe://example.org/a', 'to: external', 'cidrs: [10.0.0.0/33]'),
      /rules\[0\]\.cidrs\[0\]: prefix length "33" must be a whole number from 0 to 32/],
    ['port 0', oneRule('from: spiffe://example.org/a', 'to: spiffe://example.org/b', 'ports: [0]'),
      /^policy\.yaml:5:13: rules\[0\]\.ports\[0\]: port 0 is out of range: ports are 1-65535$/],
    ['port 70000', oneRule('from: spiffe://example.org/a', 'to: spiffe://example.org/b', 'ports: [443, 70000]'),
      /^policy\.yaml:5:18: rules\[0\]\.ports\[1\]: port 70000 is out of range/],
    ['a backwards range', oneRule('from: spiffe://example.org/a', 'to: spiffe://example.org/b', 'ports: ["9000-8000"]'),
      /^policy\.yaml:5:13: rules\[0\]\.ports\[0\]: range "9000-8000" runs backwards/],
    ['a malformed range', oneRule('from: spiffe://example.org/a', 'to: spiffe://example.org/b', 'ports: ["80-"]'),
      /rules\[0\]\.ports\[0\]: "80-" is not a port \(1-65535\) or a range "low-high"/],
    ['external without cidrs', oneRule('from: spiffe://example.org/a', 'to: external', 'ports: [443]'),
      /^policy\.yaml:3:5: rules\[0\]: a rule to "external" needs "cidrs"/],
    ['external with empty cidrs', oneRule('from: spiffe://example.org/a', 'to: external', 'cidrs: []'),
      /^policy\.yaml:5:12: rules\[0\]\.cidrs: a rule to "external" needs "cidrs"/],
    ['cidrs on an identity target', oneRule('from: spiffe://example.org/a', 'to: spiffe://example.org/b', 'cidrs: [10.0.0.0/8]'),
      /^policy\.yaml:5:12: rules\[0\]\.cidrs: "cidrs" is only for a rule to "external"/],
    ['"external" as a source', oneRule('from: external', 'to: spiffe://example.org/b'),
      /rules\[0\]\.from: "external" is only a target/],
    ['a trust domain\'s own ID', oneRule('from: spiffe://example.org', 'to: spiffe://example.org/b'),
      /rules\[0\]\.from: spiffe:\/\/example\.org is a trust domain's own ID/],
    ['a mode typo', 'mode: enforec\n', /^policy\.yaml:1:7: mode: expected "enforce" or "audit", got string "enforec"$/],
    ['an unidentified typo', 'mode: audit\nunidentified: block\n', /^policy\.yaml:2:15: unidentified: expected "allow" or "deny"/],
    ['a source outside the trust domain', oneRule('from: spiffe://other.org/a', 'to: spiffe://example.org/b'),
      /rules\[0\]\.from: spiffe:\/\/other\.org\/a is not in this agent's trust domain example\.org/],
    ['broken YAML', 'mode: [enforce\n', /^policy\.yaml:\d+:\d+: YAML: /],
  ])('refuses %s with its line', (_what, text, pattern) => {
    const err = refusal(text, TD);
    expect(err.code).toBe('BAD_POLICY');
    expect(err.file).toBe(FILE);
    expect(err.message).toMatch(pattern);
  });

  it('lists every problem together, in line order', () => {
    const err = refusal(`mode: audti
rules:
  - from: spiffe://example.org/ns/*/x
    to: external
    ports: [0]
  - from: spiffe://example.org/ok
    to: spiffe://example.org/db
    cidrs: [10.0.0.1/8]
    colour: blue
`);
    const lines = err.message.split('\n');
    expect(lines).toHaveLength(7);
    expect(lines.map((l) => l.split(': ')[0])).toEqual([
      'policy.yaml:1:7', 'policy.yaml:3:5', 'policy.yaml:3:11', 'policy.yaml:5:13', 'policy.yaml:8:12', 'policy.yaml:8:13', 'policy.yaml:9:5',
    ]);
    expect(err.line).toBe(1);
  });
});

describe('matchesId', () => {
  const pattern = (text: string): IdPattern => {
    const result = parseIdPattern(text);
    if (!result.ok) throw new Error(result.reason);
    return result.value;
  };
  const id = requireSpiffeId;

  it('matches an exact ID only', () => {
    expect(matchesId(pattern('spiffe://example.org/web'), id('spiffe://example.org/web'))).toBe(true);
    expect(matchesId(pattern('spiffe://example.org/web'), id('spiffe://example.org/web/x'))).toBe(false);
    expect(matchesId(pattern('spiffe://example.org/web'), id('spiffe://other.org/web'))).toBe(false);
  });

  it('matches a prefix strictly below its path, in its trust domain', () => {
    const prod = pattern('spiffe://example.org/ns/prod/*');
    expect(matchesId(prod, id('spiffe://example.org/ns/prod/web'))).toBe(true);
    expect(matchesId(prod, id('spiffe://example.org/ns/prod/a/b'))).toBe(true);
    expect(matchesId(prod, id('spiffe://example.org/ns/prod'))).toBe(false);
    expect(matchesId(prod, id('spiffe://example.org/ns/production/x'))).toBe(false);
    expect(matchesId(prod, id('spiffe://other.org/ns/prod/web'))).toBe(false);
  });

  it('matches every workload of a trust domain with "spiffe://td/*"', () => {
    const all = pattern('spiffe://example.org/*');
    expect(all).toEqual({ kind: 'prefix', trustDomain: TD, pathPrefix: '/' });
    expect(matchesId(all, id('spiffe://example.org/x'))).toBe(true);
    expect(matchesId(all, id('spiffe://other.org/x'))).toBe(false);
  });
});
