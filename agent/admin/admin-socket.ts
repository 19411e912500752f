/**
 * The admin API's listener: a Unix socket only its owner (root, for the agent) may connect to,
 * created so that it is never wider than 0600. bind() makes the socket file with the process
 * umask, and Node binds and listens in one step, so a chmod after listen() leaves a window in
 * which another user could connect (the kernel checks permission at connect(), and an accepted
 * connection stays accepted). Changing the umask is process-wide and would race the agent's other
 * file creation on libuv's threadpool. Instead the socket is bound inside a fresh 0700 directory
 * beside the final path (nobody else can reach it there), made 0600, then hard-linked into place:
 * link() fails if the name exists, so a server that appeared meanwhile is never replaced either.
 */
import { chmod, link, lstat, mkdir, mkdtemp, rm, unlink } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import type { AdminLog } from './status.js';
import { clearStaleSocket } from '../workload/index.js';
import { AdminError } from './errors.js';

/** The admin socket's mode: root (the agent's user) only. */
export const ADMIN_SOCKET_MODE = 0o600;

export class AdminSocket {
  readonly #path: string;
  readonly #log: AdminLog;
  readonly #sockets = new Set<Socket>();
  #server: Server | undefined;
  #closed: Promise<void> | undefined;
  #ino: number | undefined;

  constructor(options: { readonly socketPath: string; readonly log: AdminLog }) {
    this.#path = options.socketPath;
    this.#log = options.log;
  }

  /** Listens on the socket path, handing each accepted connection to `onConnection`. Refuses a
   * path where a server answers (SOCKET_IN_USE) or that is not a socket; replaces a stale socket. */
  async listen(onConnection: (socket: Socket) => void): Promise<void> {
    const path = this.#path;
    await prepareSocketPath(path);
    const staging = await mkdtemp(join(dirname(path), '.admin-')).catch((cause: unknown) => {
      throw new AdminError('SOCKET_SETUP', `cannot make a private directory beside ${path}`, { cause });
    });
    const server = createServer((socket) => this.#accept(socket, onConnection));
    try {
      const staged = join(staging, 's');
      await listenOn(server, staged);
      await chmod(staged, ADMIN_SOCKET_MODE);
      await link(staged, path).catch((cause: NodeJS.ErrnoException) => {
        if (cause.code === 'EEXIST') throw new AdminError('SOCKET_IN_USE', `${path} appeared while the admin socket was being made: refusing to replace it`, { cause });
        throw cause;
      });
      this.#ino = (await lstat(path)).ino;
    } catch (cause) {
      server.close();
      throw cause instanceof AdminError ? cause : new AdminError('SOCKET_SETUP', `cannot make the admin socket ${path} (mode 0600)`, { cause });
    } finally {
      // The staged name goes; the socket stays reachable by its one remaining name.
      await rm(staging, { recursive: true, force: true });
    }
    server.on('error', (err) => this.#log.error({ err }, 'admin API listener failed'));
    this.#server = server;
    this.#closed = new Promise((resolve) => server.once('close', resolve));
  }

  get connections(): number {
    return this.#sockets.size;
  }

  /** Stops accepting and removes the socket file if it is still ours; resolves when the last
   * open connection has closed. */
  async stopAccepting(): Promise<void> {
    const server = this.#server;
    if (server === undefined) return;
    this.#server = undefined;
    server.close();
    const st = await lstat(this.#path).catch(() => undefined);
    if (st !== undefined && st.ino === this.#ino) await unlink(this.#path).catch(() => {});
    await this.#closed;
  }

  /** Destroys every open connection: the forced end of a shutdown. */
  destroyAll(): void {
    for (const socket of this.#sockets) socket.destroy();
  }

  #accept(socket: Socket, onConnection: (socket: Socket) => void): void {
    this.#sockets.add(socket);
    socket.once('close', () => this.#sockets.delete(socket));
    onConnection(socket);
  }
}

function listenOn(server: Server, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ path }, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** Makes the parent directory (0700 if new); removes a socket nobody answers on; refuses anything else. */
async function prepareSocketPath(path: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 }).catch((cause: unknown) => {
    throw new AdminError('SOCKET_SETUP', `cannot make the directory of ${path}`, { cause });
  });
  const refused = await clearStaleSocket(path);
  if (refused === undefined) return;
  switch (refused.reason) {
    case 'not-a-socket': throw new AdminError('SOCKET_SETUP', `${path} exists and is not a socket: refusing to replace it`);
    case 'in-use': throw new AdminError('SOCKET_IN_USE', `an agent is already serving the admin API on ${path}: refusing to take it over`);
    case 'stat': throw new AdminError('SOCKET_SETUP', `cannot stat ${path}`, { cause: refused.cause });
    case 'probe': throw new AdminError('SOCKET_SETUP', `cannot probe ${path}`, { cause: refused.cause });
    case 'unlink': throw new AdminError('SOCKET_SETUP', `cannot remove the stale socket ${path}`, { cause: refused.cause });
    default: return refused satisfies never;
  }
}
