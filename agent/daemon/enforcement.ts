import { relative } from 'node:path';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { AdminBackend, PolicyStatus } from '../admin/index.js';
import { CgroupPaths, type ProcessRecord, type ProcessTracker, type SelectorSource } from '../attest/index.js';
import {
  IdentityNumbers, KernelIdentities, PolicyStore, PolicySwitch, SockEventFeed, UserSpaceIdentities, compilePolicy, syncLocalAddresses,
  type MeshedNetworks, type Policy, type PolicyEvent, type RawSockEvent,
} from '../enforce/index.js';
import { bootTimeNs, findCgroupV2Mount, Mode, SockEventKind, SockPrograms, SockRole, Verdict, type ProfileEvent, type SockEvent } from '../kernel/index.js';
import type { FileEntryStore } from '../registry/index.js';
import type { SpiffeId, TrustDomain } from '../spiffe/index.js';
import type { Logger } from '../telemetry/index.js';
import type { Config } from './config.js';
import type { Lifecycle } from './lifecycle.js';
import { enforcementAdmin, type EnforcementMethod } from './enforcement-admin.js';
import { registerMapMetrics } from './metrics.js';
import { startProfiles, type Profiles, type QuarantineRelay } from './profiles.js';

/** How often the host's addresses are copied into the kernel (they change with DHCP, pods...). */
const LOCAL_ADDRESSES_MS = 10_000;

export interface EnforcementDeps {
  readonly config: Config;
  readonly cgroup: string;
  readonly trustDomain: TrustDomain;
  readonly life: Lifecycle;
  readonly log: Logger;
  readonly entries: FileEntryStore;
  readonly tracker: ProcessTracker;
  readonly selectors: SelectorSource;
  readonly ticksPerSecond: number;
  readonly metrics: Registry;
  /** The Workload API's view of the quarantine: the profiles attach their set to it. */
  readonly quarantine?: QuarantineRelay;
}

/**
 * The connect hooks on the enforcement cgroup; the kernel's identities (exec-time from entries it
 * can decide, user space for the rest); the policy switched in whole, again on every entries or
 * policy change; the kernel's events turned into logs, metrics, `tether events` and `tether
 * conns`. Stopping the agent leaves the hooks pinned and enforcing (`tether uninstall` removes
 * them). Returns what the admin API serves about it.
 */
