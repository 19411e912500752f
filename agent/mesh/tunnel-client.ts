import type { Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import type { KtlsSocket } from '../kernel/index.js';
import { checkLeaf, type SpiffeId } from '../spiffe/index.js';
import { LineReader, REPLY_MAX_BYTES, formatConnect, formatGo, parseReply, type ConnectTarget } from './connect-line.js';
import { ContextCache } from './context-cache.js';
import { MeshError, type MeshErrorCode } from './errors.js';
import { LiveTunnels, endpointText, type TunnelView } from './live-tunnels.js';
import { relayNative } from './ktls-relay.js';
import { resetTunnel } from './tls-handle.js';
import { captureKeylog, clientSwitch, ktlsCipherOf, switchedToKtls, type KtlsDataPath, type TrafficSecrets } from './ktls-switch.js';
import { relay, type RelayResult } from './relay.js';
import { DEFAULT_HANDSHAKE_TIMEOUT_MS, DEFAULT_TUNNEL_PORT, type TunnelEvent, type TunnelEventSink } from './tunnel-event.js';
import { checkPeer, sniForPort, type TunnelSvid, type TunnelTrust } from './tunnel-tls.js';

export interface TunnelClientOptions {
  readonly trust: TunnelTrust;
  readonly onEvent?: TunnelEventSink;
  /** Deadline from dialling the peer agent to its answer to CONNECT; default 10 s. */
  readonly handshakeTimeoutMs?: number;
  /** kTLS (probeKtls found it): tunnels switch to it after CONNECT/OK (MESH.md §2); unset, Node relays. */
  readonly ktls?: KtlsDataPath;
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
  /**
   * Policy at the source, once the server's SVID is known: undefined lets the tunnel on, a
   * refusal resets the workload (reported as denied, or failed for PEER_UNEXPECTED_ID).
   */
  readonly checkServer?: (serverId: SpiffeId) => { readonly code: 'DENIED' | 'PEER_UNEXPECTED_ID'; readonly message: string } | undefined;
}

export type TunnelOpened = { readonly ok: true; readonly serverId: SpiffeId } | { readonly ok: false; readonly error: MeshError };

type Fail = (code: MeshErrorCode, message: string, kind?: 'failed' | 'denied') => void;

/** What is known of one tunnel as it goes. */
type Opening = { readonly sourceId: SpiffeId | undefined; destId?: SpiffeId; readonly destination: ConnectTarget };

/**
 * The client end of tunnels over Node's TLS (MESH.md §5): TLS 1.3 to the peer agent with the
 * source workload's SVID and SNI `p<port>.tether`, the server's SVID checked, one CONNECT line,
 * then GO and the workload's socket is piped once OK arrives (with `ktls`, in the kernel: MESH.md
 * §2-3). Anything else resets the workload. Holds no resource between tunnels (its
 * SecureContexts are weakly cached per SVID).
 */
export class TunnelClient {
  readonly #options: TunnelClientOptions;
  readonly #timeoutMs: number;
  readonly #contexts = new ContextCache();
  readonly #tunnels = new LiveTunnels();
  /** How to end each relaying tunnel now (close()). */
  readonly #relaying = new Set<() => void>();

  constructor(options: TunnelClientOptions) {
    this.#options = options;
    this.#timeoutMs = options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
  }

  /** Ends every relaying tunnel: its workload sees a reset, never a clean end that would pass for
   * the whole stream. Tunnels still opening fail on their own (their peer goes, or the deadline). */
  close(): void {
    for (const stop of [...this.#relaying]) stop();
  }

  /** The tunnels relaying now, with their bytes so far. */
  tunnels(): TunnelView[] {
    return this.#tunnels.list();
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
      tls.setNoDelay(true); // CONNECT, GO and a workload's first bytes are small: Nagle would wait for a delayed ACK
      const secrets = this.#options.ktls === undefined ? undefined : captureKeylog(tls);
      let tickets = 0; // NewSessionTickets before OK: GO's count when Node relays (MESH.md §2)
      tls.on('session', () => { tickets++; });
      let settled = false;
      const fail: Fail = (code, message, kind = 'failed') => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        secrets?.zero();
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
      tls.once('close', () => switchedToKtls(tls) || fail('TLS_FAILED', `${where} closed before answering CONNECT`));
      request.workload.once('error', (err) => fail('RELAY_FAILED', `the workload's connection failed: ${err.message}`));
      tls.once('secureConnect', () => this.#exchange(tls, request, state, fail, { secrets, tickets: () => tickets }, (serverId, rest, tunnel) => {
        if (settled) return tunnel?.reset(); // the deadline passed during the switch
        settled = true;
        clearTimeout(timer);
        secrets?.zero();
        this.#relay(request, tls, rest, state as Required<Opening>, tunnel);
        resolve({ ok: true, serverId });
      }));
    });
  }

  /** After the handshake: check the server, send CONNECT, read the answer, send GO (in kTLS when it takes the suite). */
  #exchange(
    tls: TLSSocket, request: TunnelRequest, state: Opening, fail: Fail, seen: { secrets: TrafficSecrets | undefined; tickets: () => number },
    ok: (serverId: SpiffeId, rest: Buffer, tunnel?: KtlsSocket) => void,
  ): void {
    const peer = checkPeer(tls, this.#options.trust);
    if (!peer.ok) return fail(peer.error.code, peer.error.message);
    state.destId = peer.id;
    if (request.expectedServerId !== undefined && !peer.id.equals(request.expectedServerId)) {
      return fail('PEER_UNEXPECTED_ID', `the server is ${peer.id.toString()}, not ${request.expectedServerId.toString()}`);
    }
    const refused = request.checkServer?.(peer.id);
    if (refused !== undefined) return fail(refused.code, refused.message, refused.code === 'DENIED' ? 'denied' : 'failed');
    const answered = (reply: 'OK' | 'DENIED' | 'FAILED'): boolean => {
      if (reply === 'DENIED') fail('DENIED', 'the peer agent denied the connection', 'denied');
      if (reply === 'FAILED') fail('DESTINATION_FAILED', 'the peer agent could not reach the destination');
      return reply === 'OK';
    };
    const cipher = ktlsCipherOf(tls, this.#options.ktls);
    if (seen.secrets !== undefined && cipher !== undefined && this.#options.ktls !== undefined) {
      clientSwitch(tls, seen.secrets, cipher, formatConnect(request.destination), this.#options.ktls, this.#timeoutMs).then(
        (r) => answered(r.reply) && ok(peer.id, Buffer.alloc(0), r.tunnel), (err: MeshError) => fail(err.code, err.message));
      return;
    }
    tls.write(formatConnect(request.destination));
    this.#awaitReply(tls, (reply, rest) => {
      if (!answered(reply)) return;
      tls.write(formatGo(seen.tickets() + 1)); // tickets + OK: what a kTLS server sets its TX sequence to
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

  #relay(request: TunnelRequest, tls: TLSSocket, rest: Buffer, state: Required<Opening>, tunnel: KtlsSocket | undefined): void {
    const { workload } = request;
    workload.allowHalfOpen = true;
    // A server that speaks first may have sent bytes in OK's record: they are the stream's start.
    if (rest.length > 0 && tunnel === undefined) workload.write(rest);
    this.#emit('opened', state);
    let removed = (): void => {};
    const done = (r: RelayResult): void => {
      removed();
      this.#relaying.delete(stop);
      this.#emit('closed', state, r.error === undefined ? undefined : 'RELAY_FAILED', r.error?.message,
        { toDestination: r.bytesOut, fromDestination: r.bytesIn + rest.length });
    };
    const native = tunnel === undefined ? undefined : relayNative(workload, tunnel, rest, done);
    const counts = native?.counts ?? relay(workload, tls, done);
    const stop = (): void => {
      native?.cancel();
      if (!workload.destroyed) workload.resetAndDestroy();
      if (!tls.destroyed) resetTunnel(tls);
    };
    this.#relaying.add(stop);
    const untrack = this.#tunnels.add({
      since: new Date(), side: 'client', sourceId: state.sourceId as SpiffeId, destId: state.destId, destination: state.destination,
      peer: endpointText(request.peer.host, request.peer.port ?? DEFAULT_TUNNEL_PORT), mode: tunnel === undefined ? 'userspace' : 'ktls',
      bytes: () => { const c = counts(); return { toDestination: c.bytesOut, fromDestination: c.bytesIn + rest.length }; },
    });
    removed = untrack;
  }

  #emit(kind: TunnelEvent['kind'], state: Opening, reason?: MeshErrorCode, message?: string, bytes?: TunnelEvent['bytes']): void {
    this.#options.onEvent?.({
      kind, side: 'client', sourceId: state.sourceId, destId: state.destId, destination: state.destination, reason, message, bytes,
    });
  }
}
