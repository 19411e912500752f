import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  LocalAuthority, type CaChange, type JwtSvidRequest, type LocalAuthorityOptions, type MintedX509Svid, type X509SvidRequest,
} from '../../agent/ca/index.js';
import { TrustDomain, type X509Bundle } from '../../agent/spiffe/index.js';
import type { SvidAuthority } from '../../agent/svid/index.js';
import type { FakeClock } from './fake-clock.js';

/**
 * svid/'s SvidAuthority over a real LocalAuthority in a temporary state dir, on a FakeClock: the
 * certificates and tokens are real, rotation is the real one (`real.rotate()`, `real.maintain()`).
 * The fake adds what a test needs around it: call counts, failures on demand (`failWith`), and
 * announce(), a CA change the real authority did not make (a root pulled from the bundle early).
 */
export class FakeAuthority implements SvidAuthority {
  readonly real: LocalAuthority;
  readonly stateDir: string;
  x509Calls = 0;
  jwtCalls = 0;
  /** While set, every mint throws it (the real authority throws CaError). */
  failWith: Error | undefined;
  readonly #listeners = new Set<(change: CaChange) => void>();

  private constructor(real: LocalAuthority, stateDir: string) {
    this.real = real;
    this.stateDir = stateDir;
  }

  static async open(clock: FakeClock, options: Partial<LocalAuthorityOptions> = {}): Promise<FakeAuthority> {
    const stateDir = mkdtempSync(join(tmpdir(), 'tether-svid-'));
    const real = await LocalAuthority.open({ stateDir, trustDomain: TrustDomain.parse('example.org'), now: clock.now, ...options });
    return new FakeAuthority(real, stateDir);
  }

  mintX509Svid(request: X509SvidRequest): MintedX509Svid {
    this.x509Calls++;
    if (this.failWith !== undefined) throw this.failWith;
    return this.real.mintX509Svid(request);
  }

  async mintJwtSvid(request: JwtSvidRequest): Promise<{ readonly token: string; readonly expiresAt: Date }> {
    this.jwtCalls++;
    if (this.failWith !== undefined) throw this.failWith;
    return this.real.mintJwtSvid(request);
  }

  x509Bundle(): X509Bundle {
    return this.real.x509Bundle();
  }

  onChange(listener: (change: CaChange) => void): () => void {
    const unsubscribe = this.real.onChange(listener);
    this.#listeners.add(listener);
    return () => {
      unsubscribe();
      this.#listeners.delete(listener);
    };
  }

  /** Listeners subscribed now (the cache must unsubscribe on close). */
  get listeners(): number {
    return this.#listeners.size;
  }

  /** Tells the listeners of a change only they see: the real authority's state is untouched. */
  announce(change: Partial<CaChange>): void {
    const full: CaChange = {
      reason: 'retired', slots: [], x509Bundle: this.real.x509Bundle(), jwtBundle: this.real.jwtBundle(), ...change,
    };
    for (const listener of this.#listeners) listener(full);
  }

  async close(): Promise<void> {
    await this.real.close();
    rmSync(this.stateDir, { recursive: true, force: true });
  }
}
