/**
 * The last `capacity` events in order, and listeners told of each new one: what `tether events`
 * shows and `--follow` streams. A listener that throws is removed (a broken stream must not stop
 * the others or the kernel's consumer).
 */
export class RecentEvents<T> {
  readonly #capacity: number;
  readonly #ring: T[] = [];
  #start = 0;
  readonly #listeners = new Set<(event: T) => void>();
  #total = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
    this.#capacity = capacity;
  }

  /** Events ever pushed (the kept ones are the last `capacity`). */
  get total(): number {
    return this.#total;
  }

  push(event: T): void {
    this.#total++;
    if (this.#ring.length < this.#capacity) this.#ring.push(event);
    else {
      this.#ring[this.#start] = event;
      this.#start = (this.#start + 1) % this.#capacity;
    }
    for (const l of [...this.#listeners]) {
      try {
        l(event);
      } catch {
        this.#listeners.delete(l);
      }
    }
  }

  /** The last `limit` events, oldest first. */
  recent(limit: number = this.#capacity): T[] {
    const ordered = [...this.#ring.slice(this.#start), ...this.#ring.slice(0, this.#start)];
    return limit >= ordered.length ? ordered : ordered.slice(ordered.length - Math.max(0, limit));
  }

  subscribe(listener: (event: T) => void): () => void {
    this.#listeners.add(listener);
    return () => { this.#listeners.delete(listener); };
  }
}
