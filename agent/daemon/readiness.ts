import { statSync } from 'node:fs';
import type { CaStatus } from '../ca/index.js';
import type { Readiness, ReadinessCheck } from '../telemetry/index.js';

/**
 * The agent's /readyz: named checks, each "starting" until the daemon hands in the part it looks
 * at, and every one failing once the agent is stopping. Ready when every check is ok. Groups of
 * checks from elsewhere (the kernel's health) are included as they are: one line each to wire.
 * Details say what is wrong in words and dates; never a key, token or path of a secret.
 */
export class AgentReadiness {
  readonly #checks = new Map<string, () => ReadinessCheck>();
  readonly #groups: Array<() => Readonly<Record<string, ReadinessCheck>>> = [];
  #stopping = false;

  constructor(expected: readonly string[]) {
    for (const name of expected) this.#checks.set(name, () => ({ ok: false, detail: 'starting' }));
  }

  set(name: string, check: () => ReadinessCheck): void {
    this.#checks.set(name, check);
  }

  /** Checks named by another part (e.g. KernelHealth.checks): asked on every /readyz. */
  include(group: () => Readonly<Record<string, ReadinessCheck>>): void {
    this.#groups.push(group);
  }

  /** From now on nothing is ready: the agent drains. */
  stopping(): void {
    this.#stopping = true;
  }

  report(): Readiness {
    const checks: Record<string, ReadinessCheck> = {};
    for (const [name, check] of this.#checks) checks[name] = guarded(check);
    for (const [i, group] of this.#groups.entries()) {
      try {
        Object.assign(checks, group());
      } catch (err) {
        checks[`group_${i}`] = { ok: false, detail: `the checks failed: ${(err as Error).message}` };
      }
    }
    if (this.#stopping) {
      for (const name of Object.keys(checks)) checks[name] = { ok: false, detail: 'the agent is stopping' };
    }
    return { ready: Object.values(checks).every((c) => c.ok), checks };
  }
}

function guarded(check: () => ReadinessCheck): ReadinessCheck {
  try {
    return check();
  } catch (err) {
    return { ok: false, detail: `the check failed: ${(err as Error).message}` };
  }
}

/** The CA is loaded and holds an active X509 CA that has not expired. */
export function caCheck(status: CaStatus, now: Date): ReadinessCheck {
  const active = status.x509.find((a) => a.state === 'active');
  if (active === undefined) return { ok: false, detail: 'no active X509 CA' };
  if (active.notAfter <= now) return { ok: false, detail: `the active CA ${active.id} expired at ${active.notAfter.toISOString()}` };
  return { ok: true, detail: `CA ${active.id} active until ${active.notAfter.toISOString()}` };
}

/** The Workload API server is serving and its socket file is in place (a deleted socket serves no one). */
export function workloadCheck(server: { readonly serving: boolean }, socketPath: string): ReadinessCheck {
  if (!server.serving) return { ok: false, detail: 'the Workload API server is not serving' };
  try {
    if (!statSync(socketPath).isSocket()) return { ok: false, detail: `${socketPath} is not a socket` };
  } catch (err) {
    return { ok: false, detail: `${socketPath}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` };
  }
  return { ok: true, detail: `serving on ${socketPath}` };
}
