import { createSecureContext, type SecureContext } from 'node:tls';
import type { X509Bundle } from '../spiffe/index.js';
import { tunnelContextOptions, type TunnelSvid } from './tunnel-tls.js';

/**
 * One SecureContext per SVID object and bundle: parsing a key and chain per connection would
 * cost more than the handshake. An SVID is replaced, not mutated, on rotation, so the WeakMap
 * forgets rotated ones by itself; a changed bundle makes a new context.
 */
export class ContextCache {
  readonly #contexts = new WeakMap<TunnelSvid, { readonly bundle: X509Bundle; readonly context: SecureContext }>();

  get(svid: TunnelSvid, bundle: X509Bundle): SecureContext {
    const cached = this.#contexts.get(svid);
    if (cached !== undefined && (cached.bundle === bundle || cached.bundle.equals(bundle))) return cached.context;
    const context = createSecureContext(tunnelContextOptions(svid, bundle));
    this.#contexts.set(svid, { bundle, context });
    return context;
  }
}
