import type { Server, TLSSocket } from 'node:tls';
import { KernelError, KtlsSocket, RecordType } from '../kernel/index.js';
import { GO_MAX_BYTES, REPLY_MAX_BYTES, formatGo, parseGo, parseReply, type Reply } from './connect-line.js';
import { tcpHandle } from './tls-handle.js';
import { MeshError } from './errors.js';
import { cipherOfSuite, cryptoInfo, parseKeylogLine, trafficKeys, zero, zeroKeys, type KtlsCipher } from './key-schedule.js';

/**
 * The switch of a tunnel from Node's TLS to kTLS (MESH.md §2, the recommended variant). Node
 * does the handshake and writes one line each way (CONNECT, OK); each end then takes the fd at
 * that write's callback, when Node has consumed nothing of the peer's application records:
 *   client: TX at seq 1 (CONNECT was 0), RX at 0; reads tickets then OK; sends `GO <n>` with n
 *           the records it read (tickets + OK);
 *   server: RX at seq 1 (GO follows CONNECT), reads GO n; TX at n (its tickets and OK went first).
 * Keys come from Node's keylog lines; secrets, keys and crypto_info are zeroed once installed.
 * After TCP_ULP any failure resets the socket: a tls-ULP socket without keys sends plaintext.
 */
export interface KtlsDataPath {
  /** The ciphers the start-up probe found (probeKtls): another suite's tunnel stays in Node. */
  readonly ciphers: readonly KtlsCipher[];
  /** Test only: added to the RX sequence number installed, to prove a wrong one fails closed. */
  readonly rxSeqSkew?: bigint;
}

/** The application traffic secrets of one connection, as its keylog lines gave them. */
export class TrafficSecrets {
  #client: Buffer | undefined;
  #server: Buffer | undefined;

  /** One keylog line (never logged); lines other than the two traffic secrets are dropped. */
  add(line: Buffer): void {
    const s = parseKeylogLine(line);
    zero(line);
    if (s === undefined) return;
    zero(s.clientRandom);
    if (s.label === 'CLIENT_TRAFFIC_SECRET_0') this.#client = s.secret;
    else this.#server = s.secret;
  }

