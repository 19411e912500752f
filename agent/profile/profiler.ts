import { isAbsolute } from 'node:path';
import type { ProcessKey, ProcessRecord } from '../attest/index.js';
import { readFlows, type ObservedFlow } from '../enforce/index.js';
import { ProfileEventKind, type ProfileEvent, type SockMaps } from '../kernel/index.js';
import type { SpiffeId } from '../spiffe/index.js';
import {
  destinationKey, profileHasDestination, profileHasExecutable, type Deviation, type DeviationWhat, type LineageStep,
} from './deviation.js';
import { ProfileError } from './errors.js';
import type { Profile, ProfileDestination, ProfileModeName } from './profile-file.js';
import { syncProfiles, type ProfileKernelMaps } from './profile-kernel.js';
import type { ProfileLog, ProfileStore } from './profile-store.js';
import type { QuarantineSet } from './quarantine-set.js';

/** The process table, as attest/ keeps it: records by exact key, and the live one of a pid. */
export interface ProcessLookup {
  get(key: ProcessKey): ProcessRecord | undefined;
  current(tgid: number): ProcessRecord | undefined;
}

export interface ProfilerOptions {
  readonly store: ProfileStore;
  readonly maps: ProfileKernelMaps & Pick<SockMaps, 'flows' | 'listeners' | 'identities'>;
  readonly quarantine: QuarantineSet;
  readonly processes: ProcessLookup;
  readonly numberOf: (id: SpiffeId) => number;
  readonly idOf: (n: number) => SpiffeId | undefined;
  /** profiles.learnWindow in ms: how long `learn` lasts before the mode becomes monitor. */
  readonly learnWindowMs: number;
  readonly now: () => Date;
  readonly log: ProfileLog;
  /** Each deviation as it is found: a log line and a metric (daemon/). */
  readonly onDeviation?: (d: Deviation) => void;
}

/** Deviations kept for `profile diff` and `accept` (the oldest go first). */
const KEPT = 1000;

/**
 * Learns and watches behaviour per identity. From the kernel's profile events: an exec by a
 * learning identity's process is added to its profile; one outside a monitored profile is a
 * deviation; one the kernel killed (enforce) is a deviation whose parent the kernel quarantined;
 * so is an enforced identity's connect the kernel refused (the caller quarantined). From the
 * kernel's tables, on each scan(): a learning identity's running executables, the destinations
 * in `flows` and the ports in `listeners` are added; for a monitored identity a destination not
 * in its profile is a deviation, once (an enforced one's the kernel reports itself), and for
 * both a listen port. Those table deviations name no process: the tables do not say which.
 */
export class Profiler {
  readonly #o: ProfilerOptions;
  readonly #deviations: Deviation[] = [];
  readonly #reported = new Set<string>();
  #seq = 0;

  constructor(options: ProfilerOptions) {
    this.#o = options;
  }

