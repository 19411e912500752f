import { X509Certificate } from 'node:crypto';
import type { X509Bundle } from '../spiffe/index.js';

/**
 * The roots of the current X.509 bundle: which one a minted chain leads up to, and whether that
 * one is still published. A cached SVID whose root has left the bundle can no longer be verified
 * by anyone, so the cache re-mints it. Roots are told apart by node's issuer check (subject and
 * key identifier: each CA has its own), not by a signature: we only name what we minted ourselves.
 */
export class TrustedRoots {
  #bundle: X509Bundle;
  #roots: ReadonlyMap<string, X509Certificate>;

  constructor(bundle: X509Bundle) {
    this.#bundle = bundle;
    this.#roots = rootsOf(bundle);
  }

  get bundle(): X509Bundle {
    return this.#bundle;
  }

  update(bundle: X509Bundle): void {
    this.#bundle = bundle;
    this.#roots = rootsOf(bundle);
  }

  /** The SHA-256 fingerprint of the root that issued the chain's top certificate, if it is in the bundle. */
  issuerOf(chain: readonly Buffer[]): string | undefined {
    const top = chain.at(-1);
    if (top === undefined) return undefined;
    const cert = new X509Certificate(top);
    for (const [fingerprint, root] of this.#roots) {
      if (cert.checkIssued(root)) return fingerprint;
    }
    return undefined;
  }

  /** Whether the root is still in the bundle; an unknown issuer (undefined) is never re-minted for it. */
  publishes(issuer: string | undefined): boolean {
    return issuer === undefined || this.#roots.has(issuer);
  }
}

function rootsOf(bundle: X509Bundle): ReadonlyMap<string, X509Certificate> {
  return new Map(bundle.certificates().map((cert) => [cert.fingerprint256, cert]));
}
