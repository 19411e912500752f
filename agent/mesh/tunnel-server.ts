import { connect as netConnect, type AddressInfo, type Socket } from 'node:net';
import { createServer, type Server, type TLSSocket } from 'node:tls';
import type { KtlsSocket } from '../kernel/index.js';
import { checkLeaf, type SpiffeId } from '../spiffe/index.js';
import { CONNECT_MAX_BYTES, GO_MAX_BYTES, LineReader, formatReply, parseConnect, parseGo, type ConnectTarget, type Reply } from './connect-line.js';
import { ContextCache } from './context-cache.js';
import { MeshError, type MeshErrorCode } from './errors.js';
import { TUNNEL_SUITES } from './key-schedule.js';
import { LiveTunnels, endpointText, type TunnelView } from './live-tunnels.js';
import { relayNative, type NativeRelay } from './ktls-relay.js';
import { ServerKeylog, ktlsCipherOf, serverSwitch, type KtlsDataPath } from './ktls-switch.js';
import { relay, type RelayResult } from './relay.js';
import { DEFAULT_HANDSHAKE_TIMEOUT_MS, DEFAULT_TUNNEL_PORT, type TunnelEvent, type TunnelEventSink } from './tunnel-event.js';
import { checkPeer, portOfSni, type TunnelSvid, type TunnelTrust } from './tunnel-tls.js';

export type Authorization = 'allow' | 'deny';

export interface TunnelServerOptions {
  readonly trust: TunnelTrust;
  /** The SVID of the workload listening on this local port, or undefined (the handshake fails). */
  readonly svidForPort: (port: number) => TunnelSvid | undefined;
  /** Policy: may source reach destination on this port? Asked after both identities are known. */
  readonly authorize: (source: SpiffeId, destination: SpiffeId, port: number) => Authorization | Promise<Authorization>;
  readonly onEvent?: TunnelEventSink;
  /** Where the destination is dialled: always this host (default 127.0.0.1), never CONNECT's host. */
  readonly destinationHost?: string;
  /** Deadline for the TLS handshake (from accept), and again for CONNECT (from the handshake's end); default 10 s. */
  readonly handshakeTimeoutMs?: number;
  /** kTLS (probeKtls found it): tunnels switch to it after CONNECT/OK/GO (MESH.md §2); unset, Node relays. */
  readonly ktls?: KtlsDataPath;
}

/** What is known of one accepted tunnel as it goes. */
type Accepted = { sourceId?: SpiffeId; destId?: SpiffeId; destination?: ConnectTarget; peer?: string };

/**
 * The server end of tunnels over Node's TLS (MESH.md §5, the fallback): picks the destination
 * workload's SVID by SNI (`p<port>.tether`), checks the client's SVID, reads one CONNECT line,
 * asks policy, dials the local destination (unread), answers OK, reads GO and relays (with
 * `ktls`, in the kernel: MESH.md §2-3); DENIED or FAILED then close otherwise. A bad peer costs its own connection only. Handles: the listening socket and every
 * live tunnel until close().
 */
export class TunnelServer {
  readonly #options: TunnelServerOptions;
  readonly #timeoutMs: number;
  readonly #contexts = new ContextCache();
  readonly #server: Server;
  readonly #live = new Set<Socket>();
  readonly #refused = new WeakSet<TLSSocket>();
  readonly #tunnels = new LiveTunnels();
  readonly #keylog: ServerKeylog | undefined;
  readonly #native = new Set<NativeRelay>();

