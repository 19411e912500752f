import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { X509Bundle, requireSpiffeId } from '../../../agent/spiffe/index.js';
import { NOTIFY_SETTLE_MS, X509SvidCache, type CachedX509Svid, type X509SvidCacheOptions } from '../../../agent/svid/index.js';
import { HOUR_MS, caught, entry, rotations, useWorld, verifies as verifiesAt } from './harness.js';

const world = useWorld();

/** random 0.5: no jitter, so an SVID of 1 h refreshes at exactly 30 min. */
function cache(options: Partial<X509SvidCacheOptions> = {}): X509SvidCache {
  const c = new X509SvidCache({ authority: world.authority, clock: world.clock, timers: world.timers, random: () => 0.5, ...options });
  world.closers.push(() => c.close());
  return c;
}

const verifies = (svid: CachedX509Svid, bundle: X509Bundle): boolean => verifiesAt(svid, bundle, world.clock.now());

describe('X509SvidCache: minting and caching', () => {
  it('mints on first demand a real SVID of the entry, refreshing at half its life', () => {
    const c = cache();
    expect(world.authority.x509Calls).toBe(0); // nothing minted before it is asked for
    const svid = c.get(entry({ dnsNames: ['web.example.org'] }));
    expect(world.authority.x509Calls).toBe(1);
    expect(verifies(svid, c.x509Bundle())).toBe(true);
    expect(new X509Certificate(svid.chain[0] as Buffer).subjectAltName).toContain('DNS:web.example.org');
    expect(svid.notAfter.getTime()).toBe(world.clock.now().getTime() + HOUR_MS);
    expect(svid.refreshAt.getTime()).toBe(world.clock.now().getTime() + HOUR_MS / 2);
    expect(c.stats()).toEqual({ entries: 1, minted: 1, rotated: 0, failures: 0 });
  });

  it('serves the cached SVID until its refresh time', () => {
    const c = cache();
    const first = c.get(entry());
    world.clock.advance(HOUR_MS / 2 - 1);
    expect(c.get(entry()).serialHex).toBe(first.serialHex);
    expect(world.authority.x509Calls).toBe(1);
    world.clock.advance(1); // the timer has not run (nothing advanced it): get() sees the refresh time itself
    expect(c.get(entry()).serialHex).not.toBe(first.serialHex);
  });

  it('uses defaultTtlSeconds for an entry without its own TTL', () => {
    const svid = cache({ defaultTtlSeconds: 600 }).get(entry({ x509SvidTtlSeconds: undefined }));
    expect(svid.notAfter.getTime() - world.clock.now().getTime()).toBe(600_000);
  });

  it.each([
    ['its TTL', { x509SvidTtlSeconds: 600 }],
    ['its DNS names', { dnsNames: ['api.example.org'] }],
    ['its SPIFFE ID', { spiffeId: requireSpiffeId('spiffe://example.org/api') }],
  ])('re-mints when the entry changes %s, and tells the other streams', (_, change) => {
    const c = cache();
    const calls = rotations(c);
    const first = c.get(entry());
    const changed = entry(change);
    const second = c.get(changed);
    expect(second.serialHex).not.toBe(first.serialHex);
    expect(second.spiffeId.toString()).toBe(changed.spiffeId.toString());
    expect(c.get(changed).serialHex).toBe(second.serialHex);
    expect(c.stats().rotated).toBe(1);
    world.timers.advance(NOTIFY_SETTLE_MS);
    expect(calls).toEqual([['e1']]);
  });

  it('retain() evicts the SVIDs of entries that are gone', () => {
    const c = cache();
    c.get(entry({ id: 'e1' }));
    const kept = c.get(entry({ id: 'e2' }));
    c.retain(new Set(['e2']));
    expect(c.stats().entries).toBe(1);
    expect(c.get(entry({ id: 'e2' })).serialHex).toBe(kept.serialHex);
    c.get(entry({ id: 'e1' }));
    expect(world.authority.x509Calls).toBe(3);
  });

  it('refuses options out of range', () => {
    for (const bad of [{ refreshFraction: 0 }, { refreshFraction: 1 }, { jitter: -0.1 }, { jitter: 1 }, { defaultTtlSeconds: 1.5 }]) {
      expect(() => cache(bad), JSON.stringify(bad)).toThrow(expect.objectContaining({ code: 'BAD_OPTION' }));
    }
  });

  it('after close() refuses get(), holds no timer and no CA listener', () => {
    const c = cache();
    c.get(entry());
    c.close();
    expect(world.timers.pending).toBe(0);
    expect(world.authority.listeners).toBe(0);
    expect(caught(() => c.get(entry()))).toMatchObject({ code: 'CLOSED' });
  });
});

