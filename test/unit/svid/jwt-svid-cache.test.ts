import { describe, expect, it } from 'vitest';
import { CaError } from '../../../agent/ca/index.js';
import { JwtBundle, requireSpiffeId, verifyJwtSvid } from '../../../agent/spiffe/index.js';
import { JwtSvidCache, SvidError, type JwtSvidCacheOptions } from '../../../agent/svid/index.js';
import { entry, useWorld } from './harness.js';

const world = useWorld();
const CA_DOWN = new CaError('NO_ACTIVE_CA', 'no active JWT key is valid now; maintain() makes one');
const TTL_MS = 300_000; // the authority's default JWT-SVID TTL

function cache(options: Partial<JwtSvidCacheOptions> = {}): JwtSvidCache {
  const c = new JwtSvidCache({ authority: world.authority, clock: world.clock, ...options });
  world.closers.push(() => c.close());
  return c;
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(() => {
    throw new Error('expected a rejection');
  }, (err: unknown) => err);
}

describe('JwtSvidCache', () => {
  it('mints a real token on first demand and caches it', async () => {
    const c = cache();
    const first = await c.get(entry(), ['db']);
    const claims = await verifyJwtSvid(first.token, () => world.authority.real.jwtBundle(), { audience: 'db', now: world.clock.now() });
    expect(claims.id.toString()).toBe('spiffe://example.org/web');
    expect(first.expiresAt.getTime()).toBe(Math.floor((world.clock.now().getTime() + TTL_MS) / 1000) * 1000);
    expect(await c.get(entry(), ['db'])).toBe(first);
    expect(world.authority.jwtCalls).toBe(1);
    expect(c.stats()).toMatchObject({ entries: 1, minted: 1, hits: 1 });
  });

  it('shares one token between audience lists of the same set, in any order', async () => {
    const c = cache();
    const ab = await c.get(entry(), ['a', 'b']);
    expect(await c.get(entry(), ['b', 'a'])).toBe(ab);
    expect(await c.get(entry(), ['a', 'b', 'a'])).toBe(ab);
    expect(world.authority.jwtCalls).toBe(1);
    expect(await c.get(entry(), ['a'])).not.toBe(ab);
    expect(await c.get(entry({ id: 'e2' }), ['a', 'b'])).not.toBe(ab); // another entry, same ID: its own token
    expect(await c.get(entry({ spiffeId: requireSpiffeId('spiffe://example.org/api') }), ['a', 'b'])).not.toBe(ab);
    expect(world.authority.jwtCalls).toBe(4);
  });

  it('re-mints once less than half the life is left', async () => {
    const c = cache();
    const first = await c.get(entry(), ['db']);
    const halfLife = (first.expiresAt.getTime() - world.clock.now().getTime()) / 2;
    world.clock.advance(halfLife - 1);
    expect(await c.get(entry(), ['db'])).toBe(first);
    world.clock.advance(1);
    const second = await c.get(entry(), ['db']);
    expect(second.token).not.toBe(first.token);
    expect(world.authority.jwtCalls).toBe(2);
  });

  it('takes refreshFraction, and re-mints when the entry changes its TTL', async () => {
    const c = cache({ refreshFraction: 0.25 });
    const first = await c.get(entry(), ['db']);
    world.clock.advance(TTL_MS * 0.7);
    expect(await c.get(entry(), ['db'])).toBe(first);
    const longer = await c.get(entry({ jwtSvidTtlSeconds: 600 }), ['db']);
    expect(longer.expiresAt.getTime() - first.expiresAt.getTime()).toBeGreaterThan(TTL_MS);
  });

  it('shares one mint between concurrent gets', async () => {
    const c = cache();
    const [x, y] = await Promise.all([c.get(entry(), ['a', 'b']), c.get(entry(), ['b', 'a'])]);
    expect(x).toBe(y);
    expect(world.authority.jwtCalls).toBe(1);
  });

  it('evicts the least recently used beyond maxEntries', async () => {
    const c = cache({ maxEntries: 2 });
    await c.get(entry(), ['a']);
    await c.get(entry(), ['b']);
    await c.get(entry(), ['a']); // a is now the most recently used
    await c.get(entry(), ['c']); // evicts b
    expect(c.stats()).toMatchObject({ entries: 2, evicted: 1 });
    await c.get(entry(), ['a']);
    expect(world.authority.jwtCalls).toBe(3);
    await c.get(entry(), ['b']);
    expect(world.authority.jwtCalls).toBe(4);
  });

  it('retain() evicts the tokens of entries that are gone', async () => {
    const c = cache();
    await c.get(entry({ id: 'e1' }), ['a']);
    await c.get(entry({ id: 'e2' }), ['a']);
    c.retain(new Set(['e2']));
    expect(c.stats().entries).toBe(1);
    await c.get(entry({ id: 'e2' }), ['a']);
    expect(world.authority.jwtCalls).toBe(2);
  });

  it('drops tokens whose signing key left the JWT bundle', async () => {
    const c = cache();
    await c.get(entry(), ['a']);
    world.authority.announce({ jwtBundle: new JwtBundle(world.authority.real.trustDomain, new Map()) });
    await c.get(entry(), ['a']);
    expect(world.authority.jwtCalls).toBe(2);
  });

  it('serves the still-valid token when a re-mint fails, retrying after a few seconds', async () => {
    const c = cache();
    const first = await c.get(entry(), ['db']);
    world.authority.failWith = CA_DOWN;
    world.clock.advance(TTL_MS / 2 + 1000);
    expect(await c.get(entry(), ['db'])).toBe(first);
    expect(await c.get(entry(), ['db'])).toBe(first);
    expect(world.authority.jwtCalls).toBe(2); // one failed attempt, then the retry waits
    expect(c.stats().failures).toBe(1);
    world.authority.failWith = undefined;
    world.clock.advance(5000);
    expect((await c.get(entry(), ['db'])).token).not.toBe(first.token);
  });

  it('fails with MINT_FAILED (the CA error as cause) when there is no valid token', async () => {
    const c = cache();
    world.authority.failWith = CA_DOWN;
    const err = await rejection(c.get(entry(), ['db']));
    expect(err).toBeInstanceOf(SvidError);
    expect(err).toMatchObject({ code: 'MINT_FAILED', cause: CA_DOWN });
    expect(c.stats().entries).toBe(0);
    world.authority.failWith = undefined;
    await c.get(entry(), ['db']);
  });

  it.each([[[]], [['']], [['a', '']]])('refuses the audience %j', async (audience) => {
    expect(await rejection(cache().get(entry(), audience))).toMatchObject({ code: 'BAD_AUDIENCE' });
    expect(world.authority.jwtCalls).toBe(0);
  });

  it('refuses options out of range, and get() after close()', async () => {
    for (const bad of [{ maxEntries: 0 }, { maxEntries: 1.5 }, { refreshFraction: 0 }, { refreshFraction: 1 }]) {
      expect(() => cache(bad), JSON.stringify(bad)).toThrow(expect.objectContaining({ code: 'BAD_OPTION' }));
    }
    const c = cache();
    c.close();
    expect(world.authority.listeners).toBe(0);
    expect(await rejection(c.get(entry(), ['a']))).toMatchObject({ code: 'CLOSED' });
  });
});
