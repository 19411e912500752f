import { afterEach, beforeEach } from 'vitest';
import { requireSpiffeId, verifyX509Svid, type X509Bundle } from '../../../agent/spiffe/index.js';
import type { CachedX509Svid, SvidEntry } from '../../../agent/svid/index.js';
import { FakeAuthority } from '../../fakes/fake-authority.js';
import { FakeClock } from '../../fakes/fake-clock.js';
import { FakeTimers } from '../../fakes/fake-timers.js';

export const WEB = requireSpiffeId('spiffe://example.org/web');
export const HOUR_MS = 3_600_000;

/** A fake clock, fake timers and a real CA on them, new for each test; `closers` run after it. */
export interface World {
  readonly clock: FakeClock;
  readonly timers: FakeTimers;
  readonly authority: FakeAuthority;
  readonly closers: Array<() => void>;
}

/** Registers the hooks; read the returned object's fields inside tests only. */
export function useWorld(): World {
  const world = {} as { clock: FakeClock; timers: FakeTimers; authority: FakeAuthority; closers: Array<() => void> };
  beforeEach(async () => {
    world.clock = new FakeClock(new Date());
    world.timers = new FakeTimers(world.clock);
    world.authority = await FakeAuthority.open(world.clock);
    world.closers = [];
  });
  afterEach(async () => {
    for (const close of world.closers.splice(0)) close();
    await world.authority.close();
  });
  return world;
}

export function entry(fields: Partial<SvidEntry> = {}): SvidEntry {
  return { id: 'e1', spiffeId: WEB, x509SvidTtlSeconds: 3600, jwtSvidTtlSeconds: undefined, dnsNames: [], ...fields };
}

/** Every onRotate call, in order, each as sorted ids. */
export function rotations(cache: { onRotate(listener: (ids: ReadonlySet<string>) => void): () => void }): string[][] {
  const calls: string[][] = [];
  cache.onRotate((ids) => calls.push([...ids].sort()));
  return calls;
}

export function verifies(svid: CachedX509Svid, bundle: X509Bundle, now: Date): boolean {
  try {
    return verifyX509Svid(svid.chain, () => bundle, { now }).id.equals(svid.spiffeId);
  } catch {
    return false;
  }
}

/** The error `fn` throws (fails the test when it throws nothing). */
export function caught(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}