  /** The profiles as the kernel must have them (after a start, a change on disk, a mode switch). */
  sync(): { identities: number; executables: number } {
    return syncProfiles(this.#o.maps, this.#o.store.all(), this.#o.numberOf);
  }

  onKernelEvents(events: readonly ProfileEvent[]): void {
    for (const e of events) {
      const id = this.#o.idOf(e.id);
      const profile = id && this.#o.store.get(id);
      if (!profile) continue;
      if (e.kind === ProfileEventKind.EXEC_SEEN) {
        if (profile.mode === 'learn') this.#learnExe(profile, this.#pathOf(e), e.exeDev, e.exeIno);
        continue;
      }
      if (e.kind === ProfileEventKind.CONNECT_REFUSED) {
        this.#connectRefused(profile, e);
        continue;
      }
      const killed = e.kind === ProfileEventKind.EXEC_KILLED;
      const parent: ProcessKey = { tgid: e.ppid, startNs: e.parentStartNs };
      const quarantined = killed && e.parentQuarantined ? parent : null;
      if (quarantined) this.#o.quarantine.changed(quarantined.tgid);
      // The exec'ing process first (a killed one is gone, and may be already from the table), then its parents.
      const path = this.#pathOf(e);
      const lineage = [{ tgid: e.tgid, comm: e.comm, exe: path }, ...this.#lineage(parent)];
      this.#report(profile, { kind: 'exec', path, dev: e.exeDev, ino: e.exeIno, killed }, { tgid: e.tgid, startNs: e.startNs }, quarantined, lineage);
    }
  }

  /** Reads the kernel's tables: learning, destination and port deviations, learning windows that ended. */
  scan(): void {
    const profiles = this.#o.store.all();
    if (profiles.length === 0) return;
    const flows = readFlows(this.#o.maps.flows);
    const listens = [...this.#o.maps.listeners.entries()];
    // Which processes have which identity now, read once (only learning needs it).
    const running = profiles.some((p) => p.mode === 'learn') ? this.#o.maps.identities.entries() : [];
    for (const profile of profiles) {
      const n = this.#o.numberOf(profile.id);
      const destinations = flows.filter((f) => f.src === n).flatMap((f) => this.#destinationOf(f));
      const ports = listens.filter(([, id]) => id === n).map(([port]) => port);
      if (profile.mode === 'learn') this.#learnTables(profile, running.filter(([, pi]) => pi.id === n).map(([tgid]) => tgid), destinations, ports);
      else {
        // enforce: the kernel refuses such a connect itself and reports it with its process
        if (profile.mode === 'monitor') {
          for (const d of destinations) if (!profileHasDestination(profile, d)) this.#reportOnce(profile, { kind: 'destination', destination: d });
        }
        for (const port of ports) if (!profile.listens.includes(port)) this.#reportOnce(profile, { kind: 'listen', port });
      }
    }
  }

  /** Deviations of one identity kept since this agent started (oldest first). */
  deviations(id: SpiffeId): Deviation[] {
    return this.#deviations.filter((d) => d.id.equals(id));
  }

  profile(id: SpiffeId): Profile {
    const p = this.#o.store.get(id);
    if (!p) throw new ProfileError('UNKNOWN_PROFILE', `no profile for ${id.toString()}`);
    return p;
  }

  /** Switches an identity's mode (a first `learn` makes its profile); learn starts a new window. */
  setMode(id: SpiffeId, mode: ProfileModeName): Profile {
    const now = this.#o.now();
    const old = this.#o.store.get(id);
    const learning = mode === 'learn' ? { since: now, until: new Date(now.getTime() + this.#o.learnWindowMs) } : old?.learning;
    if (!old && mode !== 'learn') throw new ProfileError('UNKNOWN_PROFILE', `no profile for ${id.toString()}: learn one first`);
    const next: Profile = old ? { ...old, mode, learning: learning ?? old.learning }
      : { id, mode, learning: learning as Profile['learning'], executables: [], destinations: [], listens: [] };
    this.#save(next);
    return next;
  }

  /** Adds deviation `seq` of `id` to its profile: the behaviour becomes allowed. */
  accept(id: SpiffeId, seq: number): Profile {
    const d = this.#deviations.find((x) => x.seq === seq && x.id.equals(id));
    if (!d) throw new ProfileError('UNKNOWN_PROFILE', `${id.toString()} has no deviation ${seq} (see \`tether profile diff\`)`);
    const p = this.profile(id);
    const w = d.what;
    const next: Profile = w.kind === 'exec'
      ? (profileHasExecutable(p, w.dev, w.ino) ? p : { ...p, executables: [...p.executables, { path: w.path, dev: w.dev, ino: w.ino }] })
      : w.kind === 'destination'
        ? (profileHasDestination(p, w.destination) ? p : { ...p, destinations: [...p.destinations, w.destination] })
        : { ...p, listens: [...new Set([...p.listens, w.port])].sort((a, b) => a - b) };
    this.#save(next);
    return next;
  }

  #save(p: Profile): void {
    this.#o.store.save(p);
    this.sync();
  }

  #learnExe(p: Profile, path: string, dev: number, ino: bigint): Profile {
    if (profileHasExecutable(p, dev, ino)) return p;
    const next = { ...p, executables: [...p.executables, { path, dev, ino }] };
    this.#o.store.save(next);
    // At once in the kernel too: it reports an exec while learning only when its file is new.
    this.#o.maps.profileExes.update({ id: this.#o.numberOf(p.id), dev, ino }, 1);
    this.#o.log.info({ spiffeId: p.id.toString(), path }, 'profile learned an executable');
    return next;
  }

  /** Learning from the tables: running executables, destinations, listen ports; the window's end. */
  #learnTables(profile: Profile, tgids: number[], destinations: ProfileDestination[], ports: number[]): void {
    let p = profile;
    for (const tgid of tgids) {
      const r = this.#o.processes.current(tgid);
      if (r?.exeDev != null && r.exeIno !== null) p = this.#learnExe(p, r.exe ?? r.execFilename ?? '?', r.exeDev, r.exeIno);
    }
    const newDest = destinations.filter((d, i) => !profileHasDestination(p, d) && destinations.findIndex((x) => destinationKey(x) === destinationKey(d)) === i);
    const newPorts = ports.filter((port) => !p.listens.includes(port));
    if (newDest.length > 0 || newPorts.length > 0) {
      p = { ...p, destinations: [...p.destinations, ...newDest], listens: [...new Set([...p.listens, ...newPorts])].sort((a, b) => a - b) };
      this.#o.store.save(p);
    }
    const until = p.learning.until;
    if (until !== null && until <= this.#o.now()) {
      this.#save({ ...p, mode: 'monitor' });
      this.#o.log.info({ spiffeId: p.id.toString() }, 'learning window ended: profile now monitored');
    }
  }

  #destinationOf(f: ObservedFlow): ProfileDestination[] {
    if (f.dst !== 0) {
      const id = this.#o.idOf(f.dst);
      return id ? [{ kind: 'identity', id, port: f.port }] : [];
    }
    if (!f.external) return [];
    const bits = f.external.family === 4 ? 32 : 128;
    return [{ kind: 'cidr', cidr: { family: f.external.family, address: f.external.address, prefixLength: bits }, port: f.port }];
  }

  /** The kernel refused an enforced identity's connect outside its profile and quarantined the caller. */
  #connectRefused(p: Profile, e: ProfileEvent): void {
    const key: ProcessKey = { tgid: e.tgid, startNs: e.startNs };
    const peer = e.peerId === 0 ? undefined : this.#o.idOf(e.peerId);
    const family = e.family === 6 ? 6 : 4;
    const destination: ProfileDestination = peer !== undefined ? { kind: 'identity', id: peer, port: e.port }
      : { kind: 'cidr', cidr: { family, address: Buffer.from(e.addr).subarray(0, family === 4 ? 4 : 16), prefixLength: family === 4 ? 32 : 128 }, port: e.port };
    this.#o.quarantine.changed(e.tgid);
    const lineage = this.#lineage(key);
    this.#report(p, { kind: 'destination', destination, refused: true }, key, key, lineage.length > 0 ? lineage : [{ tgid: e.tgid, comm: e.comm, exe: null }]);
  }

  #reportOnce(p: Profile, what: DeviationWhat): void {
    const key = `${p.id.toString()} ${what.kind === 'destination' ? destinationKey(what.destination) : what.kind === 'listen' ? what.port : ''}`;
    if (this.#reported.has(key)) return;
    this.#reported.add(key);
    this.#report(p, what, null, null, []);
  }

  #report(p: Profile, what: DeviationWhat, process: ProcessKey | null, quarantined: ProcessKey | null, lineage: LineageStep[]): void {
    const d: Deviation = { seq: ++this.#seq, at: this.#o.now(), id: p.id, mode: p.mode, what, process, quarantined, lineage };
    this.#deviations.push(d);
    if (this.#deviations.length > KEPT) this.#deviations.shift();
    this.#o.onDeviation?.(d);
  }

  /** The process and its parents as the table knows them, by exact start times where known. */
  #lineage(key: ProcessKey): LineageStep[] {
    const out: LineageStep[] = [];
    let r = this.#o.processes.get(key) ?? this.#o.processes.current(key.tgid);
    while (r && out.length < 16) {
      out.push({ tgid: r.key.tgid, comm: r.comm, exe: r.exe });
      if (r.ppid === 0) break;
      r = r.parentStartNs === null ? this.#o.processes.current(r.ppid) : this.#o.processes.get({ tgid: r.ppid, startNs: r.parentStartNs });
    }
    return out;
  }

  #pathOf(e: ProfileEvent): string {
    if (isAbsolute(e.filename)) return e.filename;
    return this.#o.processes.current(e.tgid)?.exe ?? e.filename;
  }
}