  /** Both secrets, handed over once (the caller zeroes them). */
  take(): { readonly client: Buffer; readonly server: Buffer } {
    const [client, server] = [this.#client, this.#server];
    this.#client = this.#server = undefined;
    if (client === undefined || server === undefined) throw new MeshError('BAD_KEYLOG', 'the handshake gave no traffic secrets for this tunnel');
    return { client, server };
  }

  zero(): void {
    zero(this.#client, this.#server);
    this.#client = this.#server = undefined;
  }
}

/** A client TLSSocket's secrets, captured from its 'keylog' events (listen before the handshake). */
export function captureKeylog(tls: TLSSocket): TrafficSecrets {
  const secrets = new TrafficSecrets();
  tls.on('keylog', (line: Buffer) => secrets.add(line));
  return secrets;
}

/** A tls.Server's secrets per accepted socket ('keylog' (line, socket)). */
export class ServerKeylog {
  readonly #by = new WeakMap<TLSSocket, TrafficSecrets>();

  constructor(server: Server) {
    server.on('keylog', (line: Buffer, socket: TLSSocket) => {
      let s = this.#by.get(socket);
      if (s === undefined) this.#by.set(socket, (s = new TrafficSecrets()));
      s.add(line);
    });
  }

  of(socket: TLSSocket): TrafficSecrets | undefined {
    return this.#by.get(socket);
  }
}

/** The kTLS cipher of the tunnel's negotiated suite, when the kernel takes it; else undefined (Node relays). */
export function ktlsCipherOf(tls: TLSSocket, path: KtlsDataPath | undefined): KtlsCipher | undefined {
  if (path === undefined) return undefined;
  try {
    const cipher = cipherOfSuite(tls.getCipher().standardName);
    return path.ciphers.includes(cipher) ? cipher : undefined;
  } catch {
    return undefined;
  }
}

export type ClientSwitched =
  | { readonly reply: 'OK'; readonly tunnel: KtlsSocket }
  | { readonly reply: Exclude<Reply, 'OK'>; readonly tunnel: undefined };

/** Client, in secureConnect after the peer check: CONNECT through Node, then kTLS (steps 1, 2, 5). */
export async function clientSwitch(
  tls: TLSSocket, secrets: TrafficSecrets, cipher: KtlsCipher, connect: Buffer, path: KtlsDataPath, timeoutMs: number,
): Promise<ClientSwitched> {
  const tunnel = await takeAfterWrite(tls, connect);
  try {
    install(tunnel, cipher, secrets, 'client', 1n, 0n + (path.rxSeqSkew ?? 0n));
    let records = 0;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const record = await tunnel.recvRecord(16640, Math.max(1, deadline - Date.now()));
      if (record === null) throw new MeshError('TLS_FAILED', 'the tunnel ended before answering CONNECT');
      records++;
      if (record.type === RecordType.handshake && onlyTickets(record.data)) continue;
      if (record.type !== RecordType.applicationData) throw new MeshError('BAD_REPLY', `a record of type ${record.type} came before the answer to CONNECT`);
      const nl = record.data.indexOf(0x0a);
      if (nl !== record.data.length - 1 || nl + 1 > REPLY_MAX_BYTES) throw new MeshError('BAD_REPLY', 'the answer to CONNECT is not one line in one record');
      const reply = parseReply(record.data.subarray(0, nl).toString('latin1'));
      if (reply !== 'OK') {
        tunnel.reset();
        return { reply, tunnel: undefined };
      }
      tunnel.sendRecord(RecordType.applicationData, formatGo(records));
      return { reply, tunnel };
    }
  } catch (err) {
    tunnel.reset();
    throw asMeshError(err);
  }
}

/** Server, once the destination is connected (not read): OK through Node, then kTLS (steps 3, 4). */
export async function serverSwitch(tls: TLSSocket, secrets: TrafficSecrets, cipher: KtlsCipher, path: KtlsDataPath, timeoutMs: number): Promise<KtlsSocket> {
  const tunnel = await takeAfterWrite(tls, Buffer.from('OK\n'));
  let keys: { readonly client: Buffer; readonly server: Buffer } | undefined;
  try {
    keys = secrets.take();
    tunnel.ulp();
    setKey(tunnel, 'rx', cipher, keys.client, 1n + (path.rxSeqSkew ?? 0n));
    const records = await readGo(tunnel, Date.now() + timeoutMs);
    setKey(tunnel, 'tx', cipher, keys.server, BigInt(records));
    return tunnel;
  } catch (err) {
    tunnel.reset();
    throw asMeshError(err);
  } finally {
    zero(keys?.client, keys?.server);
  }
}

/**
 * GO's line, read a byte at a time: the client's first workload bytes may follow in the next
 * records, and a larger read would join them (kTLS joins data records); they stay for the relay.
 */
async function readGo(tunnel: KtlsSocket, deadline: number): Promise<number> {
  let line = '';
  while (line.length < GO_MAX_BYTES) {
    const record = await tunnel.recvRecord(1, Math.max(1, deadline - Date.now()));
    if (record === null) throw new MeshError('BAD_CONNECT', 'the client ended before GO');
    if (record.type !== RecordType.applicationData) throw new MeshError('BAD_CONNECT', `a record of type ${record.type} came instead of GO`);
    const c = record.data.toString('latin1');
    if (c === '\n') return parseGo(line);
    line += c;
  }
  throw new MeshError('BAD_CONNECT', `GO is longer than ${GO_MAX_BYTES} bytes`);
}

const switched = new WeakSet<TLSSocket>();

/** Whether this TLSSocket was closed by a switch to kTLS (its tunnel lives on in the kernel). */
export function switchedToKtls(tls: TLSSocket): boolean {
  return switched.has(tls);
}

/** Stops Node reading, writes `line` through Node, and at its callback takes the fd (dup) and lets Node close its own. */
function takeAfterWrite(tls: TLSSocket, line: Buffer): Promise<KtlsSocket> {
  const handle = tcpHandle(tls);
  handle.readStop();
  return new Promise((resolve, reject) => {
    tls.write(line, (err) => {
      if (err) return reject(new MeshError('TLS_FAILED', `writing through Node's TLS: ${err.message}`, { cause: err }));
      let tunnel: KtlsSocket;
      try {
        tunnel = KtlsSocket.dup(handle.fd);
      } catch (e) {
        return reject(asMeshError(e));
      }
      // Node's socket is done; its destroy() writes nothing (MESH.md pitfall 2). Its 'close'
      // listeners ask switchedToKtls() to tell this close from a failure.
      switched.add(tls);
      tls.on('error', () => undefined);
      tls.destroy();
      resolve(tunnel);
    });
  });
}

/** TCP_ULP, then TX at txSeq and RX at rxSeq from this end's view; the secrets are zeroed whatever happens. */
function install(tunnel: KtlsSocket, cipher: KtlsCipher, secrets: TrafficSecrets, side: 'client' | 'server', txSeq: bigint, rxSeq: bigint): void {
  const { client, server } = secrets.take();
  try {
    tunnel.ulp();
    setKey(tunnel, 'tx', cipher, side === 'client' ? client : server, txSeq);
    setKey(tunnel, 'rx', cipher, side === 'client' ? server : client, rxSeq);
  } finally {
    zero(client, server);
  }
}

function setKey(tunnel: KtlsSocket, direction: 'tx' | 'rx', cipher: KtlsCipher, secret: Buffer, seq: bigint): void {
  const keys = trafficKeys(cipher, secret);
  const info = cryptoInfo(keys, seq);
  try {
    tunnel.setCrypto(direction, info);
  } finally {
    zero(info);
    zeroKeys(keys);
  }
}

/** True when a handshake record holds only NewSessionTickets (type 4), each whole. */
function onlyTickets(data: Buffer): boolean {
  let at = 0;
  while (at < data.length) {
    if (at + 4 > data.length || data[at] !== 4) return false;
    at += 4 + data.readUIntBE(at + 1, 3);
  }
  return at === data.length && data.length > 0;
}

function asMeshError(err: unknown): MeshError {
  if (err instanceof MeshError) return err;
  const errno = err instanceof KernelError && err.errno !== undefined ? ` (${err.errno})` : '';
  return new MeshError('TLS_FAILED', `kTLS switch: ${err instanceof Error ? err.message : String(err)}${errno}`, { cause: err });
}

