import type { Logger } from '../telemetry/index.js';

/**
 * Start order and its reverse: each started part registers how it stops; stop() runs those in
 * reverse, each once, each bounded by the drain deadline, and logs (never throws) what failed,
 * so one stuck part cannot keep the rest from stopping. A failed start stops what had started.
 */
export class Lifecycle {
  readonly #stops: Array<{ readonly name: string; readonly stop: () => unknown }> = [];
  readonly #log: Logger;
  #stopped = false;

  constructor(log: Logger) {
    this.#log = log;
  }

  /** Starts a part; when start throws, everything started before it is stopped, then it rethrows. */
  async start<T>(name: string, start: () => T | Promise<T>, stop: (value: T) => unknown): Promise<T> {
    let value: T;
    try {
      value = await start();
    } catch (err) {
      await this.stop(5_000);
      throw err;
    }
    this.#stops.push({ name, stop: () => stop(value) });
    return value;
  }

  async stop(deadlineMs: number): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const { name, stop } of this.#stops.reverse()) {
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          Promise.resolve().then(stop),
          new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`did not stop within ${deadlineMs} ms`)), deadlineMs); }),
        ]);
      } catch (err) {
        this.#log.error({ component: 'daemon', part: name, err }, 'stopping failed; going on');
      } finally {
        clearTimeout(timer);
      }
    }
  }
}
