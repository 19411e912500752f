/**
 * enforce/: who may connect to whom. Its concern is identity numbers (a stable u32 per SPIFFE
 * ID, the key of every BPF map), the policy (a YAML file, compiled to BPF maps), audit events
 * and connections. Only the policy file and the numbers exist yet.
 * Invariants: a policy is parsed whole or refused whole (every problem with its line), so the
 * caller swaps one good policy for another atomically; a number is on disk before it is used
 * and is never reused in the numbers file's life; 0 is "no identity", 1-15 are reserved.
 * The policy file and the numbers touch no kernel resource; what compiles them into maps will.
 * May import: kernel/, attest/, registry/ (and spiffe/ through registry/).
 */
export { EnforceError, type EnforceErrorCode, type EnforceErrorOptions } from './errors.js';
export { parsePolicy, type Policy, type PolicyRule } from './policy-file.js';
export { matchesId, parseCidr, parseIdPattern, parsePortRange, type Cidr, type IdPattern, type PortRange } from './policy-values.js';
export { FIRST_IDENTITY_NUMBER, IDENTITY_NUMBER_LIMIT, IdentityNumbers } from './identity-numbers.js';
export { compilePolicy, type CompiledPolicy, type PolicyTuple } from './compile-policy.js';
export { PolicySwitch } from './policy-switch.js';
export { KernelIdentities, type KernelIdentitySync } from './kernel-identities.js';
export { PolicyStore, type PolicyLog } from './policy-store.js';
