import type { JwtBundle, TrustDomain, X509Bundle } from '../spiffe/index.js';
import { createJwtKey, createX509Authority, jwtBundleOf, x509BundleOf, type CaState, type NewSlot } from './authority.js';
import type { CaConfig, CaLog } from './ca-config.js';
import type { CaStore } from './ca-store.js';
import { CaError } from './errors.js';
import { planMaintenance } from './lifecycle.js';
import {
  NO_CHANGES, SLOT_KINDS, activeJwt, activeX509, preparedSlot, withActivated, withIssuedTtlRecorded, withPrepared, withRetired,
  type MaintenanceReport, type RotationReport, type SlotKind, type SlotRef,
} from './rotation.js';

/** What a bundle listener hears after a committed change: which slots changed, and the bundles now. */
export interface CaChange {
  readonly reason: 'prepared' | 'activated' | 'retired';
  readonly slots: readonly SlotRef[];
  readonly x509Bundle: X509Bundle;
  readonly jwtBundle: JwtBundle;
}

/**
 * The one owner of an authority's CaState. Every change is committed to disk (CaStore.commit,
 * synchronous) before it is adopted in memory, so a crash or a failed write leaves the previous
 * good state; then listeners hear of it. Rotation steps run one at a time (a queue), and each
 * computes its next state from the current one at commit time, never from one read before an await.
 */
export class Rotator {
  readonly #trustDomain: TrustDomain;
  readonly #store: CaStore;
  readonly #config: CaConfig;
  readonly #now: () => Date;
  readonly #log: CaLog | undefined;
  readonly #listeners = new Set<(change: CaChange) => void>();
  #state: CaState;
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;

  constructor(options: {
    trustDomain: TrustDomain; store: CaStore; config: CaConfig; now: () => Date; log: CaLog | undefined; state: CaState;
  }) {
    this.#trustDomain = options.trustDomain;
    this.#store = options.store;
    this.#config = options.config;
    this.#now = options.now;
    this.#log = options.log;
    this.#state = options.state;
  }

  get state(): CaState {
    return this.#state;
  }

  /** Records a TTL longer than any the slot issued before, committed before the caller signs with it. */
  recordIssuedTtl(kind: SlotKind, id: string, ttlSeconds: number): void {
    const next = withIssuedTtlRecorded(this.#state, kind, id, ttlSeconds);
    if (next === this.#state) return;
    this.#store.commit(this.#trustDomain, next);
    this.#state = next;
  }

  prepareNext(): Promise<MaintenanceReport> {
    return this.#serial(async () => ({ ...NO_CHANGES, prepared: await this.#prepare(SLOT_KINDS) }));
  }

  activateNext(): Promise<MaintenanceReport> {
    return this.#serial(async () => {
      const activated = SLOT_KINDS.flatMap((kind) => this.#activate(kind) ?? []);
      if (activated.length === 0) throw new CaError('ROTATION', 'nothing is prepared to activate: prepareNext() first');
      return { ...NO_CHANGES, activated };
    });
  }

  retireOld(): Promise<MaintenanceReport> {
    return this.#serial(async () => ({ ...NO_CHANGES, retired: await this.#retire() }));
  }

  rotate(): Promise<RotationReport> {
    return this.#serial(async () => {
      const previous = { x509: activeX509(this.#state)?.id, jwt: activeJwt(this.#state)?.id };
      await this.#prepare(SLOT_KINDS);
      for (const kind of SLOT_KINDS) this.#activate(kind);
      return {
        x509: { previous: previous.x509, active: activeX509(this.#state)?.id ?? '' },
        jwt: { previous: previous.jwt, active: activeJwt(this.#state)?.id ?? '' },
      };
    });
  }

  maintain(): Promise<MaintenanceReport> {
    return this.#serial(async () => {
      const plans = SLOT_KINDS.map((kind) => ({ kind, plan: planMaintenance(this.#state[kind], this.#now()) }));
      const prepared = await this.#prepare(plans.filter((p) => p.plan.prepare).map((p) => p.kind));
      const activated = plans.flatMap((p) => (p.plan.activate ? this.#activate(p.kind) ?? [] : []));
      return { prepared, activated, retired: await this.#retire() };
    });
  }

  onChange(listener: (change: CaChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Refuses new steps, waits for the running one. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#queue;
    this.#listeners.clear();
  }

  async #prepare(kinds: readonly SlotKind[]): Promise<SlotRef[]> {
    const refs: SlotRef[] = [];
    for (const kind of kinds) {
      const now = this.#now();
      if (preparedSlot(this.#state, kind, now) !== undefined) continue;
      const config = this.#config;
      const slot: NewSlot = kind === 'x509'
        ? { x509: await createX509Authority({ ...config, trustDomain: this.#trustDomain, ttlSeconds: config.caTtlSeconds, now }) }
        : { jwt: await createJwtKey({ ...config, ttlSeconds: config.jwtKeyTtlSeconds, now }) };
      await this.#store.writeSlot(slot);
      const ref = { kind, id: 'x509' in slot ? slot.x509.id : slot.jwt.id };
      this.#commit(withPrepared(this.#state, slot), 'prepared', [ref]);
      refs.push(ref);
    }
    return refs;
  }

  #activate(kind: SlotKind): SlotRef | undefined {
    const step = withActivated(this.#state, kind, this.#now());
    if (step) this.#commit(step.state, 'activated', [step.ref]);
    return step?.ref;
  }

  async #retire(): Promise<SlotRef[]> {
    const refs: SlotRef[] = [];
    for (const kind of SLOT_KINDS) {
      const step = withRetired(this.#state, kind, this.#now());
      if (step.state === this.#state) continue;
      this.#commit(step.state, 'retired', step.retired);
      refs.push(...step.retired);
      for (const { id } of step.dropped) {
        await this.#store.removeSlot(kind, id)
          .catch((err: unknown) => this.#log?.warn({ err, kind, id }, 'could not delete an old slot\'s files'));
      }
    }
    return refs;
  }

  #commit(next: CaState, reason: CaChange['reason'], slots: readonly SlotRef[]): void {
    this.#store.commit(this.#trustDomain, next);
    this.#state = next;
    if (slots.length === 0) return;
    this.#log?.info({ slots }, `CA slots ${reason}`);
    if (this.#listeners.size === 0) return;
    const change: CaChange = {
      reason, slots, x509Bundle: x509BundleOf(this.#trustDomain, next), jwtBundle: jwtBundleOf(this.#trustDomain, next),
    };
    for (const listener of this.#listeners) {
      try {
        listener(change);
      } catch (err) {
        this.#log?.warn({ err }, 'a CA change listener threw');
      }
    }
  }

  #serial<T>(step: () => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(new CaError('CLOSED', 'the authority is closed'));
    const run = this.#queue.then(step);
    this.#queue = run.catch(() => undefined);
    return run;
  }
}
