/**
 * enforce/: who may connect to whom. Its concern is identity numbers (a stable u32 per SPIFFE
 * ID, the key of every BPF map), which process has which identity in the kernel (at exec from
 * entries the kernel can decide, from user space for the rest), the policy (a YAML file,
 * compiled to BPF maps, explained, suggested from observed flows, checked for unused rules),
 * and what the kernel reports back: deny/audit events and live connections.
 * Invariants: a policy is parsed whole or refused whole (every problem with its line), so the
 * caller swaps one good policy for another atomically; a number is on disk before it is used
 * and is never reused in the numbers file's life; 0 is "no identity", 1-15 are reserved.
 * Pure parts (policy file, compile, decide, suggest, unused) touch nothing; the rest writes the
 * maps of kernel/SockPrograms given to it.
 * May import: kernel/, attest/, registry/ (and spiffe/ through registry/).
 */
export { EnforceError, type EnforceErrorCode, type EnforceErrorOptions } from './errors.js';
export { parsePolicy, type Policy, type PolicyRule } from './policy-file.js';
export {
  cidrContains, formatAddress, formatCidr, formatIdPattern, formatPorts, matchesId, parseCidr, parseIdPattern, parsePortRange, portInRanges,
  type Cidr, type IdPattern, type PortRange,
} from './policy-values.js';
export { FIRST_IDENTITY_NUMBER, IDENTITY_NUMBER_LIMIT, IdentityNumbers } from './identity-numbers.js';
export { compilePolicy, type CidrTuple, type CompiledPolicy, type MeshedNetworks, type PolicyTuple } from './compile-policy.js';
export { PolicySwitch } from './policy-switch.js';
export { KernelIdentities, type KernelIdentitySync } from './kernel-identities.js';
export { PolicyStore, type PolicyLog } from './policy-store.js';
export { UserSpaceIdentities, type UserSpaceIdentitiesOptions } from './user-space-identities.js';
export { ruleAllows, type Destination } from './rule-match.js';
export { decide, type PolicyDecision } from './policy-decision.js';
export { decideTunnel } from './tunnel-decision.js';
export type { ObservedFlow } from './observed-flow.js';
export { suggestPolicy } from './policy-suggest.js';
export { describeRule, unusedRules, type UnusedRule } from './unused-rules.js';
export { RecentEvents } from './recent-events.js';
export { ConnectionTable, type ConnectionView } from './connection-table.js';
export { SockEventFeed, type PolicyEvent, type RawSockEvent, type SockEventFeedOptions } from './sock-event-feed.js';
export { syncLocalAddresses } from './local-addresses.js';
export { readFlows } from './flow-reader.js';
