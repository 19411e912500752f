import {
  AdminError, type AdminBackend, type ConnectionView, type PolicyApplied, type PolicyCheckRequest, type PolicyDecision,
  type PolicyEvent, type UnusedRule,
} from '../../agent/admin/index.js';

/** A PolicyEvent with defaults; `n` varies the time and pid so events tell apart. */
export function policyEvent(n: number, overrides: Partial<PolicyEvent> = {}): PolicyEvent {
  return {
    time: new Date(Date.UTC(2025, 0, 1, 12, 0, n)).toISOString(), verdict: 'deny', mode: 'enforce', pid: 1000 + n, comm: 'curl',
    from: 'spiffe://example.org/web', to: 'spiffe://example.org/db', destination: '127.0.0.1:5432', ...overrides,
  };
}

/**
 * AdminBackend as plain fields: the events it keeps (publish() adds one and tells subscribers),
 * the connections, the decision and applied answers, the suggestion and unused rules. Without
 * `enforcing` the policy methods throw NOT_ENFORCING, as an agent started without --policy does;
 * `rejectPolicy` makes applyPolicy throw BAD_POLICY with that message; `failNext` makes the next
 * call throw it. It records the requests it was given and counts live subscriptions.
 */
export class FakeAdminBackend implements AdminBackend {
  readonly events: PolicyEvent[] = [];
  conns: ConnectionView[] = [];
  decision: PolicyDecision = { verdict: 'allow', mode: 'enforce', reason: 'rule at line 4 allows it', line: 4 };
  applied: PolicyApplied = { mode: 'enforce', rules: 3, generation: 2, path: '/etc/tether/policy.yaml' };
  suggestion = 'mode: enforce\nrules: []\n';
  unused: UnusedRule[] = [];
  enforcing = true;
  rejectPolicy: string | undefined;
  failNext: unknown;
  readonly checks: PolicyCheckRequest[] = [];
  readonly applies: string[] = [];
  readonly limits: number[] = [];
  readonly #listeners = new Set<(event: PolicyEvent) => void>();

  get subscribers(): number {
    return this.#listeners.size;
  }

  /** Keeps an event and tells every subscriber, as the enforcement does for a denied connect. */
  publish(event: PolicyEvent): void {
    this.events.push(event);
    for (const listener of [...this.#listeners]) listener(event);
  }

  recentEvents(limit: number): PolicyEvent[] {
    this.#maybeFail();
    this.limits.push(limit);
    return this.events.slice(-limit);
  }

  subscribeEvents(listener: (event: PolicyEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  connections(): ConnectionView[] {
    this.#maybeFail();
    return this.conns;
  }

  checkPolicy(request: PolicyCheckRequest): PolicyDecision {
    this.#policy();
    this.checks.push(request);
    return this.decision;
  }

  async applyPolicy(yamlText: string): Promise<PolicyApplied> {
    this.#policy();
    if (this.rejectPolicy !== undefined) throw new AdminError('BAD_POLICY', this.rejectPolicy);
    this.applies.push(yamlText);
    return this.applied;
  }

  suggestPolicy(): string {
    this.#maybeFail();
    return this.suggestion;
  }

  unusedRules(): UnusedRule[] {
    this.#policy();
    return this.unused;
  }

  #policy(): void {
    this.#maybeFail();
    if (!this.enforcing) throw new AdminError('NOT_ENFORCING', 'the agent enforces no policy: it was started without --policy');
  }

  #maybeFail(): void {
    const err = this.failNext;
    if (err === undefined) return;
    this.failNext = undefined;
    throw err;
  }
}
