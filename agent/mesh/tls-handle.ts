import type { TLSSocket } from 'node:tls';
import { OwnedSocket } from '../kernel/index.js';
import { MeshError } from './errors.js';

/** The TCP handle under a TLSSocket (`_handle._parent`): its fd and readStop(). */
export function tcpHandle(tls: TLSSocket): { readonly fd: number; readStop(): number } {
  const parent = (tls as unknown as { _handle?: { _parent?: { fd?: unknown; readStop?: unknown } } })._handle?._parent;
  if (typeof parent?.fd !== 'number' || parent.fd < 0 || typeof parent.readStop !== 'function') {
    throw new MeshError('TLS_FAILED', 'the tunnel\'s TLS socket has no TCP handle to take (this Node is not the one tether pins)');
  }
  return parent as { readonly fd: number; readStop(): number };
}

/**
 * Ends a tunnel's TLS socket with RST rather than FIN. Node ends a TLSSocket with a FIN, and the
 * peer's Node takes a FIN without close_notify for a clean end: the peer would end its workload's
 * stream cleanly on a cut tunnel. SO_LINGER {1, 0} on a dup of the fd (the socket keeps it), then
 * Node's close is a reset. A socket already gone is only destroyed.
 */
export function resetTunnel(tls: TLSSocket): void {
  try {
    OwnedSocket.dup(tcpHandle(tls).fd).reset();
  } catch {
    // no handle (closed already, or not a TCP socket): nothing to reset
  }
  tls.destroy();
}
