import {
  AdminError, type AdminBackend, type AgentStatus, type CaStatus, type ConnectionView, type EntryMatch, type PolicyApplied,
  type PolicyCheckRequest, type PolicyDecision, type PolicyEvent, type PostureReport, type ProcessInfo, type RotationReport, type TunnelInfo, type UnusedRule,
} from '../../agent/admin/index.js';
import type { DeviationView, ProfileMode, ProfileView, QuarantineView } from '../../agent/admin/index.js';

/** A PolicyEvent with defaults; `n` varies the time and pid so events tell apart. */
export function policyEvent(n: number, overrides: Partial<PolicyEvent> = {}): PolicyEvent {
  return {
    time: new Date(Date.UTC(2025, 0, 1, 12, 0, n)).toISOString(), verdict: 'deny', mode: 'enforce', pid: 1000 + n, comm: 'curl',
    from: 'spiffe://example.org/web', to: 'spiffe://example.org/db', destination: '127.0.0.1:5432', ...overrides,
  };
}

const at = (seconds: number): Date => new Date(Date.UTC(2025, 0, 1, 0, 0, 0) + seconds * 1000);

/** An agent's status: every field set, the policy in force, one feature of each state. */
export function agentStatus(overrides: Partial<AgentStatus> = {}): AgentStatus {
  return {
    version: '9.8.7', pid: 4242, startedAt: '2025-01-01T12:00:00.000Z', uptimeSeconds: 3723.5, trustDomain: 'example.org',
    workloadSocket: '/var/lib/tether/public/agent.sock', adminSocket: '/var/lib/tether/admin.sock', metricsAddress: '127.0.0.1:9811',
    features: [
      { name: 'ringBuffer', state: 'available', detail: 'BPF ring buffers are built in (BTF)', fallback: null },
      { name: 'peerPidfd', state: 'missing', detail: 'getsockopt(SO_PEERPIDFD) gives ENOPROTOOPT', fallback: 'pidfd_open(2) on the SO_PEERCRED pid' },
      { name: 'bpfLsm', state: 'unknown', detail: 'securityfs is not mounted', fallback: 'nothing uses it yet' },
    ],
    counts: { processes: 412, entries: 3, x509Svids: 2, jwtSvids: 1, workloadStreams: 1, workloadConnections: 4 },
    policy: {
      mode: 'audit', path: '/etc/tether/policy.yaml', rules: 4, kernelRules: 12, generation: 3, unidentified: 'allow', cgroup: '/sys/fs/cgroup/work',
    },
    mesh: null,
    ...overrides,
  };
}

/** Two processes: one in a container with every field, one with the nulls a kernel thread has. */
export function processes(): ProcessInfo[] {
  return [
    { pid: 1, ppid: 0, startTime: '2025-01-01T00:00:00.010Z', startNs: 10_000_000n, uid: 0, gid: 0, comm: 'kthreadd', exe: null, cgroup: null, containerId: null, podUid: null },
    {
      pid: 4242, ppid: 1, startTime: '2025-01-01T12:00:00.000Z', startNs: 18_446_744_073_709_551_615n, uid: 1000, gid: 1000, comm: 'nginx',
      exe: '/usr/sbin/nginx', cgroup: '/kubepods/pod1234/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef',
      containerId: '0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef', podUid: '1234',
    },
  ];
}

/** A CA in every state: a retiring and a retired root, the active one with an intermediate, a prepared one; JWT keys alike. */
export function caStatus(): CaStatus {
  const cert = (n: number): { subject: string; fingerprintSha256: string; serialHex: string; notAfter: Date } => ({
    subject: `O=Tether, CN=tether CA ${n}`, fingerprintSha256: `${String(n).repeat(2)}:AB:CD:EF:01:23:45:67`, serialHex: `0${n}AB`,
    notAfter: at(86_400 + n),
  });
  return {
    trustDomain: 'example.org', mode: 'local', upstream: undefined,
    x509: [
      {
        id: 'aa01', state: 'retired', keyType: 'ec-p256', notBefore: at(0), notAfter: at(86_400), root: cert(1), intermediate: undefined,
        lifecycle: { state: 'retired', preparedAt: at(0), retiredAt: at(50_000) }, retireAt: undefined,
      },
      {
        id: 'bb02', state: 'retiring', keyType: 'ec-p256', notBefore: at(10), notAfter: at(86_410), root: cert(2), intermediate: undefined,
        lifecycle: { state: 'retiring', preparedAt: at(10), activatedAt: at(20), maxIssuedTtlSeconds: 3600, activeUntil: at(40_000) }, retireAt: at(43_600),
      },
      {
        id: 'cc03', state: 'active', keyType: 'ec-p384', notBefore: at(30), notAfter: at(86_430), root: cert(3), intermediate: cert(4),
        lifecycle: { state: 'active', preparedAt: at(30), activatedAt: at(40_000), maxIssuedTtlSeconds: 0 }, retireAt: undefined,
      },
      {
        id: 'dd04', state: 'prepared', keyType: 'rsa-2048', notBefore: at(60_000), notAfter: at(146_400), root: cert(5), intermediate: undefined,
        lifecycle: { state: 'prepared', preparedAt: at(60_000) }, retireAt: undefined,
      },
    ],
    jwt: [
      {
        kid: 'k1', state: 'retiring', keyType: 'ec-p256', alg: 'ES256', notBefore: at(0), notAfter: at(86_400),
        lifecycle: { state: 'retiring', preparedAt: at(0), activatedAt: at(5), maxIssuedTtlSeconds: 300, activeUntil: at(40_000) }, retireAt: at(40_300),
      },
      {
        kid: 'k2', state: 'active', keyType: 'rsa-2048', alg: 'RS256', notBefore: at(30), notAfter: at(86_430),
        lifecycle: { state: 'active', preparedAt: at(30), activatedAt: at(40_000), maxIssuedTtlSeconds: 300 }, retireAt: undefined,
      },
    ],
  };
}