describe('X509SvidCache: rotation', () => {
  it('keeps one timer for all SVIDs, re-mints each at its refresh time and tells listeners once', () => {
    let draw = 0;
    const c = cache({ random: () => [0, 1][draw++ % 2] ?? 0 }); // e1: refresh late (-10%), e2: early (+10%)
    const calls = rotations(c);
    const e1 = c.get(entry({ id: 'e1' }));
    const e2 = c.get(entry({ id: 'e2' }));
    expect(world.timers.pending).toBe(1);
    expect(e1.refreshAt.getTime() - world.clock.now().getTime()).toBe(1_980_000); // 1 h - 0.5 * 0.9 h
    expect(e2.refreshAt.getTime() - world.clock.now().getTime()).toBe(1_620_000); // 1 h - 0.5 * 1.1 h
    expect(world.timers.nextAt()).toEqual(e2.refreshAt);

    world.timers.advance(e2.refreshAt.getTime() - world.clock.now().getTime() + 1000); // within 1 s of e2's refresh time
    expect(calls).toEqual([['e2']]);
    expect(c.get(entry({ id: 'e2' })).serialHex).not.toBe(e2.serialHex);
    expect(c.get(entry({ id: 'e1' })).serialHex).toBe(e1.serialHex);
    expect(world.authority.x509Calls).toBe(3);
    expect(world.timers.pending).toBe(1);

    world.timers.advance(e1.refreshAt.getTime() - world.clock.now().getTime() + 1000);
    expect(calls).toEqual([['e2'], ['e1']]);
    expect(c.stats()).toMatchObject({ minted: 4, rotated: 2 });
  });

  it('on a CA rotation tells listeners of every entry once, within 1 s, and keeps SVIDs the old CA signed', async () => {
    const c = cache();
    const calls = rotations(c);
    const e1 = c.get(entry({ id: 'e1' }));
    c.get(entry({ id: 'e2' }));
    await world.authority.real.rotate(); // prepare + activate, for X.509 and JWT: four commits
    world.timers.advance(1000);
    expect(calls).toEqual([['e1', 'e2']]);
    expect(c.x509Bundle().size).toBe(2);
    expect(c.get(entry({ id: 'e1' })).serialHex).toBe(e1.serialHex); // its CA is still published
    expect(verifies(c.get(entry({ id: 'e3' })), c.x509Bundle())).toBe(true); // minted by the new CA
  });

  it('re-mints an SVID whose CA was retired, with the new CA', async () => {
    const c = cache();
    const calls = rotations(c);
    const old = c.get(entry());
    await world.authority.real.rotate();
    world.timers.advance(NOTIFY_SETTLE_MS);
    world.clock.advance(HOUR_MS + 1000); // past the old CA's retire time; no timer has run
    const report = await world.authority.real.maintain();
    expect(report.retired.some((r) => r.kind === 'x509')).toBe(true);
    world.timers.advance(1000);
    expect(calls).toEqual([['e1'], ['e1']]);
    const fresh = c.get(entry());
    expect(fresh.serialHex).not.toBe(old.serialHex);
    expect(c.x509Bundle().size).toBe(1);
    expect(verifies(fresh, c.x509Bundle())).toBe(true);
  });

  it('re-mints at once, before its refresh time, an SVID whose root left the bundle', async () => {
    const c = cache();
    const calls = rotations(c);
    const [oldRoot] = c.x509Bundle().authorities();
    const old = c.get(entry());
    await world.authority.real.rotate();
    world.timers.advance(NOTIFY_SETTLE_MS);
    const bundle = world.authority.real.x509Bundle();
    const newRoots = bundle.authorities().filter((der) => !der.equals(oldRoot as Buffer));
    world.authority.announce({ x509Bundle: new X509Bundle(bundle.trustDomain, newRoots) }); // e.g. a tainted CA
    world.timers.advance(NOTIFY_SETTLE_MS);
    expect(calls).toEqual([['e1'], ['e1']]);
    const fresh = c.get(entry());
    expect(fresh.serialHex).not.toBe(old.serialHex);
    expect(fresh.refreshAt > old.refreshAt).toBe(true); // minted now: well before the old one's refresh time
    expect(verifies(fresh, c.x509Bundle())).toBe(true);
    expect(verifies(old, c.x509Bundle())).toBe(false);
  });
});
