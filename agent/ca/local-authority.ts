import { mkdir } from 'node:fs/promises';
import { signJwtSvid, type JwtBundle, type SpiffeId, type TrustDomain, type X509Bundle } from '../spiffe/index.js';
import { createInitialState, jwtBundleOf, signingAuthorityOf, x509BundleOf, type CaState, type X509Authority } from './authority.js';
import {
  DEFAULT_JWT_SVID_TTL_SECONDS, DEFAULT_X509_SVID_TTL_SECONDS, checkTtl, resolveCaConfig, type CaConfig, type CaLog, type LocalAuthorityOptions,
} from './ca-config.js';
import { CaStore } from './ca-store.js';
import { StateLock } from './state-lock.js';
import { describeCaState, type CaStatus } from './ca-status.js';
import { CaError } from './errors.js';
import { jwtAlgorithm } from './key-type.js';
import { activeJwt, activeX509, type MaintenanceReport, type RotationReport } from './rotation.js';
import { Rotator, type CaChange } from './rotator.js';
import { loadUpstreamAuthority } from './upstream.js';
import { X509Minter, type MintedX509Svid } from './x509-minter.js';

export interface X509SvidRequest {
  readonly id: SpiffeId;
  /** The entry's TTL; default 1 h. Clipped to the CA's notAfter. */
  readonly ttlSeconds?: number;
  readonly dnsNames?: readonly string[];
}

export interface JwtSvidRequest {
  readonly id: SpiffeId;
  readonly audience: string | readonly string[];
  /** Default 5 min. Clipped to the JWT key's notAfter. */
  readonly ttlSeconds?: number;
}

/**
 * The embedded signing authority of one trust domain: X.509 CAs and JWT keys kept under
 * `<stateDir>/ca/` (CaStore), rotated with overlap (Rotator). Mints through an X509Minter of the
 * active CA, made once per activation. Time is only ever `options.now()`.
 */
export class LocalAuthority {
  readonly trustDomain: TrustDomain;
  readonly #now: () => Date;
  readonly #rotator: Rotator;
  readonly #lock: StateLock;
  #minter: { readonly id: string; readonly minter: X509Minter } | undefined;
  #closed = false;

  private constructor(trustDomain: TrustDomain, now: () => Date, rotator: Rotator, lock: StateLock) {
    this.trustDomain = trustDomain;
    this.#lock = lock;
    this.#now = now;
    this.#rotator = rotator;
  }

  /**
   * Loads `<stateDir>/ca/`, or creates it the first time; then maintain(), so a CA that expired
   * while the agent was down is replaced at once. State that cannot be used is reported
   * (CORRUPT_STATE, UNSUPPORTED_STATE, TRUST_DOMAIN_MISMATCH), never replaced.
   */
  static async open(options: LocalAuthorityOptions): Promise<LocalAuthority> {
    const upstream = options.upstream === undefined
      ? undefined : await loadUpstreamAuthority(options.upstream, options.trustDomain, options.now());
    for (const warning of upstream?.warnings ?? []) options.log?.warn({ path: upstream?.keyFile }, warning);
    const config: CaConfig = { ...resolveCaConfig(options), upstream };
    const store = new CaStore(options.stateDir);
    await mkdir(options.stateDir, { recursive: true, mode: 0o711 });
    const lock = StateLock.acquire(options.stateDir);
    try {
      return await LocalAuthority.#open(options, config, store, lock);
    } catch (err) {
      lock.release();
      throw err;
    }
  }

