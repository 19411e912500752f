import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from '../../../agent/registry/duration.js';
import { RegistryError } from '../../../agent/registry/errors.js';

describe('parseDuration', () => {
  it.each([
    ['1h', 3600], ['5m', 300], ['30s', 30], ['1h30m', 5400], ['2h0m5s', 7205], ['1m30s', 90], ['90', 90],
    ['0h1s', 1], [90, 90], [3600, 3600],
  ] as const)('reads %j as %d seconds', (input, seconds) => {
    expect(parseDuration(input)).toBe(seconds);
  });

  it.each([
    ['0', 'must be longer than zero'], ['0s', 'must be longer than zero'], ['0h0m', 'must be longer than zero'],
    [0, 'must be longer than zero'], [-5, 'must be longer than zero'], [1.5, 'whole number of seconds'],
    ['', 'is not a duration'], ['-5m', 'is not a duration'], ['1.5h', 'is not a duration'], ['1d', 'is not a duration'],
    ['30m1h', 'is not a duration'], ['1h1h', 'is not a duration'], ['h', 'is not a duration'], ['1 h', 'is not a duration'],
    [' 5m', 'is not a duration'], ['5ms', 'is not a duration'], ['1e3', 'is not a duration'],
    ['99999999999999999999', 'is too long'], [Number.MAX_SAFE_INTEGER + 1, 'is too long'],
  ] as const)('refuses %j', (input, message) => {
    let caught: unknown;
    try {
      parseDuration(input);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(RegistryError);
    expect((caught as RegistryError).code).toBe('BAD_DURATION');
    expect((caught as RegistryError).message).toContain(message);
    expect((caught as RegistryError).message).toContain(JSON.stringify(input));
  });
});

describe('formatDuration', () => {
  it.each([[3600, '1h'], [300, '5m'], [30, '30s'], [5400, '1h30m'], [90, '1m30s'], [7205, '2h5s'], [90061, '25h1m1s']])(
    'writes %d as %s, which reads back', (seconds, text) => {
      expect(formatDuration(seconds)).toBe(text);
      expect(parseDuration(text)).toBe(seconds);
    });
});
