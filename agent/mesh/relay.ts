import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { resetTunnel } from './tls-handle.js';

/** What one relay moved, and why it stopped when it did not end cleanly on both sides. */
export type RelayResult = {
  /** Bytes read from the plain socket and written into the tunnel. */
  readonly bytesOut: number;
  /** Bytes read from the tunnel and written to the plain socket. */
  readonly bytesIn: number;
  readonly error: Error | undefined;
};

/**
 * The userspace data path (MESH.md §5): pipes a plain socket (the workload's, or the local
 * destination's) and a tunnel's TLSSocket both ways, in Node. EOF on one side becomes end() on
 * the other (FIN, or close_notify then FIN), so half-close is carried; both sockets must have
 * been made with allowHalfOpen. A failure on either side resets the plain socket (its peer sees
 * ECONNRESET, never a clean EOF that would pass for the whole stream) and the tunnel's TCP
 * socket (the peer agent's relay fails in turn and resets its own workload's).
 * `done` is called once, after both sockets have closed; the returned function reads the counts live.
 */
export function relay(plain: Socket, tunnel: TLSSocket, done: (result: RelayResult) => void): () => { bytesOut: number; bytesIn: number } {
  let bytesOut = 0;
  let bytesIn = 0;
  let error: Error | undefined;
  let open = 2;
  const fail = (err: Error): void => {
    error ??= err;
    if (!plain.destroyed) plain.resetAndDestroy();
    if (!tunnel.destroyed) resetTunnel(tunnel); // the peer agent must see a cut too, not a clean end
  };
  const closed = (socket: Socket): void => {
    // A socket that closes before its peer's EOF reached it was cut short: the other side must not
    // take what it got as the whole stream.
    if (!socket.readableEnded && error === undefined) fail(new Error('a relayed socket closed before its end of stream'));
    if (--open === 0) done({ bytesOut, bytesIn, error });
  };
  plain.on('data', (chunk: Buffer) => { bytesOut += chunk.length; });
  tunnel.on('data', (chunk: Buffer) => { bytesIn += chunk.length; });
  plain.on('error', fail);
  tunnel.on('error', fail);
  plain.once('close', () => closed(plain));
  tunnel.once('close', () => closed(tunnel));
  plain.pipe(tunnel);
  tunnel.pipe(plain);
  return () => ({ bytesOut, bytesIn });
}
