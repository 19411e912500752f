import { AdminError, type AdminBackend, type AgentStatus, type EntryMatch, type PostureCheckView, type PostureReport, type TunnelInfo } from '../admin/index.js';
import { AttestError, type PostureChecker, type ProcessDescriber, type ProcessRecord, type ProcessTracker, type SelectorSource } from '../attest/index.js';
import type { LocalAuthority } from '../ca/index.js';
import { explainMatch, matchEntries as matching, type Entry } from '../registry/index.js';
import type { TunnelView } from '../mesh/index.js';
import type { Enforcement, EnforcementMethod } from './enforcement.js';
import { noProfiles, profileAdmin, type ProfileMethod } from './profile-admin.js';

/** The parts of the running agent the admin API reads besides the enforcement. */
export interface AgentParts {
  /** daemon/status.ts's answer, built at the call. */
  readonly status: () => AgentStatus;
  readonly tracker: Pick<ProcessTracker, 'sync' | 'table'>;
  readonly describer: Pick<ProcessDescriber, 'all'>;
  readonly selectors: Pick<SelectorSource, 'selectorsOf'>;
  readonly entries: { current(): readonly Entry[] };
  readonly ca: Pick<LocalAuthority, 'status' | 'rotate'>;
  /** Judges entries' posture on a process (the Workload API's own checker). */
  readonly posture: Pick<PostureChecker, 'check'>;
  /** The mesh's relaying tunnels; undefined: the mesh is off. */
  readonly tunnels: (() => TunnelView[]) | undefined;
}

/**
 * What the admin API serves: the agent's status, its process table, entries and CA, and the
 * enforcement's answers, or, for an agent started without --policy, a clear refusal
 * (FAILED_PRECONDITION) of the policy methods rather than empty lists that look like "nothing
 * happened".
 */
export function adminBackend(enforcement: Enforcement | undefined, agent: AgentParts): AdminBackend {
  const profiles = enforcement === undefined ? noProfiles()
    : profileAdmin({ profiles: enforcement.profiles, idOf: enforcement.idOf, tracker: agent.tracker });
  return { ...policyAnswers(enforcement), ...profiles, ...agentAnswers(agent) };
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

function agentAnswers(agent: AgentParts): Omit<AdminBackend, EnforcementMethod | ProfileMethod> {
  return {
    status: agent.status,
    processes: () => {
      agent.tracker.sync(); // the events the kernel has written so far, so a process started just now shows
      return agent.describer.all();
    },
    matchEntries: (pid) => matchEntries(agent, pid),
    posture: (pid) => postureReport(agent, pid),
    caStatus: () => agent.ca.status(),
    // The CA's own queue runs one rotation step at a time: a rotate during a timed maintenance step waits for it.
    rotateCa: () => agent.ca.rotate(),
    tunnels: () => (agent.tunnels?.() ?? []).map(tunnelInfo),
  };
}

function tunnelInfo(t: TunnelView): TunnelInfo {
  const { host, port } = t.destination;
  return {
    since: t.since.toISOString(), side: t.side, sourceId: t.sourceId.toString(), destId: t.destId.toString(),
    original: host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`, peer: t.peer, mode: t.mode,
    bytesToDestination: t.bytes.toDestination, bytesFromDestination: t.bytes.fromDestination,
  };
}

/** The process's selectors against the entries in force, with each entry's posture checks on it;
 * hashes its executable only when an entry names a digest. */
async function matchEntries(agent: AgentParts, pid: number): Promise<EntryMatch> {
  const { record, entries, selectors } = await selectorsOf(agent, pid);
  const explained = [];
  for (const x of explainMatch(entries, new Set(selectors))) {
    explained.push({
      id: x.entry.id, spiffeId: x.entry.spiffeId.toString(), matched: x.matched, missing: x.missing,
      posture: await postureOf(agent, record, x.entry, pid),
    });
  }
  return { pid, selectors, entries: explained };
}

/** `tether posture PID`: every check of each entry the process matches that asks for any. */
async function postureReport(agent: AgentParts, pid: number): Promise<PostureReport> {
  const { record, entries, selectors } = await selectorsOf(agent, pid);
  const out = [];
  for (const entry of matching(entries, new Set(selectors))) {
    const checks = await postureOf(agent, record, entry, pid);
    if (checks.length > 0) out.push({ id: entry.id, spiffeId: entry.spiffeId.toString(), checks });
  }
  return { pid, entries: out };
}

async function selectorsOf(agent: AgentParts, pid: number): Promise<{ record: ProcessRecord; entries: readonly Entry[]; selectors: string[] }> {
  agent.tracker.sync();
  const record = agent.tracker.table.current(pid);
  if (record === undefined) throw new AdminError('BAD_REQUEST', `pid: no process ${pid} in the process table`);
  const entries = agent.entries.current();
  const sha256 = entries.some((e) => e.selectors.some((s) => s.startsWith('unix:sha256:')));
  try {
    return { record, entries, selectors: await agent.selectors.selectorsOf(record, { sha256 }) };
  } catch (err) {
    throw gone(err, pid);
  }
}

async function postureOf(agent: AgentParts, record: ProcessRecord, entry: Entry, pid: number): Promise<PostureCheckView[]> {
  if (entry.posture === undefined) return [];
  try {
    return await agent.posture.check(record, entry.posture);
  } catch (err) {
    throw gone(err, pid);
  }
}

function gone(err: unknown, pid: number): unknown {
  if (err instanceof AttestError && err.code === 'PROCESS_GONE') return new AdminError('BAD_REQUEST', `pid: process ${pid} exited while it was read`, { cause: err });
  return err;
}
