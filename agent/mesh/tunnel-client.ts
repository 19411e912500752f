import type { Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { checkLeaf, type SpiffeId } from '../spiffe/index.js';
import { LineReader, REPLY_MAX_BYTES, formatConnect, parseReply, type ConnectTarget } from './connect-line.js';
import { ContextCache } from './context-cache.js';
import { MeshError, type MeshErrorCode } from './errors.js';
import { relay } from './relay.js';
import { DEFAULT_HANDSHAKE_TIMEOUT_MS, DEFAULT_TUNNEL_PORT, type TunnelEvent, type TunnelEventSink } from './tunnel-event.js';
import { checkPeer, sniForPort, type TunnelSvid, type TunnelTrust } from './tunnel-tls.js';

export interface TunnelClientOptions {
  readonly trust: TunnelTrust;
  readonly onEvent?: TunnelEventSink;
  /** Deadline from dialling the peer agent to its answer to CONNECT; default 10 s. */
  readonly handshakeTimeoutMs?: number;
}

export interface TunnelRequest {
  /**
   * The workload's accepted connection, paused (`pauseOnConnect`) and made with allowHalfOpen:
   * nothing is read from it before OK. On any failure it is reset (resetAndDestroy).
   */
  readonly workload: Socket;
  /** The original destination, as the workload dialled it; its port chooses the server's SVID. */
  readonly destination: ConnectTarget;
  /** The peer agent; port default 15008. */
  readonly peer: { readonly host: string; readonly port?: number };
  /** The source workload's SVID, presented to the peer agent. */
  readonly svid: TunnelSvid;
  /** When set, the server must present exactly this SPIFFE ID. */
  readonly expectedServerId?: SpiffeId;
}

export type TunnelOpened = { readonly ok: true; readonly serverId: SpiffeId } | { readonly ok: false; readonly error: MeshError };

type Fail = (code: MeshErrorCode, message: string, kind?: 'failed' | 'denied') => void;

/** What is known of one tunnel as it goes. */
type Opening = { readonly sourceId: SpiffeId | undefined; destId?: SpiffeId; readonly destination: ConnectTarget };

/**
 * The client end of tunnels over Node's TLS (MESH.md §5): TLS 1.3 to the peer agent with the
 * source workload's SVID and SNI `p<port>.tether`, the server's SVID checked, one CONNECT line,
 * then the workload's socket is piped once OK arrives. Anything else resets the workload.
 * Holds no resource between tunnels (its SecureContexts are weakly cached per SVID).
 */
export class TunnelClient {
  readonly #options: TunnelClientOptions;
  readonly #timeoutMs: number;
  readonly #contexts = new ContextCache();

  constructor(options: TunnelClientOptions) {
    this.#options = options;
    this.#timeoutMs = options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
  }

  /** Resolves once the tunnel relays (ok) or has failed and reset the workload (not ok). */
  open(request: TunnelRequest): Promise<TunnelOpened> {
    let sourceId: SpiffeId;
    try {
      sourceId = checkLeaf(request.svid.chain[0] ?? Buffer.alloc(0));
    } catch (err) {
      request.workload.resetAndDestroy();
      const error = new MeshError('LOCAL_SVID_INVALID', `the source SVID cannot be presented: ${String(err)}`, { cause: err });
      this.#emit('failed', { sourceId: undefined, destination: request.destination }, error.code, error.message);
      return Promise.resolve({ ok: false, error });
    }
    const state: Opening = { sourceId, destination: request.destination };
    return new Promise((resolve) => {
      const tls = tlsConnect({
        host: request.peer.host, port: request.peer.port ?? DEFAULT_TUNNEL_PORT, servername: sniForPort(request.destination.port),
        secureContext: this.#contexts.get(request.svid, this.#options.trust.bundle()), rejectUnauthorized: false,
      });
      tls.allowHalfOpen = true;
      let settled = false;
      const fail: Fail = (code, message, kind = 'failed') => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        tls.destroy();
        if (!request.workload.destroyed) request.workload.resetAndDestroy();
        this.#emit(kind, state, code, message);
        resolve({ ok: false, error: new MeshError(code, message) });
      };
      const timer = setTimeout(() => fail('TIMEOUT', `no answer from ${request.peer.host} within ${this.#timeoutMs} ms`), this.#timeoutMs);
      const where = `the tunnel to ${request.peer.host}`;
      tls.on('error', (err) => fail('TLS_FAILED', `${where}: ${err.message}`));
      // The socket is half-open capable: the peer's EOF alone does not close it.
      tls.once('end', () => fail('TLS_FAILED', `${where} ended before answering CONNECT`));
      tls.once('close', () => fail('TLS_FAILED', `${where} closed before answering CONNECT`));
      request.workload.once('error', (err) => fail('RELAY_FAILED', `the workload's connection failed: ${err.message}`));
      tls.once('secureConnect', () => this.#exchange(tls, request, state, fail, (serverId, rest) => {
        settled = true;
        clearTimeout(timer);
        this.#relay(request.workload, tls, rest, state);
        resolve({ ok: true, serverId });
      }));
    });
  }

  /** After the handshake: check the server, send CONNECT, read the answer. */
  #exchange(tls: TLSSocket, request: TunnelRequest, state: Opening, fail: Fail, ok: (serverId: SpiffeId, rest: Buffer) => void): void {
    const peer = checkPeer(tls, this.#options.trust);
    if (!peer.ok) return fail(peer.error.code, peer.error.message);
    state.destId = peer.id;
    if (request.expectedServerId !== undefined && !peer.id.equals(request.expectedServerId)) {
      return fail('PEER_UNEXPECTED_ID', `the server is ${peer.id.toString()}, not ${request.expectedServerId.toString()}`);
    }
    tls.write(formatConnect(request.destination));
    this.#awaitReply(tls, (reply, rest) => {
      if (reply === 'DENIED') return fail('DENIED', 'the peer agent denied the connection', 'denied');
      if (reply === 'FAILED') return fail('DESTINATION_FAILED', 'the peer agent could not reach the destination');
      ok(peer.id, rest);
    }, (err) => fail(err.code, err.message));
  }

  #awaitReply(tls: TLSSocket, then: (reply: 'OK' | 'DENIED' | 'FAILED', rest: Buffer) => void, bad: (err: MeshError) => void): void {
    const reader = new LineReader(REPLY_MAX_BYTES, 'BAD_REPLY');
    const onData = (chunk: Buffer): void => {
      let reply;
      let got;
      try {
        got = reader.push(chunk);
        if (got === undefined) return;
        reply = parseReply(got.line);
      } catch (err) {
        tls.off('data', onData);
        return bad(err as MeshError);
      }
      tls.off('data', onData);
      tls.pause();
      then(reply, got.rest);
    };
    tls.on('data', onData);
  }

  #relay(workload: Socket, tls: TLSSocket, rest: Buffer, state: Opening): void {
    workload.allowHalfOpen = true;
    // A server that speaks first may have sent bytes in OK's record: they are the stream's start.
    if (rest.length > 0) workload.write(rest);
    this.#emit('opened', state);
    relay(workload, tls, (r) => this.#emit('closed', state, r.error === undefined ? undefined : 'RELAY_FAILED', r.error?.message,
      { toDestination: r.bytesOut, fromDestination: r.bytesIn + rest.length }));
  }

  #emit(kind: TunnelEvent['kind'], state: Opening, reason?: MeshErrorCode, message?: string, bytes?: TunnelEvent['bytes']): void {
    this.#options.onEvent?.({
      kind, side: 'client', sourceId: state.sourceId, destId: state.destId, destination: state.destination, reason, message, bytes,
    });
  }
}
