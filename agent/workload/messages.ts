/**
 * The backend's answers as Workload API messages (SPIFFE.md a.2): chains and bundles as
 * concatenated DER, maps keyed by trust domain SPIFFE ID in sorted order, so that one state
 * always serializes to the same bytes and a stream can skip a message equal to the last.
 */
import type { X509SvidItem } from './backend.js';
import type { JWTBundlesResponse } from './gen/JWTBundlesResponse.js';
import type { JWTSVIDResponse } from './gen/JWTSVIDResponse.js';
import type { X509BundlesResponse } from './gen/X509BundlesResponse.js';
import type { X509SVIDResponse } from './gen/X509SVIDResponse.js';

export function x509SvidResponse(svids: readonly X509SvidItem[], federatedBundles: ReadonlyMap<string, Buffer>): X509SVIDResponse {
  return {
    svids: svids.map((s) => ({
      spiffe_id: s.spiffeId,
      x509_svid: Buffer.concat(s.chain),
      x509_svid_key: s.privateKeyPkcs8,
      bundle: s.bundle,
      hint: s.hint,
    })),
    crl: [],
    federated_bundles: sortedRecord(federatedBundles),
  };
}

export function x509BundlesResponse(bundles: ReadonlyMap<string, Buffer>): X509BundlesResponse {
  return { crl: [], bundles: sortedRecord(bundles) };
}

export function jwtBundlesResponse(bundles: ReadonlyMap<string, Buffer>): JWTBundlesResponse {
  return { bundles: sortedRecord(bundles) };
}

export function jwtSvidResponse(svids: ReadonlyArray<{ spiffeId: string; token: string; hint: string }>): JWTSVIDResponse {
  return { svids: svids.map((s) => ({ spiffe_id: s.spiffeId, svid: s.token, hint: s.hint })) };
}

/** A map as the plain object a proto map field takes, keys in sorted order, no prototype. */
function sortedRecord<V>(map: ReadonlyMap<string, V>): Record<string, V> {
  const out = Object.create(null) as Record<string, V>;
  for (const key of [...map.keys()].sort()) out[key] = map.get(key) as V;
  return out;
}
