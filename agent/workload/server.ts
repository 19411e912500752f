/**
 * The SPIFFE Workload API server: grpc-js serving the generated SpiffeWorkloadAPI service on
 * connections our own listener accepted and tagged (connection-tags.ts), so every call is
 * attested from the kernel's word about its own connection. Shutdown drains: streams end
 * Unavailable (clients retry), sessions get GOAWAY, and whatever is left after the grace
 * period is destroyed.
 */
import { Server, ServerCredentials } from '@grpc/grpc-js';
import type { WorkloadBackend, WorkloadLog } from './backend.js';
import { ConnectionTags, type PeerCredentialsReaderLike } from './connection-tags.js';
import { WorkloadError } from './errors.js';
import { workloadHandlers } from './handlers.js';
import type { WorkloadObserver } from './observer.js';
import { loadWorkloadApi } from './proto-loader.js';
import type { OpenStreams } from './watch-stream.js';

/** Requests are a few audiences or a token: anything larger is refused (RESOURCE_EXHAUSTED). */
export const DEFAULT_MAX_REQUEST_BYTES = 64 * 1024;

export interface WorkloadServerOptions {
  /** The Unix socket path; its directory is made if missing. */
  readonly socketPath: string;
  readonly backend: WorkloadBackend;
  /** Reads SO_PEERCRED and a pidfd from an accepted socket's fd (kernel/ PeerCredentialReader). */
  readonly peers: PeerCredentialsReaderLike;
  readonly log: WorkloadLog;
  readonly maxRequestBytes?: number;
  /** Told how each call was answered (daemon/ counts them). */
  readonly observer?: WorkloadObserver;
}

type ServerState =
  | { readonly state: 'new' }
  | { readonly state: 'serving'; readonly server: Server }
  | { readonly state: 'closed' };

export class WorkloadServer {
  readonly #options: WorkloadServerOptions;
  readonly #tags: ConnectionTags;
  readonly #open: OpenStreams = new Set();
  #state: ServerState = { state: 'new' };

  constructor(options: WorkloadServerOptions) {
    this.#options = options;
    this.#tags = new ConnectionTags({ socketPath: options.socketPath, peers: options.peers, log: options.log });
  }

  /** Open connections (each one attested process at accept time). */
  get connections(): number {
    return this.#tags.connections;
  }

  /** Open watch streams. */
  get streams(): number {
    return this.#open.size;
  }

  /** True from start() until close(): the socket is listening. */
  get serving(): boolean {
    return this.#state.state === 'serving';
  }

  async start(): Promise<void> {
    if (this.#state.state !== 'new') throw new WorkloadError('UNAVAILABLE', `the Workload API server cannot start: it is ${this.#state.state}`);
    const api = loadWorkloadApi();
    const server = new Server({ 'grpc.max_receive_message_length': this.#options.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES });
    server.addService(api.service, workloadHandlers({
      backend: this.#options.backend, peers: this.#tags, log: this.#options.log, service: api.service, open: this.#open,
      observer: this.#options.observer,
    }));
    await this.#tags.listen(server.createConnectionInjector(ServerCredentials.createInsecure()));
    this.#state = { state: 'serving', server };
    this.#options.log.info({ socket: this.#options.socketPath }, 'Workload API serving');
  }

  /** Drains, then forces: stops accepting, ends every stream Unavailable, lets in-flight unary
   * calls finish for up to graceMs, then destroys what is left. */
  async close(graceMs = 5000): Promise<void> {
    const current = this.#state;
    this.#state = { state: 'closed' };
    if (current.state !== 'serving') return;
    const accepting = this.#tags.stopAccepting();
    for (const stream of [...this.#open]) stream.end(new WorkloadError('UNAVAILABLE', 'the Workload API is shutting down'));
    let timer: NodeJS.Timeout | undefined;
    const drained = await Promise.race([
      new Promise<boolean>((resolve) => current.server.tryShutdown(() => resolve(true))),
      new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(false), graceMs); }),
    ]);
    clearTimeout(timer);
    if (!drained) {
      this.#options.log.warn({ graceMs }, 'Workload API calls still open after the grace period: closing them');
      current.server.forceShutdown();
    }
    this.#tags.destroyAll();
    await accepting;
    this.#options.log.info({ socket: this.#options.socketPath }, 'Workload API closed');
  }
}
