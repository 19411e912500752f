import type { SpiffeId } from '../spiffe/index.js';
import { decide, type PolicyDecision } from './policy-decision.js';
import type { Policy } from './policy-file.js';

/**
 * The source end of a tunnel, once the peer agent has shown which workload answers: `from` may
 * reach `serverId` on `port` by an identity rule, or the remote address by an "external" rule
 * (then the peer's identity is authenticated but not required). Audit mode allows and reports.
 */
export function decideTunnel(policy: Policy, from: SpiffeId, serverId: SpiffeId, remote: { family: 4 | 6; address: Buffer }, port: number): PolicyDecision {
  const byId = decide(policy, from, { kind: 'identity', id: serverId }, port);
  if (byId.verdict === 'allow') return byId;
  const byAddress = decide(policy, from, { kind: 'address', ...remote }, port);
  if (byAddress.verdict === 'allow') return byAddress;
  return byId;
}