export async function startEnforcement(o: EnforcementDeps): Promise<Enforcement> {
  const log = o.log.child({ component: 'enforce' });
  const policyPath = o.config.policy as string;
  const numbers = await IdentityNumbers.open(o.config.stateDir);
  const policyEvents = new Counter({
    name: 'tether_policy_events_total', help: 'Denied (deny) and would-be-denied (audit) connects reported by the kernel',
    labelNames: ['verdict'], registers: [o.metrics],
  });
  const feed = new SockEventFeed({
    idOf: (n) => numbers.idOf(n), bootNs: bootTimeNs, nowMs: Date.now,
    onPolicyEvent: (e) => {
      if (e.kind === 'inbound') {
        (e.verdict === 'deny' ? log.warn.bind(log) : log.info.bind(log))({ ...e }, e.verdict === 'deny'
          ? 'direct connection from another host refused (mesh.inbound strict)' : 'unauthenticated direct connection from another host (mesh.inbound permissive)');
        return;
      }
      policyEvents.inc({ verdict: e.verdict });
      (e.verdict === 'deny' ? log.warn.bind(log) : log.info.bind(log))({ ...e }, e.verdict === 'deny' ? 'connect denied' : 'connect would be denied (audit mode)');
    },
  });
  // Profile events that come before the profiles have started wait for them.
  const early: ProfileEvent[] = [];
  let onProfileEvents = (batch: ProfileEvent[]): void => { early.push(...batch); };
  const sock = await o.life.start('enforcement hooks', () => SockPrograms.open({
    pinDir: o.config.pinDir, cgroup: o.cgroup, ticksPerSecond: o.ticksPerSecond,
    onEvents: (batch) => feed.apply(batch.map(rawEvent)),
    onProfileEvents: (batch) => onProfileEvents(batch),
  }), (s) => s.release());
  log.info({ cgroup: o.cgroup, link: sock.link }, sock.link === 'adopted' ? 'adopted the pinned hooks of an earlier run' : 'hooks attached');
  registerKernelMetrics(o.metrics, sock, feed);

  const policies = await o.life.start('policy', () => {
    const store = new PolicyStore({ path: policyPath, trustDomain: o.trustDomain, log });
    store.start();
    return store;
  }, (store) => store.stop());
  await o.life.start('local addresses', () => {
    syncLocalAddresses(sock.maps.localAddresses);
    return setInterval(() => {
      try { syncLocalAddresses(sock.maps.localAddresses); } catch (err) { log.error({ err: (err as Error).message }, 'local addresses not refreshed'); }
    }, LOCAL_ADDRESSES_MS).unref();
  }, (timer) => clearInterval(timer));

  const kernelIds = new KernelIdentities(sock.maps, { cgroupMount: findCgroupV2Mount() });
  const userIds = new UserSpaceIdentities({
    identities: sock.maps.identities, current: (tgid) => o.tracker.table.current(tgid), all: () => o.tracker.table.values(),
    selectorsOf: (r, q) => o.selectors.selectorsOf(r, q), identityAtExec: (r) => kernelIds.identityAtExec(r),
    inScope: scopeOf(o.cgroup), onError: (err) => log.error({ err: (err as Error).message }, 'a process identity was not decided'),
  });
  const switcher = new PolicySwitch(sock.maps, process.pid); // its own connects are tunnels' legs: never judged or redirected
  const meshed: MeshedNetworks | undefined = o.config.mesh && { cidrs: o.config.mesh.cidrs, ports: o.config.mesh.ports };
  const numberOf = (id: SpiffeId): number => numbers.numberOf(id);
  let inForce: { generation: number; rules: number; policy: Policy } | undefined; // what the last switch wrote, for `tether status`
  const enforce = (): { generation: number; rules: number; mode: Policy['mode'] } => {
    const set = o.entries.current();
    const ids = [...new Map(set.map((e) => [e.spiffeId.toString(), e.spiffeId])).values()];
    const synced = kernelIds.sync(set, numberOf, o.tracker.table.values());
    void userIds.setEntries(set, synced.userSpaceOnly.length, numberOf);
    const current = policies.current() as Policy;
    const compiled = compilePolicy(current, ids, numberOf, meshed);
    const applied = switcher.apply(compiled);
    log.info({ ...applied, mode: compiled.mode, executables: synced.executables, cgroups: synced.cgroups, seeded: synced.seeded,
      userSpaceOnly: synced.userSpaceOnly.length }, 'policy in force');
    inForce = { ...applied, policy: current };
    return { ...applied, mode: compiled.mode };
  };
  const enforceLogged = (): void => {
    try { enforce(); } catch (err) { log.error({ err: (err as Error).message }, 'policy not applied; the last one stays in force'); }
  };
  enforce();
  await o.life.start('policy updates', () => [o.entries.onChange(enforceLogged), policies.onChange(enforceLogged), o.tracker.onStarted(userIds.onStarted)],
    (stops) => { for (const s of stops) s(); });
  const observedSince = new Date().toISOString();
  const profiles = await startProfiles({
    config: o.config, trustDomain: o.trustDomain, sock, numbers, tracker: o.tracker, ticksPerSecond: o.ticksPerSecond, life: o.life,
    log: o.log, metrics: o.metrics, relay: o.quarantine, report: (event) => { feed.events.push(event); },
  });
  onProfileEvents = profiles.onKernelEvents;
  profiles.onKernelEvents(early.splice(0));

  const policy = (): Policy => policies.current() as Policy;
  const admin = enforcementAdmin({
    sock, feed, policies, policy, policyPath, trustDomain: o.trustDomain, observedSince, enforce, idOf: (n) => numbers.idOf(n),
  });
  const status = (): PolicyStatus => {
    const p = inForce?.policy ?? policy();
    return {
      mode: p.mode, path: policyPath, rules: p.rules.length, kernelRules: inForce?.rules ?? 0, generation: inForce?.generation ?? 0,
      unidentified: p.unidentified, cgroup: o.cgroup,
    };
  };
  return {
    admin, reloadPolicy: () => { policies.reload(); }, hooks: sock, status,
    sock, policy, idOf: (n) => numbers.idOf(n), report: (event) => { feed.events.push(event); }, profiles,
  };
}

export interface Enforcement {
  readonly admin: Pick<AdminBackend, EnforcementMethod>;
  /** SIGHUP: read the policy file again (a bad one is logged and the last good one stays). */
  readonly reloadPolicy: () => void;
  /** The hooks' links, for the kernel health check (daemon/health.ts). */
  readonly hooks: Pick<SockPrograms, 'check' | 'repair'>;
  /** The policy in force, for `tether status`. */
  readonly status: () => PolicyStatus;
  /** For the mesh (daemon/mesh.ts): the hooks' maps and redirect records, the policy file as in
   * force, identity numbers back to IDs, and `tether events` for its refusals. */
  readonly sock: SockPrograms;
  readonly policy: () => Policy;
  readonly idOf: (n: number) => SpiffeId | undefined;
  readonly report: (event: PolicyEvent) => void;
  /** Behaviour profiles and the quarantine (daemon/profiles.ts), for the admin API. */
  readonly profiles: Profiles;
}