  static async #open(options: LocalAuthorityOptions, config: CaConfig, store: CaStore, lock: StateLock): Promise<LocalAuthority> {
    const { trustDomain, now, log } = options;
    const loaded = await store.load(trustDomain);
    for (const warning of loaded?.warnings ?? []) log?.warn({ dir: store.dir }, warning);
    let state = loaded?.state;
    if (state !== undefined) state = await LocalAuthority.#dropForeignSlots(state, config, store, trustDomain, log);
    if (state === undefined) {
      state = await createInitialState(trustDomain, config, now());
      await store.create(trustDomain, state);
      log?.info({ dir: store.dir, caId: state.x509[0]?.id, kid: state.jwt[0]?.id }, 'created a new CA');
    }
    const authority = new LocalAuthority(trustDomain, now, new Rotator({ trustDomain, store, config, now, log, state }), lock);
    await authority.maintain();
    return authority;
  }

  /**
   * X.509 slots of the other mode (local slots under `ca.upstream`, upstream slots without it) or
   * under another upstream root than the configured one leave the state (committed, then their
   * files deleted; logged): the bundle is the configured root alone. The next maintain() makes
   * and activates a new CA at once when none is left active. JWT keys are kept.
   */
  static async #dropForeignSlots(
    state: CaState, config: CaConfig, store: CaStore, trustDomain: TrustDomain, log: CaLog | undefined,
  ): Promise<CaState> {
    const { upstream } = config;
    const ours = (a: X509Authority): boolean => (upstream === undefined ? !a.upstream : a.upstream && a.root.der.equals(upstream.der));
    const foreign = state.x509.filter((a) => !ours(a));
    if (foreign.length === 0) return state;
    const next: CaState = { ...state, x509: state.x509.filter(ours) };
    store.commit(trustDomain, next);
    for (const a of foreign) {
      await store.removeSlot('x509', a.id)
        .catch((err: unknown) => log?.warn({ err, kind: 'x509', id: a.id }, 'could not delete an old slot\'s files'));
    }
    const why = upstream === undefined ? 'made under ca.upstream, which is no longer configured'
      : `not under the configured upstream root ${upstream.certFile}`;
    log?.warn({ dir: store.dir, dropped: foreign.map((a) => a.id) }, `X.509 CAs ${why} were removed; a new CA signs from now on`);
    return next;
  }

  /** What `<stateDir>/ca/` holds, read only (nothing created, rotated or rewritten); undefined when there is no CA yet. */
  static async inspect(stateDir: string): Promise<CaStatus | undefined> {
    const loaded = await new CaStore(stateDir).load();
    return loaded === undefined ? undefined : describeCaState(loaded.trustDomain, loaded.state);
  }

  /** An X509-SVID from the active CA. Synchronous; writes to disk only to record a longer TTL than ever before. */
  mintX509Svid(request: X509SvidRequest): MintedX509Svid {
    const ttlSeconds = this.#checkRequest(request.id, request.ttlSeconds ?? DEFAULT_X509_SVID_TTL_SECONDS);
    const now = this.#now();
    const active = activeX509(this.#rotator.state);
    if (active === undefined || active.notAfter <= now) {
      throw new CaError('NO_ACTIVE_CA', 'no active X.509 CA is valid now; maintain() makes one');
    }
    this.#rotator.recordIssuedTtl('x509', active.id, ttlSeconds);
    const dns = request.dnsNames === undefined ? {} : { dnsNames: request.dnsNames };
    try {
      return this.#minterFor(active).mint({ id: request.id, ttlSeconds, now, ...dns });
    } catch (err) {
      if (err instanceof CaError) throw err;
      throw new CaError('MINT_FAILED', `cannot mint an X509-SVID for ${request.id.toString()}`, { cause: err });
    }
  }

  /** A JWT-SVID signed by the active JWT key, its kid in the header. */
  async mintJwtSvid(request: JwtSvidRequest): Promise<{ readonly token: string; readonly expiresAt: Date }> {
    const ttlSeconds = this.#checkRequest(request.id, request.ttlSeconds ?? DEFAULT_JWT_SVID_TTL_SECONDS);
    const now = this.#now();
    const key = activeJwt(this.#rotator.state);
    // JWT times are whole seconds: the returned expiry is the token's exp.
    const expiresMs = Math.min(now.getTime() + ttlSeconds * 1000, key?.notAfter.getTime() ?? 0);
    const expiresAt = new Date(Math.floor(expiresMs / 1000) * 1000);
    if (key === undefined || expiresAt <= now) {
      throw new CaError('NO_ACTIVE_CA', 'no active JWT key is valid now; maintain() makes one');
    }
    this.#rotator.recordIssuedTtl('jwt', key.id, ttlSeconds);
    const audience = typeof request.audience === 'string' ? [request.audience] : request.audience;
    try {
      const token = await signJwtSvid({
        id: request.id, audience, expiresAt, issuedAt: now, key: key.privateKey, kid: key.id, alg: jwtAlgorithm(key.keyType),
      });
      return { token, expiresAt };
    } catch (err) {
      throw new CaError('MINT_FAILED', `cannot sign a JWT-SVID for ${request.id.toString()}`, { cause: err });
    }
  }

  /** Every published CA's root: during an overlap, the old and the new. */
  x509Bundle(): X509Bundle {
    return x509BundleOf(this.trustDomain, this.#rotator.state);
  }

  /** Every published JWT key, by kid. */
  jwtBundle(): JwtBundle {
    return jwtBundleOf(this.trustDomain, this.#rotator.state);
  }

  /** For `tether ca show`: every slot and its lifecycle, no key material. */
  status(): CaStatus {
    return describeCaState(this.trustDomain.name, this.#rotator.state);
  }

  /** Prepares the next CA and JWT key (published, signing nothing) unless one of that kind is prepared already. */
  prepareNext(): Promise<MaintenanceReport> {
    return this.#rotator.prepareNext();
  }

  /** Activates what is prepared; the active ones start retiring (still published). ROTATION when nothing is prepared. */
  activateNext(): Promise<MaintenanceReport> {
    return this.#rotator.activateNext();
  }

  /** Retires every slot whose last credential has expired: it leaves the bundle. */
  retireOld(): Promise<MaintenanceReport> {
    return this.#rotator.retireOld();
  }

  /** `tether ca rotate`: a new CA and JWT key, active now; the old ones stay published until what they signed expires. */
  rotate(): Promise<RotationReport> {
    return this.#rotator.rotate();
  }

  /** What a timer calls: prepare at 1/2 of the active's life, activate at 5/6, retire when safe; each kind on its own. */
  maintain(): Promise<MaintenanceReport> {
    return this.#rotator.maintain();
  }

  /** Called after each committed change (later: pushes bundles to workloads); returns the unsubscribe. */
  onChange(listener: (change: CaChange) => void): () => void {
    return this.#rotator.onChange(listener);
  }

  /** Waits for a running rotation step, then stops minting and the key pool. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#rotator.close();
    this.#lock.release();
    this.#minter = undefined;
  }

  #checkRequest(id: SpiffeId, ttlSeconds: number): number {
    if (this.#closed) throw new CaError('CLOSED', 'the authority is closed');
    if (!id.memberOf(this.trustDomain)) {
      throw new CaError('FOREIGN_TRUST_DOMAIN',
        `${id.toString()} is not in trust domain ${this.trustDomain.name}, the only one this authority signs for`);
    }
    if (id.isRoot()) throw new CaError('ROOT_PATH_ID', `${id.toString()} is the trust domain's own ID; an SVID needs a path`);
    return checkTtl('ttlSeconds', ttlSeconds);
  }

  #minterFor(active: X509Authority): X509Minter {
    if (this.#minter?.id !== active.id) {
      this.#minter = { id: active.id, minter: new X509Minter({ issuer: signingAuthorityOf(active) }) };
    }
    return this.#minter.minter;
  }
}
