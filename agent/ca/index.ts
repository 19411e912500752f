/**
 * ca/: the signing authority. Keys on disk under `<stateDir>/ca/`, an X.509 root per CA (and a
 * per-agent intermediate when configured; or, with `upstream`, a shared root read from files and
 * this agent's own intermediate under it), X509-SVID and JWT-SVID minting, rotation with overlap.
 * Invariants: every state change is committed to disk (atomic write, checksummed files) before it
 * takes effect in memory; a corrupt or half-written file is reported with CaError CORRUPT_STATE,
 * never replaced; a CA or JWT key stays in the bundle from before it signs until the last
 * credential it signed has expired; time is always the caller's `now`.
 * Handles: LocalAuthority owns its key pool; close() it. Nothing else here holds a resource.
 * May import: spiffe/.
 */
export { CaError, type CaErrorCode } from './errors.js';
export { CA_KEY_TYPES, DEFAULT_CA_KEY_TYPE, isCaKeyType, parseCaKeyType, type CaKeyType, type JwtAlgorithm } from './key-type.js';
export {
  DEFAULT_CA_TTL_SECONDS, DEFAULT_JWT_SVID_TTL_SECONDS, DEFAULT_X509_SVID_TTL_SECONDS, type CaLog, type LocalAuthorityOptions,
} from './ca-config.js';
export { LocalAuthority, type JwtSvidRequest, type X509SvidRequest } from './local-authority.js';
export type { CaChange } from './rotator.js';
export type { MaintenanceReport, RotationReport, SlotKind, SlotRef } from './rotation.js';
export type { CaCertificateStatus, CaMode, CaStatus, JwtKeyStatus, X509AuthorityStatus } from './ca-status.js';
export type { UpstreamFiles } from './upstream.js';
export type { Lifecycle, SlotState } from './lifecycle.js';

// The minting fast path, for callers with their own issuer (benches) and the daemon's sizing.
export { X509Minter, type MintRequest, type MintedX509Svid, type SigningAuthority } from './x509-minter.js';
export { P256Keys, encodeP256, type EncodedKeyPair } from './p256-keys.js';
