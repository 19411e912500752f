import { createServer, connect, type Server, type Socket } from 'node:net';
import { endianness } from 'node:os';
import { KernelError } from './errors.js';
import { KTLS_CIPHERS, KtlsSocket, ktlsCryptoInfoSizes, type KtlsCipherName } from './ktls.js';

/**
 * MESH.md §5: whether this agent, with its own privileges, can use kTLS. Once at start-up, on a
 * connected loopback TCP pair per cipher: TCP_ULP "tls", then SOL_TLS TLS_TX with a dummy
 * crypto_info (zero key, linux/tls.h's size from the addon). ENOENT from the ULP means "not
 * built", or "not loaded and no CAP_NET_ADMIN to load it": only such a probe settles it. The
 * result is reported once (log and metric); the fallback is never silent. Every socket it opens
 * is reset and closed before it returns; nothing is ever written to them.
 */
export type KtlsMode = 'ktls' | 'userspace';

export interface KtlsProbeResult {
  readonly mode: KtlsMode;
  /** The ciphers the kernel took a TLS_TX for (empty in userspace mode). */
  readonly ciphers: readonly KtlsCipherName[];
  /** One sentence naming each errno met (ENOENT, ENOPROTOOPT...). */
  readonly detail: string;
}

export interface KtlsProbeOptions {
  /**
   * The crypto_info size mesh/ packs for each cipher: each must equal the addon's sizeof, or
   * the probe throws ABI_MISMATCH (a wrong packing would be refused, or worse, per connection).
   */
  readonly cryptoInfoSize?: (cipher: KtlsCipherName) => number;
  /** Ciphers to probe; default all three. */
  readonly ciphers?: readonly KtlsCipherName[];
}

// linux/tls.h: TLS_1_3_VERSION, TLS_CIPHER_AES_GCM_128 51, _AES_GCM_256 52, _CHACHA20_POLY1305 54.
const TLS_1_3_VERSION = 0x0304;
const CIPHER_TYPE: Readonly<Record<KtlsCipherName, number>> = { 'aes-128-gcm': 51, 'aes-256-gcm': 52, 'chacha20-poly1305': 54 };
// What a correct probe never meets: its own bug, not the kernel's answer.
const PROBE_BUGS = new Set(['ENOTCONN', 'EEXIST', 'EBUSY', 'EBADF', 'ENOTSOCK']);

type Step = { readonly ok: true } | { readonly ok: false; readonly errno: string };

export async function probeKtls(options: KtlsProbeOptions = {}): Promise<KtlsProbeResult> {
  const sizes = ktlsCryptoInfoSizes();
  const ciphers = options.ciphers ?? KTLS_CIPHERS;
  if (options.cryptoInfoSize !== undefined) {
    for (const cipher of KTLS_CIPHERS) {
      const packed = options.cryptoInfoSize(cipher);
      if (packed !== sizes[cipher]) {
        throw new KernelError('ABI_MISMATCH', `crypto_info for ${cipher} is packed as ${packed} bytes; linux/tls.h's is ${sizes[cipher]}`);
      }
    }
  }
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  try {
    const took: KtlsCipherName[] = [];
    const refused: string[] = [];
    for (const cipher of ciphers) {
      const { ulp, tx } = await onFreshPair(server, (s) => tryBoth(s, dummyCryptoInfo(cipher, sizes[cipher])));
      if (!ulp.ok) {
        const txErr = tx.ok ? 'ok' : tx.errno;
        return { mode: 'userspace', ciphers: [], detail: `TCP_ULP "tls" gives ${ulp.errno} (SOL_TLS TLS_TX: ${txErr}): no kTLS with these privileges; tunnels encrypt in user space` };
      }
      if (tx.ok) took.push(cipher);
      else refused.push(`${cipher}: TLS_TX gives ${tx.errno}`);
    }
    if (took.length === 0) return { mode: 'userspace', ciphers: [], detail: `TCP_ULP "tls" is taken but no cipher is (${refused.join('; ')})` };
    const detail = `TCP_ULP "tls" and TLS_TX taken for ${took.join(', ')}${refused.length > 0 ? `; refused: ${refused.join('; ')}` : ''}`;
    return { mode: 'ktls', ciphers: took, detail };
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
}

/** TCP_ULP, then TLS_TX even when the ULP failed (its errno completes the detail). */
function tryBoth(socket: KtlsSocket, info: Buffer): { ulp: Step; tx: Step } {
  const ulp = step(() => socket.ulp());
  const tx = step(() => socket.setCrypto('tx', info));
  return { ulp, tx };
}

function step(fn: () => void): Step {
  try {
    fn();
    return { ok: true };
  } catch (err) {
    if (!(err instanceof KernelError) || err.errno === undefined) throw err;
    if (PROBE_BUGS.has(err.errno)) throw new KernelError('SYSCALL', `kTLS probe: ${err.message}`, { cause: err });
    return { ok: false, errno: err.errno };
  }
}

function dummyCryptoInfo(cipher: KtlsCipherName, size: number): Buffer {
  const info = Buffer.alloc(size); // zero key, IV, salt and sequence: never used to send
  if (endianness() === 'LE') {
    info.writeUInt16LE(TLS_1_3_VERSION, 0);
    info.writeUInt16LE(CIPHER_TYPE[cipher], 2);
  } else {
    info.writeUInt16BE(TLS_1_3_VERSION, 0);
    info.writeUInt16BE(CIPHER_TYPE[cipher], 2);
  }
  return info;
}

/** A connected loopback pair; `fn` gets a dup of the client's fd; both ends are reset and closed after. */
async function onFreshPair<T>(server: Server, fn: (socket: KtlsSocket) => T): Promise<T> {
  const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
  const client = connect({ host: '127.0.0.1', port: (server.address() as { port: number }).port });
  let peer: Socket | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      client.once('connect', resolve);
      client.once('error', reject);
    });
    peer = await accepted;
    const fd = (client as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
    if (typeof fd !== 'number' || fd < 0) throw new KernelError('SYSCALL', 'kTLS probe: the loopback socket has no file descriptor');
    const socket = KtlsSocket.dup(fd);
    try {
      return fn(socket);
    } finally {
      socket.reset(); // SO_LINGER {1, 0} on the socket: Node's close below sends RST, no FIN
    }
  } finally {
    client.destroy();
    peer?.destroy();
  }
}
