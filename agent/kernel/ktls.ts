import type { KtlsRelayReason } from '../../native/index.js';
import { KernelError, nativeCall } from './errors.js';
import { native } from './native.js';

/**
 * kTLS through the addon (linux/tls.h; MESH.md §3, §7): sockets this agent owns by a dup() of a
 * Node socket's fd, the tls ULP, keys as opaque crypto_info Buffers (packed by mesh/), records of
 * a given type, and the native splice relay. No TLS logic: mesh/ decides keys, sequence numbers
 * and what each record and end reason means. Failures are KernelError 'SYSCALL' with the errno.
 * MESH.md rule: a socket with the tls ULP but no keys sends plaintext, so after ulp() any
 * failure must end in reset(), never a write.
 */

/** The TLS 1.3 ciphers kTLS takes, by the names mesh/ uses. */
export type KtlsCipherName = 'aes-128-gcm' | 'aes-256-gcm' | 'chacha20-poly1305';
export const KTLS_CIPHERS: readonly KtlsCipherName[] = ['aes-128-gcm', 'aes-256-gcm', 'chacha20-poly1305'];
export type KtlsDirection = 'tx' | 'rx';

/** TLS record content types (RFC 8446 5.1). */
export const RecordType = { alert: 21, handshake: 22, applicationData: 23 } as const;

export type KtlsRecord = { readonly type: number; readonly data: Buffer };
export type { KtlsRelayReason };
/** How a relay ended: bytes moved each way, and why (MESH.md §3). */
export type KtlsRelayEnd = { readonly toTls: number; readonly fromTls: number; readonly reason: KtlsRelayReason };

/** sizeof each linux/tls.h crypto_info struct, as the addon was compiled. */
export function ktlsCryptoInfoSizes(): Readonly<Record<KtlsCipherName, number>> {
  const s = native().ktlsCryptoInfoSizes();
  return { 'aes-128-gcm': s.aesGcm128, 'aes-256-gcm': s.aesGcm256, 'chacha20-poly1305': s.chacha20Poly1305 };
}

/**
 * A socket fd this agent owns: a dup() of a Node socket's fd, so Node can destroy its own handle
 * (MESH.md pitfall 2: that writes nothing) while the socket lives on here. Closed once, by
 * close() or reset(), or handed to a relay.
 */
export class OwnedSocket {
  readonly fd: number;
  #open = true;

  protected constructor(fd: number) {
    this.fd = fd;
  }

  /** dup() of `fd` (e.g. a Node socket's `_handle.fd`). */
  static dup(fd: number): OwnedSocket {
    return new OwnedSocket(dupOf(fd));
  }

  get open(): boolean {
    return this.#open;
  }

  /** Bytes queued for reading (SIOCINQ). */
  inq(): number {
    this.check('inq');
    return nativeCall('SYSCALL', `SIOCINQ on fd ${this.fd}`, () => native().socketInq(this.fd));
  }

  close(): void {
    if (!this.#give()) return;
    nativeCall('SYSCALL', `close fd ${this.fd}`, () => native().closeFd(this.fd));
  }

  /** SO_LINGER {1, 0} and close: the peer sees RST. */
  reset(): void {
    if (!this.#give()) return;
    nativeCall('SYSCALL', `reset fd ${this.fd}`, () => native().resetFd(this.fd));
  }

  /** Hands the fd over (to a relay): this object no longer owns it. */
  protected take(what: string): number {
    this.check(what);
    this.#open = false;
    return this.fd;
  }

  protected check(what: string): void {
    if (!this.#open) throw new KernelError('CLOSED', `socket fd ${this.fd}: ${what} after close`);
  }

  #give(): boolean {
    if (!this.#open) return false;
    this.#open = false;
    return true;
  }

  /** For relayKtls only. */
  static surrender(socket: OwnedSocket, what: string): number {
    return socket.take(what);
  }
}

/** An owned TCP socket being made, or made, a kTLS socket. */
export class KtlsSocket extends OwnedSocket {
  static override dup(fd: number): KtlsSocket {
    return new KtlsSocket(dupOf(fd));
  }

  /** setsockopt TCP_ULP "tls". ENOENT: no tls module, or no CAP_NET_ADMIN to load it. */
  ulp(): void {
    this.check('ulp');
    nativeCall('SYSCALL', `TCP_ULP "tls" on fd ${this.fd}`, () => native().ktlsUlp(this.fd));
  }

  /** TLS_TX or TLS_RX with a packed crypto_info (the caller zeroes it afterwards). */
  setCrypto(direction: KtlsDirection, cryptoInfo: Buffer): void {
    this.check('setCrypto');
    nativeCall('SYSCALL', `SOL_TLS ${direction === 'tx' ? 'TLS_TX' : 'TLS_RX'} on fd ${this.fd}`,
      () => native().ktlsSetCrypto(this.fd, direction, cryptoInfo));
  }

  /** One record of `type`, whole, or a KernelError (EAGAIN when the send buffer is full). */
  sendRecord(type: number, data: Buffer): void {
    this.check('sendRecord');
    const sent = nativeCall('SYSCALL', `sendmsg record type ${type} on fd ${this.fd}`, () => native().ktlsSendRecord(this.fd, type, data));
    if (sent !== data.length) throw new KernelError('SYSCALL', `sendmsg record type ${type} on fd ${this.fd}: ${sent} of ${data.length} bytes sent`);
  }

  /** The next record (consecutive data records may be joined up to maxBytes); null at EOF. */
  async recvRecord(maxBytes = 16384, timeoutMs = 0): Promise<KtlsRecord | null> {
    this.check('recvRecord');
    try {
      return await native().ktlsRecvRecord(this.fd, maxBytes, timeoutMs);
    } catch (err) {
      throw new KernelError('SYSCALL', `recvmsg record on fd ${this.fd}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  }
}

/** A running native relay. */
export interface KtlsRelay {
  readonly id: number;
  /** Bytes delivered each way so far; null once it has ended. */
  counts(): { readonly toTls: number; readonly fromTls: number } | null;
  /** Ends it as a failure ('cancelled'): both sockets reset. Ignored once it has ended. */
  cancel(): void;
}

/**
 * Relays `plain` and `tls` (ULP and both keys set) on the addon's relay thread; both are handed
 * over (closed by the relay). `onEnd` runs once with the bytes moved each way and the reason:
 * 'eof' / 'close_notify' are clean; anything else reset both sockets.
 */
export function relayKtls(plain: OwnedSocket, tls: KtlsSocket, onEnd: (end: KtlsRelayEnd) => void): KtlsRelay {
  plain.inq(); // both still ours: a closed one throws CLOSED before either is handed over
  tls.inq();
  const plainFd = OwnedSocket.surrender(plain, 'relay');
  const tlsFd = OwnedSocket.surrender(tls, 'relay');
  try {
    const id = native().ktlsRelay(plainFd, tlsFd, onEnd);
    return { id, counts: () => native().ktlsRelayCounts(id), cancel: () => native().ktlsRelayCancel(id) };
  } catch (err) {
    native().resetFd(plainFd);
    native().resetFd(tlsFd);
    throw new KernelError('SYSCALL', `ktlsRelay: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}

function dupOf(fd: number): number {
  return nativeCall('SYSCALL', `dup fd ${fd}`, () => native().dupFd(fd));
}
