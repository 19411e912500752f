import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startAdminServer, tetherAdmin, type AdminHarness } from '../../support/admin-server.js';

let h: AdminHarness;

beforeEach(async () => {
  h = await startAdminServer();
  h.backend.matches.set(4242, {
    pid: 4242, selectors: ['unix:uid:0', 'unix:path:/usr/bin/sleep'],
    entries: [
      { id: '0123456789abcdef', spiffeId: 'spiffe://example.org/sleeper', matched: true, missing: [], posture: [
        { check: 'noNewPrivs', ok: false, evidence: 'NoNewPrivs is 0' }, { check: 'seccomp', ok: true, evidence: 'Seccomp is 2 (filter), required filter' },
      ] },
      { id: 'fedcba9876543210', spiffeId: 'spiffe://example.org/user', matched: false, missing: ['unix:uid:1000', 'unix:gid:1000'], posture: [] },
      { id: '00000000000000aa', spiffeId: 'spiffe://example.org/good', matched: true, missing: [], posture: [{ check: 'seccomp', ok: true, evidence: 'Seccomp is 2 (filter), required filter' }] },
    ],
  });
});

afterEach(async () => {
  await h.close();
});

describe('tether entry match', () => {
  it('prints the selectors, then each entry\'s verdict and what it lacks', async () => {
    const r = await tetherAdmin(h, 'entry', 'match', '4242');
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines.slice(0, 4)).toEqual(['Process 4242 has the selectors:', '  unix:uid:0', '  unix:path:/usr/bin/sleep', '']);
    expect(lines[4]).toMatch(/^ID\s+SPIFFEID\s+MATCHED\s+MISSING\s+POSTURE$/);
    // posture: the failed checks with their evidence; "ok" when every check passed; "-" when none is asked for
    expect(lines[5]).toMatch(/^0123456789abcdef\s+spiffe:\/\/example\.org\/sleeper\s+yes\s+-\s+noNewPrivs: NoNewPrivs is 0$/);
    expect(lines[6]?.split(/\s+/)).toEqual(['fedcba9876543210', 'spiffe://example.org/user', 'no', 'unix:uid:1000,unix:gid:1000', '-']);
    expect(lines[7]?.split(/\s+/)).toEqual(['00000000000000aa', 'spiffe://example.org/good', 'yes', '-', 'ok']);
  });

  it('prints JSON with -o json', async () => {
    const r = await tetherAdmin(h, 'entry', 'match', '4242', '-o', 'json');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(h.backend.matches.get(4242));
  });

  it('exits 2 for a pid the agent does not track, and for one that is not a number', async () => {
    const r = await tetherAdmin(h, 'entry', 'match', '99');
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('tether: pid: no process 99 in the process table\n');
    const bad = await tetherAdmin(h, 'entry', 'match', 'abc');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe('tether: "abc" is not a process id\n');
  });
});
