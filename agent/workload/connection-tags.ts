/**
 * Our own listener on the Workload API socket, so that every call is attested on the connection
 * it came on (DESIGN.md, "Rules that follow from the walk"). For each accepted socket the kernel
 * says who connected (SO_PEERCRED, and a pidfd held for the connection's life); the socket gets
 * a tag this server chose, and only then is it handed to grpc-js. grpc-js computes a call's
 * getPeer() from the socket under its HTTP/2 session: `${remoteAddress}:${remotePort}`, or
 * remoteAddress alone when remotePort is falsy (server-interceptors.js, getPeer). A Unix socket
 * has neither, so the tag is defined as the socket object's own remoteAddress (shadowing
 * net.Socket's getter) with remotePort undefined: getPeer() is then exactly the tag, and nothing
 * the client sends can change it.
 */
import { randomBytes } from 'node:crypto';
import { chmod, lstat, mkdir, unlink } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import type { Duplex } from 'node:stream';
import type { ConnectionPeer, PeerPidFd, WorkloadLog } from './backend.js';
import { WorkloadError } from './errors.js';
import { clearStaleSocket } from './socket-path.js';

/** kernel/ PeerCredentialReader, typed by what is used. */
export interface PeerCredentialsReaderLike {
  read(sockFd: number): { readonly pid: number; readonly uid: number; readonly gid: number; readonly pidfd: PeerPidFd };
}

/** grpc-js Server.createConnectionInjector(...)'s result, typed by what is used. */
export interface ConnectionInjectorLike {
  injectConnection(connection: Duplex): void;
}

export interface ConnectionTagsOptions {
  readonly socketPath: string;
  readonly peers: PeerCredentialsReaderLike;
  readonly log: WorkloadLog;
}

const TAG_PREFIX = 'tether-conn-';

const LISTEN_BACKLOG = 4096;

export class ConnectionTags {
  readonly #options: ConnectionTagsOptions;
  readonly #byTag = new Map<string, ConnectionPeer>();
  readonly #sockets = new Set<Socket>();
  #server: Server | undefined;
  #closed: Promise<void> | undefined;
  #ino: number | undefined;

  constructor(options: ConnectionTagsOptions) {
    this.#options = options;
  }

  /** Listens on the socket path (mode 0666: any local process may ask; the kernel says who it
   * is), handing each tagged connection to `injector`. */
  async listen(injector: ConnectionInjectorLike): Promise<void> {
    const path = this.#options.socketPath;
    await prepareSocketPath(path);
    const server = createServer((socket) => this.#accept(socket, injector));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      // A burst of workloads (a node's pods starting at once) must queue, not fail with EAGAIN:
      // Node's default backlog is 511; the kernel caps this at net.core.somaxconn.
      server.listen({ path, backlog: LISTEN_BACKLOG }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.#options.log.error({ err }, 'Workload API listener failed'));
    this.#server = server;
    this.#closed = new Promise((resolve) => server.once('close', resolve));
    try {
      await chmod(path, 0o666);
      this.#ino = (await lstat(path)).ino;
    } catch (cause) {
      server.close();
      throw new WorkloadError('SOCKET_SETUP', `cannot make ${path} mode 0666`, { cause });
    }
  }

  /** The peer of the connection a call came on, by the tag grpc-js reports as its peer. */
  peer(tag: string): ConnectionPeer | undefined {
    return this.#byTag.get(tag);
  }

  get connections(): number {
    return this.#byTag.size;
  }

  /** Stops accepting and removes the socket file (if it is still ours); open connections stay
   * until they close. Resolves when the last one has closed. */
  async stopAccepting(): Promise<void> {
    const server = this.#server;
    if (server === undefined) return;
    this.#server = undefined;
    server.close();
    await removeIfOurs(this.#options.socketPath, this.#ino);
    await this.#closed;
  }

  /** Destroys every open connection: the forced end of a shutdown. */
  destroyAll(): void {
    for (const socket of this.#sockets) socket.destroy();
  }

  #accept(socket: Socket, injector: ConnectionInjectorLike): void {
    let creds: ReturnType<PeerCredentialsReaderLike['read']>;
    try {
      creds = this.#options.peers.read(socketFd(socket));
    } catch (err) {
      this.#options.log.warn({ err }, 'could not read the peer credentials of a Workload API connection: closed it');
      socket.destroy();
      return;
    }
    const tag = `${TAG_PREFIX}${randomBytes(16).toString('hex')}`;
    tagSocket(socket, tag);
    this.#byTag.set(tag, { pid: creds.pid, uid: creds.uid, gid: creds.gid, pidfd: creds.pidfd, connectionId: tag });
    this.#sockets.add(socket);
    socket.once('close', () => {
      this.#byTag.delete(tag);
      this.#sockets.delete(socket);
      try {
        creds.pidfd.close();
      } catch (err) {
        this.#options.log.warn({ err, connectionId: tag }, 'could not close a connection\'s pidfd');
      }
    });
    this.#options.log.debug({ tgid: creds.pid, uid: creds.uid, connectionId: tag }, 'Workload API connection');
    injector.injectConnection(socket);
  }
}

/**
 * The file descriptor under an accepted net.Socket. Node keeps it on the socket's libuv handle
 * (a Pipe for a Unix socket) and has no public accessor; it is the one fd SO_PEERCRED and
 * SO_PEERPIDFD are read from, while the socket is open.
 */
function socketFd(socket: Socket): number {
  const fd = (socket as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new WorkloadError('UNKNOWN_CONNECTION', 'accepted socket has no file descriptor');
  return fd;
}

/** The tag as the socket's own remoteAddress, read-only; remotePort undefined (see the top). */
function tagSocket(socket: Socket, tag: string): void {
  Object.defineProperty(socket, 'remoteAddress', { value: tag, writable: false, configurable: false, enumerable: true });
  Object.defineProperty(socket, 'remotePort', { value: undefined, writable: false, configurable: false, enumerable: true });
}

/** Makes the parent directory; replaces a socket file nobody answers on; refuses anything else. */
async function prepareSocketPath(path: string): Promise<void> {
  try {
    await mkdir(dirname(path), { recursive: true, mode: 0o755 });
  } catch (cause) {
    throw new WorkloadError('SOCKET_SETUP', `cannot make the directory of ${path}`, { cause });
  }
  const refused = await clearStaleSocket(path);
  if (refused === undefined) return;
  switch (refused.reason) {
    case 'not-a-socket': throw new WorkloadError('SOCKET_SETUP', `${path} exists and is not a socket: refusing to replace it`);
    case 'in-use': throw new WorkloadError('SOCKET_IN_USE', `a server is listening on ${path}: refusing to take it over`);
    case 'stat': throw new WorkloadError('SOCKET_SETUP', `cannot stat ${path}`, { cause: refused.cause });
    case 'probe': throw new WorkloadError('SOCKET_SETUP', `cannot probe ${path}`, { cause: refused.cause });
    case 'unlink': throw new WorkloadError('SOCKET_SETUP', `cannot remove the stale socket ${path}`, { cause: refused.cause });
    default: return refused satisfies never;
  }
}

async function removeIfOurs(path: string, ino: number | undefined): Promise<void> {
  const st = await lstat(path).catch(() => undefined);
  if (st !== undefined && st.ino === ino) await unlink(path).catch(() => {});
}
