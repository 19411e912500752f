import type { SpiffeId } from '../spiffe/index.js';
import type { ConnectTarget } from './connect-line.js';
import type { MeshErrorCode } from './errors.js';

/**
 * What one tunnel end reports, once per step: `opened` after OK, `closed` when the relay is over
 * (with its bytes; `reason` set when it ended by a failure), `denied` when policy refused,
 * `failed` for any other refusal or error before OK. Identities are those known at that step:
 * a peer refused before its check passed has none. Never carries keys or payload.
 */
export type TunnelEvent = {
  readonly kind: 'opened' | 'closed' | 'denied' | 'failed';
  readonly side: 'client' | 'server';
  readonly sourceId: SpiffeId | undefined;
  readonly destId: SpiffeId | undefined;
  /** What CONNECT named (client: the original destination). */
  readonly destination: ConnectTarget | undefined;
  readonly reason: MeshErrorCode | undefined;
  /** The rule that was broken, for the log; undefined for opened and clean closes. */
  readonly message: string | undefined;
  /** `closed` only: bytes relayed towards the destination and back from it. */
  readonly bytes: { readonly toDestination: number; readonly fromDestination: number } | undefined;
};

export type TunnelEventSink = (event: TunnelEvent) => void;

/** Default handshake + CONNECT/answer deadline (each end): long enough for a loaded host, short for a stall. */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;

/** The port tunnel servers listen on (MESH.md §1, Istio's HBONE port). */
export const DEFAULT_TUNNEL_PORT = 15008;
