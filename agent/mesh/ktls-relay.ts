import type { Socket } from 'node:net';
import { OwnedSocket, relayKtls, type KtlsRelay, type KtlsSocket } from '../kernel/index.js';
import { MeshError } from './errors.js';
import type { RelayResult } from './relay.js';

/** A native relay seen from mesh/: its bytes so far (counted on the addon's thread), and a cancel. */
export interface NativeRelay {
  counts(): { readonly bytesOut: number; readonly bytesIn: number };
  cancel(): void;
}

/**
 * The kTLS data path (MESH.md §3): the plain socket (the workload's, or the local destination's:
 * Node never read it) is taken by fd and relayed with the tunnel's kTLS socket by the addon's
 * splice thread; `prefix` (bytes that came before the switch) is written to it first. `done` is
 * called once, like relay()'s: `error` set unless both directions ended cleanly, in which case
 * the addon has reset both sockets (the workload sees ECONNRESET, never a clean end).
 */
export function relayNative(plain: Socket, tunnel: KtlsSocket, prefix: Buffer, done: (result: RelayResult) => void): NativeRelay {
  let final: { bytesOut: number; bytesIn: number } | undefined;
  let relay: KtlsRelay | undefined;
  let cancelled = false;
  const start = (): void => {
    try {
      const handle = (plain as unknown as { _handle?: { fd?: unknown; readStop?: () => number } })._handle;
      if (typeof handle?.fd !== 'number' || handle.readStop === undefined) throw new MeshError('RELAY_FAILED', 'the plain socket has no fd to relay');
      handle.readStop();
      if (plain.bytesRead !== 0) throw new MeshError('RELAY_FAILED', `Node read ${plain.bytesRead} bytes of the plain socket before the switch`);
      const owned = OwnedSocket.dup(handle.fd);
      plain.destroy();
      relay = relayKtls(owned, tunnel, (end) => {
        final = { bytesOut: end.toTls, bytesIn: end.fromTls };
        const clean = end.reason === 'eof' || end.reason === 'close_notify';
        done({ ...final, error: clean ? undefined : new MeshError('RELAY_FAILED', `the kTLS relay ended: ${end.reason}`) });
      });
      if (cancelled) relay.cancel();
    } catch (err) {
      if (tunnel.open) tunnel.reset();
      if (!plain.destroyed) plain.resetAndDestroy();
      const error = err instanceof Error ? err : new Error(String(err));
      queueMicrotask(() => done({ bytesOut: 0, bytesIn: 0, error })); // after the caller has registered the relay
    }
  };
  if (prefix.length === 0) start();
  else plain.write(prefix, () => start());
  return {
    counts: () => {
      const live = final === undefined ? relay?.counts() : undefined;
      return final ?? (live ? { bytesOut: live.toTls, bytesIn: live.fromTls } : { bytesOut: 0, bytesIn: 0 });
    },
    cancel: () => {
      cancelled = true;
      relay?.cancel();
    },
  };
}
