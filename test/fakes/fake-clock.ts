/** Wall-clock time that moves only when the test says: `now` is what a `now: () => Date` option takes. */
export class FakeClock {
  #ms: number;

  constructor(start: Date | number = Date.parse('2026-11-23T00:00:00Z')) {
    this.#ms = typeof start === 'number' ? start : start.getTime();
  }

  readonly now = (): Date => new Date(this.#ms);

  advance(ms: number): Date {
    this.#ms += ms;
    return this.now();
  }

  advanceSeconds(seconds: number): Date {
    return this.advance(seconds * 1000);
  }

  set(to: Date): void {
    this.#ms = to.getTime();
  }
}