/**
 * AdminBackend as plain fields: the events it keeps (publish() adds one and tells subscribers),
 * the connections, the decision and applied answers, the suggestion and unused rules. Without
 * `enforcing` the policy methods throw NOT_ENFORCING, as an agent started without --policy does;
 * `rejectPolicy` makes applyPolicy throw BAD_POLICY with that message; `failNext` makes the next
 * call throw it. The agent's own answers (status, processes, entry matches, the CA) are fields
 * too. It records the requests it was given, counts rotations and live subscriptions.
 */
export class FakeAdminBackend implements AdminBackend {
  readonly events: PolicyEvent[] = [];
  conns: ConnectionView[] = [];
  tunnelList: TunnelInfo[] = [];
  decision: PolicyDecision = { verdict: 'allow', mode: 'enforce', reason: 'rule at line 4 allows it', line: 4 };
  applied: PolicyApplied = { mode: 'enforce', rules: 3, generation: 2, path: '/etc/tether/policy.yaml' };
  suggestion = 'mode: enforce\nrules: []\n';
  unused: UnusedRule[] = [];
  agent: AgentStatus = agentStatus();
  procs: ProcessInfo[] = processes();
  /** matchEntries' answer by pid; any other pid is BAD_REQUEST, as the agent says for one not in its table. */
  readonly matches = new Map<number, EntryMatch>();
  /** posture's answer by pid; any other pid is BAD_REQUEST. */
  readonly postures = new Map<number, PostureReport>();
  ca: CaStatus = caStatus();
  rotation: RotationReport = { x509: { previous: 'cc03', active: 'ee05' }, jwt: { previous: undefined, active: 'k3' } };
  rotations = 0;
  /** Behaviour profiles by SPIFFE ID; any other is NOT_FOUND. */
  readonly profiles = new Map<string, ProfileView>();
  readonly deviations = new Map<string, DeviationView[]>();
  quarantine: QuarantineView[] = [];
  /** (spiffeId, seq) of each accept. */
  readonly accepted: Array<[string, number]> = [];
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

  tunnels(): TunnelInfo[] {
    return this.tunnelList;
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

  status(): AgentStatus {
    this.#maybeFail();
    return this.agent;
  }

  processes(): ProcessInfo[] {
    this.#maybeFail();
    return this.procs;
  }

  async matchEntries(pid: number): Promise<EntryMatch> {
    this.#maybeFail();
    const found = this.matches.get(pid);
    if (found === undefined) throw new AdminError('BAD_REQUEST', `pid: no process ${pid} in the process table`);
    return found;
  }

  async posture(pid: number): Promise<PostureReport> {
    this.#maybeFail();
    const found = this.postures.get(pid);
    if (found === undefined) throw new AdminError('BAD_REQUEST', `pid: no process ${pid} in the process table`);
    return found;
  }

  profile(spiffeId: string): ProfileView {
    this.#policy();
    const found = this.profiles.get(spiffeId);
    if (found === undefined) throw new AdminError('NOT_FOUND', `no profile for ${spiffeId}`);
    return found;
  }

  profileDiff(spiffeId: string): DeviationView[] {
    this.profile(spiffeId);
    return this.deviations.get(spiffeId) ?? [];
  }

  setProfileMode(spiffeId: string, mode: ProfileMode): ProfileView {
    this.#policy();
    const next = { spiffeId, mode, yaml: `id: ${spiffeId}\nmode: ${mode}\n` };
    this.profiles.set(spiffeId, next);
    return next;
  }

  acceptDeviation(spiffeId: string, seq: number): ProfileView {
    const p = this.profile(spiffeId);
    if (!(this.deviations.get(spiffeId) ?? []).some((d) => d.seq === seq)) throw new AdminError('NOT_FOUND', `${spiffeId} has no deviation ${seq}`);
    this.accepted.push([spiffeId, seq]);
    return p;
  }

  quarantined(): QuarantineView[] {
    this.#policy();
    return this.quarantine;
  }

  releaseQuarantine(pid: number): QuarantineView {
    this.#policy();
    const found = this.quarantine.find((q) => q.pid === pid);
    if (found === undefined) throw new AdminError('NOT_FOUND', `no quarantined process has pid ${pid}`);
    this.quarantine = this.quarantine.filter((q) => q !== found);
    return found;
  }

  caStatus(): CaStatus {
    this.#maybeFail();
    return this.ca;
  }

  async rotateCa(): Promise<RotationReport> {
    this.#maybeFail();
    this.rotations += 1;
    return this.rotation;
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
