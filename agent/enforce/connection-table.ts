/** One side of a live TCP connection in the enforcement cgroup. */
export interface ConnectionView {
  /** ISO 8601: when it was established. */
  readonly since: string;
  /** client: this socket connected; server: it was accepted. */
  readonly role: 'client' | 'server';
  readonly local: string;
  readonly peer: string;
  readonly localId: string | null;
  readonly peerId: string | null;
}

/**
 * Live connections by socket cookie, from the kernel's open and close events. Bounded: past
 * `capacity` the oldest is dropped and counted, so a connection flood cannot grow the agent.
 * Connections opened before the agent started are not known (the kernel reports only new ones).
 */
export class ConnectionTable {
  readonly #capacity: number;
  readonly #byCookie = new Map<bigint, ConnectionView>();
  #dropped = 0;

  constructor(capacity = 65_536) {
    this.#capacity = capacity;
  }

  get size(): number {
    return this.#byCookie.size;
  }

  /** Connections forgotten because the table was full. */
  get dropped(): number {
    return this.#dropped;
  }

  opened(cookie: bigint, view: ConnectionView): void {
    this.#byCookie.delete(cookie);
    if (this.#byCookie.size >= this.#capacity) {
      const oldest = this.#byCookie.keys().next();
      if (!oldest.done) this.#byCookie.delete(oldest.value);
      this.#dropped++;
    }
    this.#byCookie.set(cookie, view);
  }

  closed(cookie: bigint): void {
    this.#byCookie.delete(cookie);
  }

  list(): ConnectionView[] {
    return [...this.#byCookie.values()];
  }
}
