/** CLOCK_BOOTTIME that moves only when the test says: `now` is what ProcessTracker's bootNs option takes. */
export class FakeBootClock {
  #ns: bigint;

  constructor(startNs = 1_000_000_000n) {
    this.#ns = startNs;
  }

  readonly now = (): bigint => this.#ns;

  advance(ns: bigint): bigint {
    this.#ns += ns;
    return this.#ns;
  }
}
