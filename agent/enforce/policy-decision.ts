import type { SpiffeId } from '../spiffe/index.js';
import type { Policy } from './policy-file.js';
import { formatAddress } from './policy-values.js';
import { ruleAllows, type Destination } from './rule-match.js';

export interface PolicyDecision {
  /** What the kernel does: allow, deny, or audit (allowed, reported as a would-deny). */
  readonly verdict: 'allow' | 'deny' | 'audit';
  readonly mode: Policy['mode'];
  /** One sentence: which rule allows it, or why nothing does. */
  readonly reason: string;
  /** The allowing rule's line in the policy file. */
  readonly line?: number;
}

/** `from` (null: an unidentified process) connecting to `to` on `port`, under `policy`. */
export function decide(policy: Policy, from: SpiffeId | null, to: Destination, port: number): PolicyDecision {
  const target = to.kind === 'identity' ? to.id.toString() : formatAddress(to.family, to.address);
  const refused = (reason: string): PolicyDecision => (policy.mode === 'audit'
    ? { verdict: 'audit', mode: policy.mode, reason: `${reason}; audit mode allows it and reports it` }
    : { verdict: 'deny', mode: policy.mode, reason });
  if (from === null) {
    return policy.unidentified === 'allow'
      ? { verdict: 'allow', mode: policy.mode, reason: 'the caller has no identity and the policy allows unidentified processes' }
      : refused('the caller has no identity and the policy denies unidentified processes');
  }
  const rule = policy.rules.find((r) => ruleAllows(r, from, to, port));
  if (rule !== undefined) {
    return { verdict: 'allow', mode: policy.mode, reason: `allowed by the rule at line ${rule.line}`, line: rule.line };
  }
  return refused(`no rule allows ${from.toString()} to reach ${target} on port ${port}`);
}
