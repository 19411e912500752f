import { X509Certificate, createHash } from 'node:crypto';
import { verifyX509Svid, type SpiffeId, type TrustDomain, type X509Bundle } from '../spiffe/index.js';

/** Peer chains remembered per trust: enough for every workload pair of a busy host. */
const DEFAULT_CAPACITY = 1024;

type Verified = { readonly id: SpiffeId; readonly bundle: X509Bundle; readonly from: number; readonly to: number };

/**
 * The peer check's memory: a chain that verified against a bundle verifies again against the same
 * bundle, so only its validity window is checked on a repeat (a full path check costs ~5 ms, as
 * much as the rest of a tunnel's set-up; one SVID serves many tunnels until it rotates). Keyed by
 * the chain's exact DER; a changed bundle (rotation, a new root) or a moment outside the window
 * of every certificate on the path verifies in full again, and a failure is never remembered.
 */
export class VerifiedPeers {
  readonly #capacity: number;
  readonly #entries = new Map<string, Verified>();

  constructor(capacity = DEFAULT_CAPACITY) {
    this.#capacity = capacity;
  }

  /** The chain's SPIFFE ID, as verifyX509Svid gives it against `bundle` of `trustDomain` only (and throws). */
  verify(chain: readonly Buffer[], trustDomain: TrustDomain, bundle: X509Bundle, now: Date): SpiffeId {
    const key = chainKey(chain);
    const hit = this.#entries.get(key);
    const t = now.getTime();
    if (hit !== undefined && (hit.bundle === bundle || hit.bundle.equals(bundle)) && t >= hit.from && t <= hit.to) return hit.id;
    this.#entries.delete(key);
    const verified = verifyX509Svid(chain, (td) => (td.equals(trustDomain) ? bundle : undefined), { now });
    let from = -Infinity;
    let to = Infinity;
    for (const der of verified.chain) {
      const cert = new X509Certificate(der);
      from = Math.max(from, Date.parse(cert.validFrom));
      to = Math.min(to, Date.parse(cert.validTo));
    }
    if (this.#entries.size >= this.#capacity) this.#entries.delete(this.#entries.keys().next().value as string);
    this.#entries.set(key, { id: verified.id, bundle, from, to });
    return verified.id;
  }

  get size(): number {
    return this.#entries.size;
  }
}

function chainKey(chain: readonly Buffer[]): string {
  const h = createHash('sha256');
  for (const der of chain) h.update(`${der.length}:`).update(der);
  return h.digest('hex');
}
