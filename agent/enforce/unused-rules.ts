import type { SpiffeId } from '../spiffe/index.js';
import type { ObservedFlow } from './observed-flow.js';
import type { Policy, PolicyRule } from './policy-file.js';
import { formatCidr, formatIdPattern, formatPorts } from './policy-values.js';
import { ruleAllows, type Destination } from './rule-match.js';

export interface UnusedRule {
  readonly line: number;
  readonly from: string;
  readonly to: string;
  /** "5432", "8000-8080,9090", or "any". */
  readonly ports: string;
}

/** The rules no observed flow matched: allow rules nothing used, candidates for removal. */
export function unusedRules(policy: Policy, flows: readonly ObservedFlow[], idOf: (n: number) => SpiffeId | undefined): UnusedRule[] {
  const seen = flows.flatMap((f) => {
    const from = idOf(f.src);
    const to = destinationOf(f, idOf);
    return from === undefined || to === undefined ? [] : [{ from, to, port: f.port }];
  });
  return policy.rules.filter((r) => !seen.some((s) => ruleAllows(r, s.from, s.to, s.port))).map(describeRule);
}

export function describeRule(rule: PolicyRule): UnusedRule {
  const to = rule.to.kind === 'identity' ? formatIdPattern(rule.to.pattern) : `external ${rule.to.cidrs.map(formatCidr).join(',')}`;
  return { line: rule.line, from: formatIdPattern(rule.from), to, ports: formatPorts(rule.ports) };
}

function destinationOf(f: ObservedFlow, idOf: (n: number) => SpiffeId | undefined): Destination | undefined {
  if (f.dst !== 0) {
    const id = idOf(f.dst);
    return id === undefined ? undefined : { kind: 'identity', id };
  }
  return f.external === null ? undefined : { kind: 'address', family: f.external.family, address: f.external.address };
}
