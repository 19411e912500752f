import { describe, expect, it } from 'vitest';
import { CaError } from '../../../agent/ca/index.js';
import { requireSpiffeId } from '../../../agent/spiffe/index.js';
import { NOTIFY_SETTLE_MS, SvidError, X509SvidCache, type X509SvidCacheOptions } from '../../../agent/svid/index.js';
import { HOUR_MS, caught, entry, rotations, useWorld } from './harness.js';

const world = useWorld();
const CA_DOWN = new CaError('NO_ACTIVE_CA', 'no active X.509 CA is valid now; maintain() makes one');

function cache(options: Partial<X509SvidCacheOptions> = {}): { c: X509SvidCache; warnings: string[] } {
  const warnings: string[] = [];
  const log = { warn: (_: object, msg: string) => warnings.push(msg) };
  const c = new X509SvidCache({ authority: world.authority, clock: world.clock, timers: world.timers, random: () => 0.5, log, ...options });
  world.closers.push(() => c.close());
  return { c, warnings };
}

describe('X509SvidCache: when the CA cannot mint', () => {
  it('keeps serving the old SVID when a re-mint fails, and retries a few seconds later', () => {
    const { c, warnings } = cache();
    const calls = rotations(c);
    const old = c.get(entry());
    world.authority.failWith = CA_DOWN;
    world.timers.advance(HOUR_MS / 2 + 1000);
    expect(c.stats()).toMatchObject({ minted: 1, failures: 1 });
    world.timers.advance(10_000);
    expect(c.stats()).toMatchObject({ minted: 1, failures: 3 }); // a retry every 5 s
    expect(warnings).toEqual(['X509-SVID mint failed; will retry']); // once per streak
    expect(calls).toEqual([]); // nothing changed for the streams
    const calledBefore = world.authority.x509Calls;
    expect(c.get(entry()).serialHex).toBe(old.serialHex);
    expect(world.authority.x509Calls).toBe(calledBefore); // get() waits for the retry too

    world.authority.failWith = undefined;
    world.timers.advance(5000);
    expect(calls).toEqual([['e1']]);
    expect(c.get(entry()).serialHex).not.toBe(old.serialHex);
    expect(c.stats()).toMatchObject({ minted: 2, rotated: 1, failures: 3 });
  });

  it('drops the SVID when it expires before a retry succeeds, and tells the streams', () => {
    const { c, warnings } = cache();
    const calls = rotations(c);
    c.get(entry());
    world.authority.failWith = CA_DOWN;
    world.timers.advance(HOUR_MS); // retries every 5 s, the last one at expiry
    expect(calls).toEqual([['e1']]);
    expect(warnings).toEqual(['X509-SVID mint failed; will retry', 'an X509-SVID is gone and no new one could be minted']);
    const err = caught(() => c.get(entry()));
    expect(err).toBeInstanceOf(SvidError);
    expect(err).toMatchObject({ code: 'NO_SVID', cause: { code: 'MINT_FAILED', cause: CA_DOWN } });
  });

  it('a first mint that fails throws MINT_FAILED with the CA error, then NO_SVID until the retry is due', () => {
    const { c } = cache();
    world.authority.failWith = CA_DOWN;
    const first = caught(() => c.get(entry()));
    expect(first).toBeInstanceOf(SvidError);
    expect(first).toMatchObject({ code: 'MINT_FAILED', cause: CA_DOWN });
    expect(caught(() => c.get(entry()))).toMatchObject({ code: 'NO_SVID' });
    expect(world.authority.x509Calls).toBe(1);
    expect(world.timers.pending).toBe(0); // a failed entry is minted on demand only

    world.authority.failWith = undefined;
    world.clock.advance(5000);
    expect(c.get(entry()).spiffeId.toString()).toBe('spiffe://example.org/web');
    expect(world.authority.x509Calls).toBe(2);
  });

  it('serves the old SVID of the same ID while a changed entry cannot be minted, never one of another ID', () => {
    const { c } = cache();
    const old = c.get(entry());
    world.authority.failWith = CA_DOWN;
    expect(c.get(entry({ dnsNames: ['web.example.org'] })).serialHex).toBe(old.serialHex);
    const api = entry({ spiffeId: requireSpiffeId('spiffe://example.org/api') });
    expect(caught(() => c.get(api))).toMatchObject({ code: 'MINT_FAILED', cause: CA_DOWN });
  });

  it('tells the other listeners when one of them throws', () => {
    const { c, warnings } = cache();
    c.onRotate(() => {
      throw new Error('a broken stream');
    });
    const calls = rotations(c);
    c.get(entry());
    world.timers.advance(HOUR_MS / 2 + NOTIFY_SETTLE_MS);
    expect(calls).toEqual([['e1']]);
    expect(warnings).toContain('an SVID rotation listener threw');
  });
});
