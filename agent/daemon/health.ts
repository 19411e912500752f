import type { LinkCheck } from '../kernel/index.js';

/** Programs whose links KernelHealth watches: kernel/ProcEventSource, kernel/SockPrograms. */
export interface WatchedLinks {
  check(): readonly LinkCheck[];
  repair(): string[];
}

/** One readiness check as /readyz shows it. */
export interface HealthCheck {
  readonly ok: boolean;
  readonly detail?: string;
}

/** The three levels the health check logs at (a pino child fits). */
export interface HealthLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface KernelHealthOptions {
  /** By check name: "kernel.proc_tracepoints", "kernel.sock_hooks". */
  readonly parts: Readonly<Record<string, WatchedLinks>>;
  /** How often each part is checked (config `health.intervalMs`). */
  readonly intervalMs: number;
  readonly log: HealthLog;
}

/**
 * Watches the kernel programs the agent relies on. Every interval each part is checked; one
 * found detached or unpinned behind the agent's back (`tether uninstall`, `bpftool link detach`)
 * is logged by name, marked not ready and repaired at once; it is marked ready again when a later
 * check passes, so /readyz shows the fault for about one interval even when the repair worked.
 */
export class KernelHealth {
  readonly #options: KernelHealthOptions;
  readonly #state = new Map<string, HealthCheck>();
  readonly #lastRepairError = new Map<string, string>();
  #timer: NodeJS.Timeout | undefined;

  constructor(options: KernelHealthOptions) {
    this.#options = options;
    for (const name of Object.keys(options.parts)) this.#state.set(name, { ok: true });
  }

  /** Checks now, then every interval; the timer keeps no process alive. */
  start(): void {
    this.checkNow();
    this.#timer = setInterval(() => this.checkNow(), this.#options.intervalMs).unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** What the last check found, by check name: what /readyz reads. */
  checks(): Record<string, HealthCheck> {
    return Object.fromEntries(this.#state);
  }

  /** One round: check each part; repair what failed (ready again only after a later check passes). */
  checkNow(): void {
    for (const [name, part] of Object.entries(this.#options.parts)) {
      const failing = failures(part);
      const was = this.#state.get(name);
      if (failing.length === 0) {
        if (was?.ok === false) this.#options.log.info({ check: name }, 'kernel programs attached and pinned again: ready');
        this.#state.set(name, { ok: true });
        this.#lastRepairError.delete(name);
        continue;
      }
      const detail = failing.map((f) => `${f.program}: ${f.detail ?? 'not ok'}`).join('; ');
      if (was?.detail !== detail) {
        this.#options.log.error({ check: name, programs: failing.map((f) => f.program), detail },
          'kernel programs detached or unpinned behind the agent\'s back: not ready; repairing');
      }
      this.#state.set(name, { ok: false, detail });
      this.#repair(name, part);
    }
  }

  #repair(name: string, part: WatchedLinks): void {
    try {
      const repaired = part.repair();
      this.#options.log.warn({ check: name, repaired }, 'kernel programs repaired');
    } catch (err) {
      const message = (err as Error).message;
      // Logged once per distinct failure: a cgroup removed for good would otherwise log every interval.
      if (this.#lastRepairError.get(name) !== message) this.#options.log.error({ check: name, err: message }, 'kernel programs not repaired; will retry');
      this.#lastRepairError.set(name, message);
    }
  }
}

function failures(part: WatchedLinks): LinkCheck[] {
  try {
    return part.check().filter((c) => !c.ok);
  } catch (err) {
    return [{ program: '(check)', ok: false, detail: (err as Error).message }];
  }
}
