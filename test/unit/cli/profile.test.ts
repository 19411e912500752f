import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startAdminServer, tetherAdmin, type AdminHarness } from '../../support/admin-server.js';

const WEB = 'spiffe://example.org/web';
let h: AdminHarness;

beforeEach(async () => {
  h = await startAdminServer();
  h.backend.profiles.set(WEB, { spiffeId: WEB, mode: 'monitor', yaml: `id: ${WEB}\nmode: monitor\n` });
  h.backend.deviations.set(WEB, [
    { seq: 1, time: '2026-11-23T10:00:00.000Z', mode: 'monitor', kind: 'exec', what: 'exec /bin/sh (8:1 inode 200)', pid: 42, lineage: '42/python3 < 1/init', quarantined: null },
    { seq: 2, time: '2026-11-23T10:00:01.000Z', mode: 'enforce', kind: 'destination', what: 'connect to 10.0.0.9/32:22', pid: null, lineage: '', quarantined: 43 },
  ]);
  h.backend.quarantine = [{ pid: 43, startNs: 123n, spiffeId: WEB, reason: 'exec', since: '2026-11-23T10:00:02.000Z', comm: 'python3' }];
});

afterEach(async () => {
  await h.close();
});

describe('tether profile', () => {
  it('show prints the profile file as the agent has it; an identity without one is NOT_FOUND (exit 1)', async () => {
    const r = await tetherAdmin(h, 'profile', 'show', WEB);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`id: ${WEB}\nmode: monitor\n`);
    const missing = await tetherAdmin(h, 'profile', 'show', 'spiffe://example.org/other');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no profile for spiffe://example.org/other (NOT_FOUND)');
  });

  it('diff lists each deviation with its number, process and lineage ("-" for none)', async () => {
    const r = await tetherAdmin(h, 'profile', 'diff', WEB);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^SEQ\s+TIME\s+MODE\s+WHAT\s+PID\s+LINEAGE\s+QUARANTINED$/);
    expect(lines[1]).toContain('exec /bin/sh (8:1 inode 200)  42   42/python3 < 1/init  -');
    expect(JSON.parse((await tetherAdmin(h, 'profile', 'diff', WEB, '-o', 'json')).stdout)).toEqual(h.backend.deviations.get(WEB));
  });

  it('mode switches the identity, and refuses a mode that is not one with exit 2', async () => {
    const r = await tetherAdmin(h, 'profile', 'mode', WEB, 'enforce');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`${WEB}: enforce\n`);
    expect(h.backend.profiles.get(WEB)?.mode).toBe('enforce');
    const bad = await tetherAdmin(h, 'profile', 'mode', WEB, 'block');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('"block" is not learn, monitor or enforce');
  });

  it('accept adds a deviation by its number', async () => {
    const r = await tetherAdmin(h, 'profile', 'accept', WEB, '2');
    expect(r.code, r.stderr).toBe(0);
    expect(h.backend.accepted).toEqual([[WEB, 2]]);
    expect((await tetherAdmin(h, 'profile', 'accept', WEB, '9')).stderr).toContain('has no deviation 9');
    expect((await tetherAdmin(h, 'profile', 'accept', WEB, 'x')).code).toBe(2);
  });

  it('is refused clearly by an agent without a policy', async () => {
    h.backend.enforcing = false;
    const r = await tetherAdmin(h, 'profile', 'show', WEB);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('NOT_ENFORCING');
  });
});

describe('tether quarantine', () => {
  it('list shows each quarantined process with its identity and why', async () => {
    const r = await tetherAdmin(h, 'quarantine', 'list');
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^PID\s+COMM\s+SPIFFEID\s+REASON\s+SINCE$/);
    expect(lines[1]?.split(/\s+/)).toEqual(['43', 'python3', WEB, 'exec', '2026-11-23T10:00:02.000Z']);
    expect(JSON.parse((await tetherAdmin(h, 'quarantine', 'list', '-o', 'json')).stdout)).toEqual([{ ...h.backend.quarantine[0], startNs: '123' }]);
  });

  it('release ends one by pid; a pid not quarantined is NOT_FOUND', async () => {
    const r = await tetherAdmin(h, 'quarantine', 'release', '43');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`released 43 (python3, ${WEB})\n`);
    expect(h.backend.quarantine).toEqual([]);
    const again = await tetherAdmin(h, 'quarantine', 'release', '43');
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('NOT_FOUND');
  });
});
