import { describe, expect, it } from 'vitest';
import { planMaintenance, retireAt, rotationTimes, type Lifecycle, type Slot } from '../../../agent/ca/lifecycle.js';

const T0 = Date.parse('2026-11-23T00:00:00Z');
const at = (seconds: number): Date => new Date(T0 + seconds * 1000);

function slot(id: string, lifecycle: Lifecycle, notBefore = 0, notAfter = 6000): Slot {
  return { id, keyType: 'ec-p256', notBefore: at(notBefore), notAfter: at(notAfter), lifecycle };
}

const active = (id: string, nb = 0, na = 6000): Slot =>
  slot(id, { state: 'active', preparedAt: at(nb), activatedAt: at(nb), maxIssuedTtlSeconds: 600 }, nb, na);

describe('rotationTimes', () => {
  it('prepares at 1/2 and activates at 5/6 of the active slot\'s life', () => {
    expect(rotationTimes(active('a'))).toEqual({ prepareAt: at(3000), activateAt: at(5000) });
  });
});

describe('retireAt', () => {
  it('is the last activity plus the longest TTL issued, capped at notAfter', () => {
    const retiring = (activeUntil: number, ttl: number): Slot => slot('a', {
      state: 'retiring', preparedAt: at(0), activatedAt: at(0), activeUntil: at(activeUntil), maxIssuedTtlSeconds: ttl,
    });
    expect(retireAt(retiring(5000, 600))).toEqual(at(5600));
    expect(retireAt(retiring(5000, 3600))).toEqual(at(6000)); // no SVID outlives its CA
    expect(retireAt(retiring(5000, 0))).toEqual(at(5000));
    expect(retireAt(active('a'))).toBeUndefined();
  });
});

describe('planMaintenance', () => {
  const prepared = slot('b', { state: 'prepared', preparedAt: at(3000) }, 3000, 9000);

  it.each([
    ['before half-life: nothing', [active('a')], 2999, { prepare: false, activate: false, retire: [] }],
    ['at half-life: prepare', [active('a')], 3000, { prepare: true, activate: false, retire: [] }],
    ['prepared already: wait', [active('a'), prepared], 4000, { prepare: false, activate: false, retire: [] }],
    ['at 5/6: activate', [active('a'), prepared], 5000, { prepare: false, activate: true, retire: [] }],
    ['at 5/6 with nothing prepared: both', [active('a')], 5000, { prepare: true, activate: true, retire: [] }],
    ['active expired: both at once', [active('a')], 6000, { prepare: true, activate: true, retire: [] }],
    ['no active at all: both', [], 0, { prepare: true, activate: true, retire: [] }],
    ['a prepared slot that expired unused: retire it', [active('a', 6000, 12000), prepared], 9000,
      { prepare: true, activate: false, retire: ['b'] }],
  ] as const)('%s', (_name, slots, seconds, plan) => {
    expect(planMaintenance(slots, at(seconds))).toEqual(plan);
  });
});
