import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startAdminServer, tetherAdmin, type AdminHarness } from '../../support/admin-server.js';

let h: AdminHarness;

beforeEach(async () => {
  h = await startAdminServer();
  h.backend.postures.set(4242, {
    pid: 4242,
    entries: [{ id: '0123456789abcdef', spiffeId: 'spiffe://example.org/web', checks: [
      { check: 'exeImmutable', ok: true, evidence: '/usr/bin/x is the exec\'d file' },
      { check: 'noNewPrivs', ok: false, evidence: 'NoNewPrivs is 0' },
    ] }],
  });
  h.backend.postures.set(7, { pid: 7, entries: [] });
});

afterEach(async () => {
  await h.close();
});

describe('tether posture', () => {
  it('prints every check of each matched entry with its verdict and evidence', async () => {
    const r = await tetherAdmin(h, 'posture', '4242');
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^SPIFFEID\s+CHECK\s+VERDICT\s+EVIDENCE$/);
    expect(lines[1]).toMatch(/^spiffe:\/\/example\.org\/web\s+exeImmutable\s+pass\s+\/usr\/bin\/x is the exec'd file$/);
    expect(lines[2]).toMatch(/^spiffe:\/\/example\.org\/web\s+noNewPrivs\s+FAIL\s+NoNewPrivs is 0$/);
    expect(lines).toHaveLength(3);
  });

  it('prints JSON with verdicts "pass" and "fail" with -o json', async () => {
    const r = await tetherAdmin(h, 'posture', '4242', '-o', 'json');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({
      pid: 4242,
      entries: [{ id: '0123456789abcdef', spiffeId: 'spiffe://example.org/web', checks: [
        { check: 'exeImmutable', verdict: 'pass', evidence: '/usr/bin/x is the exec\'d file' },
        { check: 'noNewPrivs', verdict: 'fail', evidence: 'NoNewPrivs is 0' },
      ] }],
    });
  });

  it('says so when no matched entry asks for posture, and exits 2 for an unknown pid or a non-number', async () => {
    const none = await tetherAdmin(h, 'posture', '7');
    expect(none.code).toBe(0);
    expect(none.stdout).toBe('Process 7 matches no entry that asks for posture checks.\n');
    const r = await tetherAdmin(h, 'posture', '99');
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('tether: pid: no process 99 in the process table\n');
    const bad = await tetherAdmin(h, 'posture', 'abc');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe('tether: "abc" is not a process id\n');
  });
});
