import { describe, expect, it } from 'vitest';
import { MIN_REFRESH_MS, refreshTime } from '../../../agent/svid/index.js';

const T0 = new Date('2026-11-23T00:00:00Z');
const at = (ms: number): Date => new Date(T0.getTime() + ms);
const HOUR = 3_600_000;

describe('refreshTime', () => {
  it.each([
    ['no jitter drawn (0.5): at half the life', 0.5, 0.1, 0.5, HOUR / 2],
    ['the lowest draw: 10% later', 0, 0.1, 0.5, HOUR - HOUR * 0.45],
    ['the highest draw: 10% sooner', 1, 0.1, 0.5, HOUR - HOUR * 0.55],
    ['a quarter left, without jitter', 0.9, 0, 0.25, HOUR * 0.75],
  ])('%s', (_, random, jitter, fraction, expected) => {
    expect(refreshTime(T0, at(HOUR), { fraction, jitter, random: () => random })).toEqual(at(expected));
  });

  it('stays within ±jitter of the fraction for any draw', () => {
    for (let i = 0; i <= 100; i++) {
      const t = refreshTime(T0, at(HOUR), { fraction: 0.5, jitter: 0.1, random: () => i / 100 }).getTime() - T0.getTime();
      expect(t).toBeGreaterThanOrEqual(HOUR * 0.45);
      expect(t).toBeLessThanOrEqual(HOUR * 0.55);
    }
  });

  it('waits at least MIN_REFRESH_MS, but never past expiry', () => {
    expect(refreshTime(T0, at(1500), { fraction: 0.5, jitter: 0, random: () => 0.5 })).toEqual(at(MIN_REFRESH_MS));
    expect(refreshTime(T0, at(400), { fraction: 0.5, jitter: 0, random: () => 0.5 })).toEqual(at(400));
  });
});
