import { readFileSync } from 'node:fs';
import { AttestError, parseStat, type ProcessRecord, type ProcessTracker, type SelectorSource } from '../attest/index.js';
import { matchEntries, type Entry } from '../registry/index.js';
import { SpiffeError, verifyJwtSvid, type JwtBundle, type TrustDomain, type X509Bundle } from '../spiffe/index.js';
import type { JwtSvidCache, X509SvidCache } from '../svid/index.js';
import type { Caller, ChangeReason, ConnectionPeer, WorkloadBackend, X509SvidItem } from './backend.js';
import { WorkloadError } from './errors.js';
import { passPosture, watchesExe, type PostureGate, type PostureObserver } from './posture-gate.js';

/** Quarantined processes (profile/'s QuarantineSet, wired in by daemon/): issued nothing; a change
 * of a process's quarantine judges its streams again, so a quarantined one ends PermissionDenied. */
export interface QuarantineSource {
  has(key: ProcessRecord['key']): boolean;
  onChange(listener: (tgid: number) => void): () => void;
}

/** The entries, as the registry's file store serves them. */
export interface EntrySource {
  current(): readonly Entry[];
  onChange(listener: (entries: readonly Entry[]) => void): () => void;
}

/** The trust domain's bundles, as the CA serves them (LocalAuthority fits). */
export interface BundleSource {
  x509Bundle(): X509Bundle;
  jwtBundle(): JwtBundle;
  onChange(listener: () => void): () => void;
}

export interface IdentityBackendOptions {
  readonly trustDomain: TrustDomain;
  readonly tracker: Pick<ProcessTracker, 'sync' | 'watch' | 'table'>;
  readonly selectors: Pick<SelectorSource, 'selectorsOf'>;
  readonly entries: EntrySource;
  readonly x509: Pick<X509SvidCache, 'get' | 'onRotate'>;
  readonly jwt: Pick<JwtSvidCache, 'get'>;
  readonly bundles: BundleSource;
  readonly ticksPerSecond: number;
  readonly now?: () => Date;
  /** Told how long each call's attestation took (daemon/ keeps the histogram). */
  readonly observer?: AttestationObserver;
  /** A monotonic clock in ms for those durations; default performance.now. */
  readonly monotonicMs?: () => number;
  /** Judges entries' posture (attest/'s PostureChecker); without it an entry with a posture is never issued. */
  readonly posture?: PostureGate;
  /** Told each posture check's result. */
  readonly postureObserver?: PostureObserver;
  readonly quarantine?: QuarantineSource;
}

/**
 * Attestation of one call, timed from identify() (the call's first step after its header and
 * connection are checked, so its arrival within microseconds) until its process's selectors have
 * matched entries: the pidfd, the process table, /proc and the registry. Calls that need no
 * selectors (ValidateJWTSVID) or whose attestation fails are not told; their status counts them.
 */
export interface AttestationObserver {
  attested(seconds: number): void;
}

/** A caller tied to its process-table record: every answer is checked against it again. */
interface AttestedCaller extends Caller {
  readonly record: ProcessRecord;
}

/**
 * The Workload API's answers for one attested process: the kernel's record of the process behind
 * the connection (its pidfd alive, its pid's start time the record's), its selectors, the entries
 * they match, and the cached SVIDs of those entries. A pid alone is never looked up: the pidfd of
 * the very connection says the process still exists, and the start time says it is the record's.
 */
export class IdentityBackend implements WorkloadBackend {
  readonly #o: IdentityBackendOptions;
  readonly #now: () => Date;
  readonly #matched = new WeakMap<ConnectionPeer, ProcessRecord['key']>();
  readonly #monotonicMs: () => number;
  /** Callers whose selectors have not yet been matched: when identify() began, in ms. */
  readonly #timing = new WeakMap<Caller, number>();

  constructor(options: IdentityBackendOptions) {
    this.#o = options;
    this.#now = options.now ?? (() => new Date());
    this.#monotonicMs = options.monotonicMs ?? (() => performance.now());
  }