  constructor(options: TunnelServerOptions) {
    this.#options = options;
    this.#timeoutMs = options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
    // Versions and suites of the handshake come from this first context, not the one SNI picks
    // (OpenSSL's SSL_set_SSL_CTX keeps them): both name the same.
    this.#server = createServer({
      minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3', ciphers: TUNNEL_SUITES.join(':'), requestCert: true, rejectUnauthorized: false,
      handshakeTimeout: this.#timeoutMs, allowHalfOpen: true,
      SNICallback: (servername, cb) => {
        try {
          cb(null, this.#contextFor(servername));
        } catch (err) {
          cb(err instanceof Error ? err : new Error(String(err)), undefined);
        }
      },
    });
    this.#keylog = options.ktls === undefined ? undefined : new ServerKeylog(this.#server);
    this.#server.on('connection', (raw: Socket) => {
      raw.setNoDelay(true); // each exchange line is one small record: Nagle would hold GO's answer for a delayed ACK
      this.#track(raw);
    });
    this.#server.on('secureConnection', (socket: TLSSocket) => this.#accepted(socket));
    // With a listener here Node leaves the socket open (even after its own handshake timeout).
    this.#server.on('tlsClientError', (err: Error, socket: TLSSocket) => {
      socket.destroy();
      this.#emit('failed', {}, handshakeReason(err), err.message);
    });
  }

  /** Listens (default port 15008, all addresses); resolves with the bound address. */
  listen(port: number = DEFAULT_TUNNEL_PORT, host?: string): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, host, () => {
        this.#server.off('error', reject);
        resolve(this.#server.address() as AddressInfo);
      });
    });
  }

  /** Stops accepting and destroys every live tunnel (their workloads see a reset). */
  close(): Promise<void> {
    for (const socket of this.#live) resetOrDestroy(socket);
    for (const r of this.#native) r.cancel();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }

  stats(): { readonly connections: number; readonly tunnels: number } {
    return { connections: this.#live.size, tunnels: this.#tunnels.size };
  }

  /** The tunnels relaying now, with their bytes so far. */
  tunnels(): TunnelView[] {
    return this.#tunnels.list();
  }

  #track(socket: Socket): void {
    this.#live.add(socket);
    socket.once('close', () => this.#live.delete(socket));
  }

  #contextFor(servername: string) {
    const port = portOfSni(servername);
    const svid = port === undefined ? undefined : this.#options.svidForPort(port);
    if (svid === undefined) {
      throw new MeshError('NO_SVID_FOR_PORT', `SNI ${JSON.stringify(servername.slice(0, 64))} names no local workload with an SVID`);
    }
    return this.#contexts.get(svid, this.#options.trust.bundle());
  }

  #accepted(socket: TLSSocket): void {
    this.#track(socket);
    socket.allowHalfOpen = true;
    // The peer's address now: a kTLS switch destroys the TLSSocket, which then has no remoteAddress.
    const state: Accepted = { peer: endpointText(socket.remoteAddress, socket.remotePort) };
    const timer = setTimeout(() => this.#refuse(socket, state, 'TIMEOUT', `no CONNECT within ${this.#timeoutMs} ms`), this.#timeoutMs);
    socket.on('error', () => socket.destroy()); // reported by whichever step was waiting
    socket.once('close', () => {
      clearTimeout(timer);
      if (state.destination === undefined) this.#refuse(socket, state, 'BAD_CONNECT', 'the client closed before CONNECT');
    });
    const peer = checkPeer(socket, this.#options.trust);
    if (!peer.ok) return this.#refuse(socket, state, peer.error.code, peer.error.message);
    state.sourceId = peer.id;
    state.destId = localId(socket);
    if (state.destId === undefined) return this.#refuse(socket, state, 'NO_SVID_FOR_PORT', 'this end presented no SVID');
    this.#readConnect(socket, state, () => {
      clearTimeout(timer);
      void this.#authorize(socket, state as Required<Accepted>);
    });
  }

  /** Reads the one CONNECT line into state.destination, then stops reading: the client is silent until OK. */
  #readConnect(socket: TLSSocket, state: Accepted, then: () => void): void {
    const reader = new LineReader(CONNECT_MAX_BYTES, 'BAD_CONNECT');
    const early = (): void => this.#refuse(socket, state, 'BAD_CONNECT', 'the client ended before CONNECT');
    const onData = (chunk: Buffer): void => {
      try {
        const got = reader.push(chunk);
        if (got === undefined) return;
        if (got.rest.length > 0) throw new MeshError('BAD_CONNECT', 'bytes followed CONNECT before OK');
        state.destination = parseConnect(got.line);
      } catch (err) {
        socket.off('data', onData);
        const e = err instanceof MeshError ? err : new MeshError('BAD_CONNECT', String(err));
        return this.#refuse(socket, state, e.code, e.message);
      }
      socket.off('data', onData);
      socket.off('end', early);
      socket.pause();
      then();
    };
    socket.on('data', onData);
    socket.once('end', early);
  }

  async #authorize(socket: TLSSocket, state: Required<Accepted>): Promise<void> {
    const { sourceId, destId, destination } = state;
    const sniPort = portOfSni(typeof socket.servername === 'string' ? socket.servername : undefined);
    if (destination.port !== sniPort) {
      return this.#answer(socket, state, 'DENIED', 'PORT_MISMATCH', `CONNECT port ${destination.port} is not the SNI's ${sniPort}`);
    }
    let verdict: Authorization;
    try {
      verdict = await this.#options.authorize(sourceId, destId, destination.port);
    } catch (err) {
      return this.#answer(socket, state, 'DENIED', 'DENIED', `authorization failed: ${String(err)}`);
    }
    if (verdict !== 'allow') {
      return this.#answer(socket, state, 'DENIED', 'DENIED', `policy denies ${sourceId.toString()} → ${destId.toString()}:${destination.port}`);
    }
    this.#dial(socket, state);
  }

  #dial(socket: TLSSocket, state: Required<Accepted>): void {
    const host = this.#options.destinationHost ?? '127.0.0.1';
    const dest = netConnect({ host, port: state.destination.port, allowHalfOpen: true, noDelay: true });
    dest.pause(); // not read before GO: a kTLS relay takes it by fd, its first bytes included
    this.#track(dest);
    const failed = (err: Error): void => this.#answer(socket, state, 'FAILED', 'DESTINATION_FAILED', `${host}:${state.destination.port}: ${err.message}`);
    dest.once('error', failed);
    dest.once('connect', () => {
      dest.off('error', failed);
      if (socket.destroyed) {
        // The client went away after CONNECT, before OK (a kTLS client fails as soon as it reads a
        // ticket it cannot decrypt): reset the destination, and report it like any other failure.
        dest.resetAndDestroy();
        this.#keylog?.of(socket)?.zero();
        return this.#emit('failed', state, 'TLS_FAILED', 'the client\'s connection ended after CONNECT, before OK');
      }
      dest.on('error', () => dest.destroy()); // until the relay, a failure shows at the other end
      const cipher = ktlsCipherOf(socket, this.#options.ktls);
      const secrets = this.#keylog?.of(socket);
      if (cipher !== undefined && secrets !== undefined && this.#options.ktls !== undefined) {
        serverSwitch(socket, secrets, cipher, this.#options.ktls, this.#timeoutMs).then((tunnel) => this.#opened(socket, dest, state, Buffer.alloc(0), tunnel),
          (err: MeshError) => { dest.resetAndDestroy(); this.#emit('failed', state, err.code, err.message); });
        return;
      }
      secrets?.zero();
      socket.write(formatReply('OK'));
      this.#awaitGo(socket, dest, state, (rest) => this.#opened(socket, dest, state, rest, undefined));
    });
  }

  /** Node's TLS: GO's line (its count is for kTLS servers), then the relay; `rest` is the client's first bytes. */
  #awaitGo(socket: TLSSocket, dest: Socket, state: Required<Accepted>, then: (rest: Buffer) => void): void {
    const reader = new LineReader(GO_MAX_BYTES, 'BAD_CONNECT');
    const stop = (): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', closed);
    };
    const bad = (err: MeshError): void => {
      stop();
      dest.resetAndDestroy();
      this.#refuse(socket, state, err.code, err.message);
    };
    const closed = (): void => bad(new MeshError('BAD_CONNECT', 'the client closed before GO'));
    const timer = setTimeout(() => bad(new MeshError('TIMEOUT', `no GO within ${this.#timeoutMs} ms`)), this.#timeoutMs);
    const onData = (chunk: Buffer): void => {
      let got;
      try {
        got = reader.push(chunk);
        if (got === undefined) return;
        parseGo(got.line);
      } catch (err) {
        return bad(err instanceof MeshError ? err : new MeshError('BAD_CONNECT', String(err)));
      }
      stop();
      socket.pause();
      then(got.rest);
    };
    socket.on('data', onData);
    socket.once('close', closed);
    socket.resume();
  }

  #opened(socket: TLSSocket, dest: Socket, state: Required<Accepted>, rest: Buffer, tunnel: KtlsSocket | undefined): void {
    if (rest.length > 0 && tunnel === undefined) dest.write(rest);
    this.#emit('opened', state);
    let removed = (): void => {};
    let native: NativeRelay | undefined;
    const done = (r: RelayResult): void => {
      removed();
      if (native !== undefined) this.#native.delete(native);
      this.#emit('closed', state, r.error === undefined ? undefined : 'RELAY_FAILED', r.error?.message,
        { toDestination: r.bytesIn + rest.length, fromDestination: r.bytesOut });
    };
    if (tunnel !== undefined) this.#native.add(native = relayNative(dest, tunnel, rest, done));
    const counts = native?.counts ?? relay(dest, socket, done);
    removed = this.#tunnels.add({
      since: new Date(), side: 'server', sourceId: state.sourceId, destId: state.destId, destination: state.destination,
      peer: state.peer, mode: tunnel === undefined ? 'userspace' : 'ktls',
      bytes: () => { const c = counts(); return { toDestination: c.bytesIn + rest.length, fromDestination: c.bytesOut }; },
    });
  }

  #answer(socket: TLSSocket, state: Accepted, reply: Reply, reason: MeshErrorCode, message: string): void {
    this.#emit(reason === 'DESTINATION_FAILED' ? 'failed' : 'denied', state, reason, message);
    this.#keylog?.of(socket)?.zero();
    if (!socket.destroyed) socket.end(formatReply(reply));
    setTimeout(() => socket.destroy(), this.#timeoutMs).unref();
  }

  /** Refusal before CONNECT is understood: no answer, the connection is dropped; reported once. */
  #refuse(socket: TLSSocket, state: Accepted, reason: MeshErrorCode, message: string): void {
    if (this.#refused.has(socket)) return;
    this.#refused.add(socket);
    this.#keylog?.of(socket)?.zero();
    socket.destroy();
    this.#emit('failed', state, reason, message);
  }

  #emit(kind: TunnelEvent['kind'], state: Accepted, reason?: MeshErrorCode, message?: string, bytes?: TunnelEvent['bytes']): void {
    this.#options.onEvent?.({
      kind, side: 'server', sourceId: state.sourceId, destId: state.destId, destination: state.destination, reason, message, bytes,
    });
  }
}

/** The SPIFFE ID of the SVID this end presented (the one SNI chose), read back from the socket. */
function localId(socket: TLSSocket): SpiffeId | undefined {
  const cert = socket.getX509Certificate();
  try {
    return cert === undefined ? undefined : checkLeaf(cert);
  } catch {
    return undefined;
  }
}

function handshakeReason(err: Error): MeshErrorCode {
  if (err instanceof MeshError) return err.code;
  return (err as NodeJS.ErrnoException).code === 'ERR_TLS_HANDSHAKE_TIMEOUT' ? 'TIMEOUT' : 'TLS_FAILED';
}

/** A plain TCP socket ends with RST (a destination must not take a cut stream for a whole one);
 * a TLSSocket's TCP socket is in the set too and is reset, so the TLS one is only destroyed. */
function resetOrDestroy(socket: Socket): void {
  try {
    socket.resetAndDestroy();
  } catch {
    socket.destroy();
  }
}
