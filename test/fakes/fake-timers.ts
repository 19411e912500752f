import type { SvidTimers } from '../../agent/svid/index.js';
import type { FakeClock } from './fake-clock.js';

interface Pending {
  readonly id: number;
  readonly at: number;
  readonly callback: () => void;
}

/**
 * setTimeout/clearTimeout on a FakeClock: nothing fires until the test calls advance(), which
 * moves the clock to each due timer in turn (never backwards) and runs it, so a callback sees the
 * time it was due at. Moving the FakeClock by itself fires nothing.
 */
export class FakeTimers implements SvidTimers {
  readonly #clock: FakeClock;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;

  constructor(clock: FakeClock) {
    this.#clock = clock;
  }

  readonly setTimeout = (callback: () => void, ms: number): unknown => {
    const id = this.#nextId++;
    this.#pending.set(id, { id, at: this.#clock.now().getTime() + Math.max(0, ms), callback });
    return id;
  };

  readonly clearTimeout = (handle: unknown): void => {
    if (typeof handle === 'number') this.#pending.delete(handle);
  };

  /** Timers armed and not yet fired or cleared. */
  get pending(): number {
    return this.#pending.size;
  }

  /** When the next timer is due, if any. */
  nextAt(): Date | undefined {
    const next = this.#next(Infinity);
    return next === undefined ? undefined : new Date(next.at);
  }

  /** Moves the clock by `ms`, running every timer due by then (including ones armed on the way), in order. */
  advance(ms: number): void {
    const target = this.#clock.now().getTime() + ms;
    for (let next = this.#next(target); next !== undefined; next = this.#next(target)) {
      this.#pending.delete(next.id);
      if (next.at > this.#clock.now().getTime()) this.#clock.set(new Date(next.at));
      next.callback();
    }
    if (target > this.#clock.now().getTime()) this.#clock.set(new Date(target));
  }

  #next(by: number): Pending | undefined {
    let best: Pending | undefined;
    for (const p of this.#pending.values()) {
      if (p.at <= by && (best === undefined || p.at < best.at || (p.at === best.at && p.id < best.id))) best = p;
    }
    return best;
  }
}
