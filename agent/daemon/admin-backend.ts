import { AdminError, type AdminBackend, type AgentStatus, type EntryMatch } from '../admin/index.js';
import { AttestError, type ProcessDescriber, type ProcessTracker, type SelectorSource } from '../attest/index.js';
import type { LocalAuthority } from '../ca/index.js';
import { explainMatch, type Entry } from '../registry/index.js';
import type { Enforcement, EnforcementMethod } from './enforcement.js';

/** The parts of the running agent the admin API reads besides the enforcement. */
export interface AgentParts {
  /** daemon/status.ts's answer, built at the call. */
  readonly status: () => AgentStatus;
  readonly tracker: Pick<ProcessTracker, 'sync' | 'table'>;
  readonly describer: Pick<ProcessDescriber, 'all'>;
  readonly selectors: Pick<SelectorSource, 'selectorsOf'>;
  readonly entries: { current(): readonly Entry[] };
  readonly ca: Pick<LocalAuthority, 'status' | 'rotate'>;
}

/**
 * What the admin API serves: the agent's status, its process table, entries and CA, and the
 * enforcement's answers, or, for an agent started without --policy, a clear refusal
 * (FAILED_PRECONDITION) of the policy methods rather than empty lists that look like "nothing
 * happened".
 */
export function adminBackend(enforcement: Enforcement | undefined, agent: AgentParts): AdminBackend {
  return { ...policyAnswers(enforcement), ...agentAnswers(agent) };
}

function policyAnswers(enforcement: Enforcement | undefined): Pick<AdminBackend, EnforcementMethod> {
  if (enforcement !== undefined) return enforcement.admin;
  const refuse = (): never => {
    throw new AdminError('NOT_ENFORCING', 'the agent runs without --policy: no hooks are attached, so there are no events, connections or policy (start it with --policy FILE --cgroup DIR)');
  };
  return {
    recentEvents: refuse, subscribeEvents: refuse, connections: refuse, checkPolicy: refuse,
    applyPolicy: async () => refuse(), suggestPolicy: refuse, unusedRules: refuse,
  };
}

function agentAnswers(agent: AgentParts): Omit<AdminBackend, EnforcementMethod> {
  return {
    status: agent.status,
    processes: () => {
      agent.tracker.sync(); // the events the kernel has written so far, so a process started just now shows
      return agent.describer.all();
    },
    matchEntries: (pid) => matchEntries(agent, pid),
    caStatus: () => agent.ca.status(),
    // The CA's own queue runs one rotation step at a time: a rotate during a timed maintenance step waits for it.
    rotateCa: () => agent.ca.rotate(),
  };
}

/** The process's selectors against the entries in force; hashes its executable only when an entry names a digest. */
async function matchEntries(agent: AgentParts, pid: number): Promise<EntryMatch> {
  agent.tracker.sync();
  const record = agent.tracker.table.current(pid);
  if (record === undefined) throw new AdminError('BAD_REQUEST', `pid: no process ${pid} in the process table`);
  const entries = agent.entries.current();
  const sha256 = entries.some((e) => e.selectors.some((s) => s.startsWith('unix:sha256:')));
  let selectors: string[];
  try {
    selectors = await agent.selectors.selectorsOf(record, { sha256 });
  } catch (err) {
    if (err instanceof AttestError && err.code === 'PROCESS_GONE') throw new AdminError('BAD_REQUEST', `pid: process ${pid} exited while it was read`, { cause: err });
    throw err;
  }
  const explained = explainMatch(entries, new Set(selectors)).map((x) => ({
    id: x.entry.id, spiffeId: x.entry.spiffeId.toString(), matched: x.matched, missing: x.missing,
  }));
  return { pid, selectors, entries: explained };
}
