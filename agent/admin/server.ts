/**
 * The admin API server: grpc-js serving the generated tether.admin.v1.Admin service on
 * connections accepted by our own root-only listener (admin-socket.ts). Shutdown drains: follow
 * streams end UNAVAILABLE ("the agent is stopping"), in-flight calls get until the deadline,
 * then whatever is left is destroyed.
 */
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { AdminSocket } from './admin-socket.js';
import type { AdminBackend } from './backend.js';
import { AdminError } from './errors.js';
import type { OpenStreams } from './event-stream.js';
import { adminHandlers } from './handlers.js';
import { loadAdminApi } from './proto-loader.js';
import { MAX_POLICY_BYTES } from './requests.js';
import type { AdminLog } from './status.js';

/** Unsent events a follow stream may hold before it is ended (FELL_BEHIND). The count includes a
 * burst written in one tick (grpc-js completes each write asynchronously), so it is sized for the
 * largest batch of denials one ring-buffer wake-up can bring, not for a steady rate. */
export const DEFAULT_MAX_BACKLOG = 10_000;

export interface AdminServerOptions {
  /** The Unix socket path (the daemon's <state-dir>/admin.sock); its directory is made if missing. */
  readonly socketPath: string;
  readonly backend: AdminBackend;
  readonly log: AdminLog;
  readonly maxBacklog?: number;
}

type ServerState =
  | { readonly state: 'new' }
  | { readonly state: 'serving'; readonly server: Server }
  | { readonly state: 'closed' };

export class AdminServer {
  readonly #options: AdminServerOptions;
  readonly #socket: AdminSocket;
  readonly #open: OpenStreams = new Set();
  #state: ServerState = { state: 'new' };

  constructor(options: AdminServerOptions) {
    this.#options = options;
    this.#socket = new AdminSocket({ socketPath: options.socketPath, log: options.log });
  }

  /** Open follow streams. */
  get streams(): number {
    return this.#open.size;
  }

  async start(): Promise<void> {
    if (this.#state.state !== 'new') throw new AdminError('UNAVAILABLE', `the admin API server cannot start: it is ${this.#state.state}`);
    const api = loadAdminApi();
    // Room for the largest policy the handler accepts, so an oversized one is refused by name
    // (BAD_REQUEST "yaml is N bytes") rather than by grpc-js's generic RESOURCE_EXHAUSTED.
    const server = new Server({ 'grpc.max_receive_message_length': 2 * MAX_POLICY_BYTES });
    server.addService(api.service, adminHandlers({
      backend: this.#options.backend, log: this.#options.log, open: this.#open,
      maxBacklog: this.#options.maxBacklog ?? DEFAULT_MAX_BACKLOG,
    }));
    const injector = server.createConnectionInjector(ServerCredentials.createInsecure());
    await this.#socket.listen((socket) => injector.injectConnection(socket));
    this.#state = { state: 'serving', server };
    this.#options.log.info({ socket: this.#options.socketPath }, 'admin API serving');
  }

  /** Stops accepting, ends every follow stream UNAVAILABLE, lets unary calls finish for up to
   * deadlineMs, then destroys what is left. */
  async close(deadlineMs = 5000): Promise<void> {
    const current = this.#state;
    this.#state = { state: 'closed' };
    if (current.state !== 'serving') return;
    const accepting = this.#socket.stopAccepting();
    for (const stream of [...this.#open]) stream.end(new AdminError('UNAVAILABLE', 'the agent is stopping'));
    let timer: NodeJS.Timeout | undefined;
    const drained = await Promise.race([
      new Promise<boolean>((resolve) => current.server.tryShutdown(() => resolve(true))),
      new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(false), deadlineMs); }),
    ]);
    clearTimeout(timer);
    if (!drained) {
      this.#options.log.warn({ deadlineMs }, 'admin API calls still open at the deadline: closing them');
      current.server.forceShutdown();
    }
    this.#socket.destroyAll();
    await accepting;
    this.#options.log.info({ socket: this.#options.socketPath }, 'admin API closed');
  }
}
