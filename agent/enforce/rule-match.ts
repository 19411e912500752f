import type { SpiffeId } from '../spiffe/index.js';
import type { PolicyRule } from './policy-file.js';
import { cidrContains, matchesId, portInRanges } from './policy-values.js';

/** Where a connection goes, as the kernel tells destinations apart (sock.bpf.c's connect hooks). */
export type Destination =
  | { readonly kind: 'identity'; readonly id: SpiffeId }
  | { readonly kind: 'address'; readonly family: 4 | 6; readonly address: Buffer };

/**
 * Whether `rule` allows `from` to reach `to` on `port`: the one reading of a rule that
 * `policy check`, `policy unused` and the compiled maps all share. A destination with an identity
 * is reached by identity rules only; one without (remote, or an unidentified local listener) by
 * "external" CIDR rules only.
 */
export function ruleAllows(rule: PolicyRule, from: SpiffeId, to: Destination, port: number): boolean {
  if (!matchesId(rule.from, from) || !portInRanges(rule.ports, port)) return false;
  if (rule.to.kind === 'identity') return to.kind === 'identity' && matchesId(rule.to.pattern, to.id);
  return to.kind === 'address' && rule.to.cidrs.some((c) => cidrContains(c, to.family, to.address));
}
