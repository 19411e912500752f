import { describe, expect, it } from 'vitest';
import { ProfileError, formatProfile, parseProfile, type Profile } from '../../../agent/profile/index.js';
import { SpiffeId, TrustDomain } from '../../../agent/spiffe/index.js';

const GOOD = `id: spiffe://example.org/web
mode: monitor
learning:
  since: 2026-11-23T10:00:00.000Z
  until: 2026-11-24T10:00:00.000Z
executables:
  - path: /usr/bin/python3.11
    dev: "8:1"
    ino: 1234
destinations:
  - to: spiffe://example.org/db
    port: 6379
  - to: 10.1.0.0/16
    port: 443
listens: [8080, 80]
`;

function problemOf(text: string): ProfileError {
  try {
    parseProfile(text, 'web.yaml', TrustDomain.parse('example.org'));
  } catch (err) {
    if (err instanceof ProfileError) return err;
    throw err;
  }
  throw new Error('parsed');
}

describe('profile files', () => {
  it('reads a profile: kernel dev packing, destinations by identity or CIDR, ports sorted', () => {
    const p = parseProfile(GOOD, 'web.yaml');
    expect(p.id.toString()).toBe('spiffe://example.org/web');
    expect(p.mode).toBe('monitor');
    expect(p.executables).toEqual([{ path: '/usr/bin/python3.11', dev: (8 << 20) | 1, ino: 1234n }]);
    expect(p.destinations.map((d) => d.kind)).toEqual(['identity', 'cidr']);
    expect(p.listens).toEqual([80, 8080]);
    expect(p.learning.until?.toISOString()).toBe('2026-11-24T10:00:00.000Z');
  });

  it('writes what it reads back to the same profile', () => {
    const p = parseProfile(GOOD, 'web.yaml');
    const again: Profile = parseProfile(formatProfile(p), 'web.yaml');
    expect(formatProfile(again)).toBe(formatProfile(p));
    expect(again.executables).toEqual(p.executables);
    expect(formatProfile(p)).toMatch(/^# Behaviour profile of spiffe:\/\/example.org\/web/);
  });

  it.each([
    ['a mode that is not one', GOOD.replace('mode: monitor', 'mode: block'), 2, 'mode: expected "learn", "monitor" or "enforce", got string "block"'],
    ['a device without its minor', GOOD.replace('dev: "8:1"', 'dev: "8"'), 8, 'executables[0].dev: a device "major:minor"'],
    ['a destination that is neither ID nor CIDR', GOOD.replace('to: 10.1.0.0/16', 'to: db.local'), 13, 'destinations[1].to: a SPIFFE ID or a CIDR'],
    ['a port out of range', GOOD.replace('port: 443', 'port: 70000'), 14, 'destinations[1].port: a port is 1-65535'],
    ['an unknown key', `${GOOD}extra: 1\n`, 16, 'unknown key "extra"'],
    ['another trust domain', GOOD.replace('spiffe://example.org/web', 'spiffe://other.org/web'), 1, "not in this agent's trust domain example.org"],
    ['a learning window that ends before it begins', GOOD.replace('until: 2026-11-24', 'until: 2026-11-22'), 5, 'learning.until: before "since"'],
    ['broken YAML', GOOD.replace('listens: [8080, 80]', 'listens: [8080, 80'), 16, 'YAML:'],
  ])('refuses %s, naming the line and the reason', (_what, text, line, reason) => {
    const err = problemOf(text);
    expect(err.code).toBe('BAD_PROFILE');
    expect(err.line).toBe(line);
    expect(err.message).toContain(`web.yaml:${line}:`);
    expect(err.message).toContain(reason);
  });

  it('requires id, mode and learning', () => {
    const err = problemOf('executables: []\n');
    expect(err.message).toContain('id: required');
    expect(err.message).toContain('mode: required');
    expect(err.message).toContain('learning: required');
  });

  it('names every executable with a kernel-sized device only', () => {
    expect(problemOf(GOOD.replace('dev: "8:1"', 'dev: "5000:1"')).message).toContain('major ≤ 4095');
    expect(SpiffeId.parse('spiffe://example.org/web').path).toBe('/web');
  });
});