  async identify(peer: ConnectionPeer): Promise<Caller> {
    const began = this.#monotonicMs();
    this.#o.tracker.sync(); // the events written so far, so a fresh exec is in the table
    if (!peer.pidfd.alive()) throw new WorkloadError('CALLER_GONE', `process ${peer.pid} exited`);
    // A connection's process, once matched to its record, stays that record while its pidfd
    // lives (a live process keeps its pid): later calls on the connection skip /proc.
    const known = this.#matched.get(peer);
    let record = known === undefined ? undefined : this.#o.tracker.table.get(known);
    if (!record) {
      record = this.#o.tracker.table.current(peer.pid);
      if (!record || !this.#isRecordOf(record, peer.pid)) {
        throw new WorkloadError('ATTESTATION_FAILED', `process ${peer.pid} is not (yet) in the process table`);
      }
      this.#matched.set(peer, record.key);
    }
    const caller: AttestedCaller = { peer, record, description: `pid ${peer.pid} (${record.comm}) uid ${record.uid}` };
    if (this.#o.observer !== undefined) this.#timing.set(caller, began);
    return caller;
  }

  async x509(caller: Caller): Promise<{ svids: readonly X509SvidItem[]; federatedBundles: ReadonlyMap<string, Buffer> }> {
    const entries = await this.#entriesOf(caller);
    const bundle = this.#o.bundles.x509Bundle().toDer();
    const svids = entries.map((e): X509SvidItem => {
      const svid = this.#o.x509.get(e);
      return { spiffeId: e.spiffeId.toString(), chain: svid.chain, privateKeyPkcs8: svid.privateKeyPkcs8, bundle, hint: e.hint ?? '' };
    });
    this.#stillThere(caller); // the process may have gone while we looked: never answer for its successor
    return { svids, federatedBundles: new Map() };
  }

  watch(caller: Caller, onChange: (reason: ChangeReason) => void): () => void {
    const { record } = attested(caller);
    const stops = [
      this.#o.tracker.watch(record, (change) => onChange(change)),
      this.#watchExe(record, () => onChange('posture')),
      this.#o.quarantine?.onChange((tgid) => { if (tgid === record.key.tgid) onChange('quarantine'); }) ?? (() => undefined),
      this.#o.entries.onChange(() => onChange('entries')),
      this.#o.x509.onRotate(() => onChange('rotation')),
      this.#o.bundles.onChange(() => onChange('bundle')),
    ];
    return () => { for (const stop of stops) stop(); };
  }

  async jwtSvids(caller: Caller, audience: readonly string[], spiffeId: string | undefined):
    Promise<ReadonlyArray<{ spiffeId: string; token: string; hint: string }>> {
    const entries = (await this.#entriesOf(caller)).filter((e) => spiffeId === undefined || e.spiffeId.toString() === spiffeId);
    const out = [];
    for (const e of entries) {
      const { token } = await this.#o.jwt.get(e, audience);
      out.push({ spiffeId: e.spiffeId.toString(), token, hint: e.hint ?? '' });
    }
    this.#stillThere(caller);
    return out;
  }

  x509Bundles(): ReadonlyMap<string, Buffer> {
    return new Map([[this.#o.trustDomain.idString(), this.#o.bundles.x509Bundle().toDer()]]);
  }

  jwtBundles(): ReadonlyMap<string, Buffer> {
    return new Map([[this.#o.trustDomain.idString(), Buffer.from(this.#o.bundles.jwtBundle().toJwks())]]);
  }

  async validateJwt(token: string, audience: string): Promise<{ spiffeId: string; claims: Record<string, unknown> }> {
    const own = this.#o.bundles.jwtBundle();
    try {
      const svid = await verifyJwtSvid(token, (td) => (td.equals(this.#o.trustDomain) ? own : undefined), { audience, now: this.#now() });
      // A string aud comes back as a one-element list (SPIRE's answer), so clients see one shape.
      const { aud } = svid.claims;
      return { spiffeId: svid.id.toString(), claims: { ...svid.claims, aud: typeof aud === 'string' ? [aud] : aud } };
    } catch (err) {
      if (err instanceof SpiffeError) throw new WorkloadError('INVALID_TOKEN', `${err.code}: ${err.message}`, { cause: err });
      throw err;
    }
  }

  /** The entries the caller's selectors match now, in file order (svids[0] is the default identity). */
  async #entriesOf(caller: Caller): Promise<Entry[]> {
    const record = this.#stillThere(caller);
    if (this.#o.quarantine?.has(record.key)) {
      throw new WorkloadError('QUARANTINED', `process ${record.key.tgid} is quarantined: it deviated from its identity's behaviour profile (tether quarantine list)`);
    }
    const entries = this.#o.entries.current();
    const sha256 = entries.some((e) => e.selectors.some((s) => s.startsWith('unix:sha256:')));
    let selectors: string[];
    try {
      selectors = await this.#o.selectors.selectorsOf(record, { sha256 });
    } catch (err) {
      if (err instanceof AttestError && err.code === 'PROCESS_GONE') throw new WorkloadError('CALLER_GONE', err.message, { cause: err });
      throw err;
    }
    const matched = matchEntries(entries, new Set(selectors));
    this.#attested(caller);
    try {
      return await passPosture(matched, record, this.#o.posture, this.#o.postureObserver);
    } catch (err) {
      if (err instanceof AttestError && err.code === 'PROCESS_GONE') throw new WorkloadError('CALLER_GONE', err.message, { cause: err });
      throw err;
    }
  }

  /** The executable's file, while some entry asks for exeImmutable: its replacement is judged at once.
   * (The entries in force when the stream subscribed: an entry change re-subscribes nothing, but
   * judges the process again all the same.) */
  #watchExe(record: ProcessRecord, onChange: () => void): () => void {
    if (this.#o.posture === undefined || !watchesExe(this.#o.entries.current())) return () => undefined;
    return this.#o.posture.watchExe(record, onChange);
  }

  /** The first match of a caller's selectors ends its attestation: timed once per identify(). */
  #attested(caller: Caller): void {
    const began = this.#timing.get(caller);
    if (began === undefined) return;
    this.#timing.delete(caller);
    this.#o.observer?.attested(Math.max(0, this.#monotonicMs() - began) / 1000);
  }

  /** The caller's record as the table has it now (after an exec: the new program's), if its
   * process still runs; its key (pid and start time) is the one attested. */
  #stillThere(caller: Caller): ProcessRecord {
    const { record, peer } = attested(caller);
    const now = this.#o.tracker.table.get(record.key);
    if (!peer.pidfd.alive() || !now) throw new WorkloadError('CALLER_GONE', `process ${peer.pid} exited`);
    return now;
  }

  /** The table may lag the kernel by a batch: the pid's start time now must be the record's. */
  #isRecordOf(record: ProcessRecord, pid: number): boolean {
    try {
      const ticks = parseStat(readFileSync(`/proc/${pid}/stat`, 'utf8')).startTicks;
      return ticks === record.key.startNs / BigInt(1_000_000_000 / this.#o.ticksPerSecond);
    } catch {
      return false;
    }
  }
}

function attested(caller: Caller): AttestedCaller {
  if (!('record' in caller)) throw new WorkloadError('ATTESTATION_FAILED', 'a caller this backend did not attest');
  return caller as AttestedCaller;
}
