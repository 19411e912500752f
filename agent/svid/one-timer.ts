import type { SvidClock, SvidTimers } from './deps.js';

const MAX_TIMER_MS = 2 ** 31 - 1; // setTimeout's limit: a later time fires early, finds nothing due, and re-arms

/**
 * One timer for a whole cache, armed for the earliest time anything is due: renewing N SVIDs
 * costs one pending timer, not N. Times are the clock's (ms since the epoch); Infinity is never.
 */
export class OneTimer {
  readonly #clock: SvidClock;
  readonly #timers: SvidTimers;
  readonly #fire: () => void;
  #armed: { readonly handle: unknown; readonly at: number } | undefined;

  constructor(clock: SvidClock, timers: SvidTimers, fire: () => void) {
    this.#clock = clock;
    this.#timers = timers;
    this.#fire = fire;
  }

  /** Fires by `at`: re-armed only when that is sooner than the armed time. */
  armBy(at: number): void {
    if (this.#armed === undefined || at < this.#armed.at) this.armAt(at);
  }

  /** Fires at `at` (Infinity: disarmed), whatever was armed before. */
  armAt(at: number): void {
    this.cancel();
    if (at === Infinity) return;
    const now = this.#clock.now().getTime();
    const delay = Math.min(Math.max(0, at - now), MAX_TIMER_MS);
    const handle = this.#timers.setTimeout(() => {
      this.#armed = undefined;
      this.#fire();
    }, delay);
    this.#armed = { handle, at: now + delay };
  }

  cancel(): void {
    if (this.#armed !== undefined) this.#timers.clearTimeout(this.#armed.handle);
    this.#armed = undefined;
  }
}
