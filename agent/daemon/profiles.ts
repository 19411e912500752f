import { join } from 'node:path';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { ProcessTracker } from '../attest/index.js';
import type { IdentityNumbers, PolicyEvent } from '../enforce/index.js';
import { bootTimeNs, type ProfileEvent, type SockPrograms } from '../kernel/index.js';
import { ProfileStore, Profiler, QuarantineSet, describeWhat, formatDestination, type Deviation } from '../profile/index.js';
import type { TrustDomain } from '../spiffe/index.js';
import type { Logger } from '../telemetry/index.js';
import type { QuarantineSource } from '../workload/index.js';
import type { Config } from './config.js';
import type { Lifecycle } from './lifecycle.js';

/**
 * The Workload API's view of the quarantine, made before the enforcement exists (the backend is
 * built first): it answers "not quarantined" until the profiles attach their QuarantineSet.
 */
export class QuarantineRelay implements QuarantineSource {
  #set: QuarantineSet | undefined;
  readonly #listeners = new Set<(tgid: number) => void>();

  attach(set: QuarantineSet): void {
    this.#set = set;
    set.onChange((tgid) => { for (const l of this.#listeners) l(tgid); });
  }

  has(key: Parameters<QuarantineSet['has']>[0]): boolean {
    return this.#set?.has(key) ?? false;
  }

  onChange(listener: (tgid: number) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}

export interface ProfilesDeps {
  readonly config: Config;
  readonly trustDomain: TrustDomain;
  readonly sock: SockPrograms;
  readonly numbers: IdentityNumbers;
  readonly tracker: Pick<ProcessTracker, 'table' | 'sync'>;
  readonly ticksPerSecond: number;
  readonly life: Lifecycle;
  readonly log: Logger;
  readonly metrics: Registry;
  readonly relay: QuarantineRelay | undefined;
  /** `tether events`: each deviation is one. */
  readonly report: (event: PolicyEvent) => void;
}

export interface Profiles {
  readonly profiler: Profiler;
  readonly quarantine: QuarantineSet;
  readonly store: ProfileStore;
  /** The kernel's profile events (SockPrograms' onProfileEvents). */
  readonly onKernelEvents: (events: ProfileEvent[]) => void;
}

/**
 * Behaviour profiles on the enforcement hooks: the profiles directory (watched), the kernel's
 * allow-lists and modes kept in step with it, the kernel's flows and listeners scanned every
 * profiles.scanIntervalMs, each deviation a log line, a metric and a `tether events` event, and
 * the quarantine set the Workload API consults.
 */
export async function startProfiles(d: ProfilesDeps): Promise<Profiles> {
  const log = d.log.child({ component: 'profile' });
  const deviations = new Counter({
    name: 'tether_profile_deviations_total', help: 'Deviations from behaviour profiles, by what deviated and the mode in force',
    labelNames: ['what', 'mode'], registers: [d.metrics],
  });
  const tickNs = BigInt(1e9 / d.ticksPerSecond);
  const quarantine = new QuarantineSet({ map: d.sock.maps.quarantined, tickNs, bootNs: bootTimeNs });
  d.relay?.attach(quarantine);
  registerProfileMetrics(d.metrics, d.sock, quarantine);
  const store = new ProfileStore({ dir: d.config.profiles.dir ?? join(d.config.stateDir, 'profiles'), trustDomain: d.trustDomain, log });
  store.load();
  const profiler = new Profiler({
    store, maps: d.sock.maps, quarantine, processes: d.tracker.table, numberOf: (id) => d.numbers.numberOf(id),
    idOf: (n) => d.numbers.idOf(n), learnWindowMs: d.config.profiles.learnWindow, now: () => new Date(), log,
    onDeviation: (dev) => {
      deviations.inc({ what: dev.what.kind, mode: dev.mode });
      log.warn(deviationFields(dev), refused(dev) ? 'behaviour outside the profile refused' : 'deviation from the profile');
      d.report(deviationEvent(dev));
    },
  });
  const synced = profiler.sync();
  log.info({ ...synced, dir: d.config.profiles.dir ?? join(d.config.stateDir, 'profiles') }, 'profiles in force');
  await d.life.start('profiles', () => {
    store.start();
    const stop = store.onChange(() => {
      try { profiler.sync(); } catch (err) { log.error({ err: (err as Error).message }, 'profiles not written to the kernel'); }
    });
    const timer = setInterval(() => {
      try { profiler.scan(); } catch (err) { log.error({ err: (err as Error).message }, 'profile scan failed'); }
    }, d.config.profiles.scanIntervalMs).unref();
    return { stop, timer };
  }, ({ stop, timer }) => { clearInterval(timer); stop(); store.stop(); });
  return {
    profiler, quarantine, store,
    onKernelEvents: (events) => {
      d.tracker.sync(); // the parent's record, for the lineage
      profiler.onKernelEvents(events);
    },
  };
}

/** The kernel stopped it: an exec killed, a connect refused (enforce). */
function refused(dev: Deviation): boolean {
  return (dev.what.kind === 'exec' && dev.what.killed) || (dev.what.kind === 'destination' && dev.what.refused === true);
}

function deviationFields(dev: Deviation): Record<string, unknown> {
  return {
    seq: dev.seq, spiffeId: dev.id.toString(), mode: dev.mode, what: describeWhat(dev.what), tgid: dev.process?.tgid,
    lineage: dev.lineage.map((s) => `${s.tgid}/${s.comm}`).join(' < '), quarantined: dev.quarantined?.tgid,
  };
}

function deviationEvent(dev: Deviation): PolicyEvent {
  const lineage = dev.lineage.map((s) => `${s.tgid}/${s.comm}`).join(' < ');
  const to = dev.what.kind === 'destination' && dev.what.destination.kind === 'identity' ? dev.what.destination.id.toString() : null;
  return {
    time: dev.at.toISOString(), kind: 'profile', verdict: refused(dev) ? 'deny' : 'audit',
    mode: dev.mode === 'enforce' ? 'enforce' : 'audit', pid: dev.lineage[0]?.tgid ?? 0, comm: dev.lineage[0]?.comm ?? '',
    from: dev.id.toString(), to, destination: dev.what.kind === 'destination' ? formatDestination(dev.what.destination) : '',
    reason: `#${dev.seq} ${describeWhat(dev.what)}${lineage === '' ? '' : `; lineage ${lineage}`}` +
      `${dev.quarantined ? `; quarantined ${dev.quarantined.tgid}` : ''}`,
  };
}

function registerProfileMetrics(registry: Registry, sock: SockPrograms, quarantine: QuarantineSet): void {
  const seen = { killed: 0n, denied: 0n };
  new Counter({
    name: 'tether_profile_execs_killed_total', help: 'Execs outside an enforced profile, killed by the kernel before they ran', registers: [registry],
    collect() { const n = sock.profileCounts().execsKilled; this.inc(Number(n - seen.killed)); seen.killed = n; },
  });
  new Counter({
    name: 'tether_profile_quarantine_denied_total', help: 'Connects of quarantined processes refused by the kernel', registers: [registry],
    collect() { const n = sock.profileCounts().quarantineDenied; this.inc(Number(n - seen.denied)); seen.denied = n; },
  });
  new Gauge({
    name: 'tether_profile_quarantined', help: 'Processes quarantined now', registers: [registry],
    collect() { this.set(quarantine.list().length); },
  });
}
