/**
 * spiffe/: SPIFFE IDs, trust domains, SVIDs and bundles, as the SPIFFE standards define them.
 * Pure: no I/O and no clock (time is always an argument), so every rule is testable from data.
 * Values are made only by parsing (TrustDomain.parse, SpiffeId.parse, X509Bundle.parsePem...)
 * and are valid and immutable after; a broken rule throws SpiffeError with a code naming it.
 * Upper-case schemes and trust domains are rejected (SPIRE parity): one spelling per identity.
 * May import: nothing of the project (node:crypto, node:buffer and npm packages only).
 */
export { SpiffeError } from './errors.js';
export type {
  BundleErrorCode, EndpointErrorCode, JwtSvidErrorCode, SpiffeErrorCode, SpiffeIdErrorCode, X509SvidErrorCode,
} from './errors.js';

// Identities and where to find the Workload API.
export { TrustDomain } from './trust-domain.js';
export { SpiffeId, requireSpiffeId } from './spiffe-id.js';
export { parseEndpointAddress, type EndpointAddress } from './endpoint-address.js';

// Bundles: the authorities of a trust domain.
export { X509Bundle } from './x509-bundle.js';
export { JwtBundle } from './jwt-bundle.js';
export { SpiffeBundle, type SpiffeBundleOptions } from './spiffe-bundle.js';

// SVIDs (x509-svid.ts, jwt-svid.ts): exports below this line.
export {
  checkLeaf, checkSigningCert, parseX509Svid, parseX509SvidChain, verifyX509Svid,
  type VerifiedX509Svid, type X509BundleSource, type X509Svid,
} from './x509-svid.js';
export {
  signJwtSvid, verifyJwtSvid, type JwtBundleSource, type JwtSvid, type JwtSvidAlg, type SignJwtSvidOptions,
} from './jwt-svid.js';