export type { EnforcementMethod } from './enforcement-admin.js';


/** Whether a process runs in the enforcement cgroup's subtree (only there do the hooks act). A
 * cgroup too new for the last walk of the tree counts as inside: deciding one process too many
 * costs a selector read, missing one leaves it unidentified. */
function scopeOf(cgroup: string): (r: ProcessRecord) => boolean {
  const mount = findCgroupV2Mount();
  const root = `/${relative(mount, cgroup)}`.replace(/\/$/, '');
  const paths = new CgroupPaths({ mountPoint: mount });
  return (r) => {
    if (root === '') return true;
    const path = r.cgroupPath ?? (r.cgroupId === null ? null : paths.pathOf(r.cgroupId));
    return path === null || path === root || path.startsWith(`${root}/`);
  };
}

const KINDS = new Map<number, RawSockEvent['kind']>([
  [SockEventKind.VERDICT, 'verdict'], [SockEventKind.OPEN, 'open'], [SockEventKind.CLOSE, 'close'], [SockEventKind.INBOUND, 'inbound'],
]);

function rawEvent(e: SockEvent): RawSockEvent {
  return {
    ...e,
    kind: KINDS.get(e.kind) ?? 'verdict',
    role: e.role === SockRole.SERVER ? 'server' : 'client',
    verdict: e.verdict === Verdict.DENY ? 'deny' : e.verdict === Verdict.AUDIT ? 'audit' : 'allow',
    mode: e.mode === Mode.AUDIT ? 'audit' : 'enforce',
    localAddr: Buffer.from(e.localAddr),
    peerAddr: Buffer.from(e.peerAddr),
  };
}

/**
 * The kernel's own counts, read when Prometheus scrapes. The kernel counts verdicts without the
 * mode, so each scrape adds what the counts grew by since the last one to the mode in force then
 * (the kernel's config, read at the scrape): only connects between the last scrape before a mode
 * switch and the switch are filed under the new mode. The first scrape files all the kernel has
 * counted since its maps were pinned (an earlier run's too) under the mode in force at it.
 */
function registerKernelMetrics(registry: Registry, sock: SockPrograms, feed: SockEventFeed): void {
  const sum = (v: bigint[] | undefined): bigint => (v ?? []).reduce((a, b) => a + b, 0n);
  const seen = new Map<number, bigint>();
  new Counter({
    name: 'tether_policy_verdicts_total',
    help: 'Connects decided by the kernel hooks, by mode in force when counted (approximate: per scrape) and verdict (audit: would have been denied)',
    labelNames: ['mode', 'verdict'], registers: [registry],
    collect() {
      const mode = sock.maps.config.lookup(0)?.mode === Mode.AUDIT ? 'audit' : 'enforce';
      for (const [name, index] of [['allow', Verdict.ALLOW], ['deny', Verdict.DENY], ['audit', Verdict.AUDIT]] as const) {
        const total = sum(sock.maps.verdicts.lookup(index));
        const grown = total - (seen.get(index) ?? 0n);
        seen.set(index, total);
        this.inc({ mode, verdict: name }, grown > 0n ? Number(grown) : 0);
      }
    },
  });
  registerMapMetrics(registry, [sock.maps.identities, sock.maps.executables, sock.maps.cgroups, sock.maps.listeners, sock.maps.policy, sock.maps.flows]);
  new Counter({
    name: 'tether_policy_events_lost_total', help: 'Kernel socket events lost because the ring buffer was full', registers: [registry],
    collect() { this.reset(); this.inc(Number(sock.eventsLost())); },
  });
  new Counter({
    name: 'tether_mesh_inbound_direct_total',
    help: 'Direct connections (SYNs) from other hosts to meshed workloads: denied (mesh.inbound strict) or unauthenticated (permissive, let in)',
    labelNames: ['verdict'], registers: [registry],
    collect() {
      const counts = sock.inboundCounts();
      this.reset();
      this.inc({ verdict: 'denied' }, Number(counts.denied));
      this.inc({ verdict: 'unauthenticated' }, Number(counts.unauthenticated));
    },
  });
  new Gauge({
    name: 'tether_connections_open', help: 'Live connections in the enforcement cgroup known to the agent (one per side)', registers: [registry],
    collect() { sock.drainEvents(); this.set(feed.connections.size); },
  });
}
