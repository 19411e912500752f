import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startAdminServer, tetherAdmin, type AdminHarness } from '../../support/admin-server.js';

let h: AdminHarness;

beforeEach(async () => {
  h = await startAdminServer();
});

afterEach(async () => {
  await h.close();
});

describe('tether ps', () => {
  it('prints the agent\'s processes as a table, container ids cut to 12, "-" for none', async () => {
    const r = await tetherAdmin(h, 'ps');
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^PID\s+PPID\s+UID\s+GID\s+STARTTIME\s+COMM\s+EXE\s+CGROUP\s+CONTAINERID\s+PODUID$/);
    expect(lines[1]?.split(/\s+/)).toEqual(['1', '0', '0', '0', '2025-01-01T00:00:00.010Z', 'kthreadd', '-', '-', '-', '-']);
    expect(lines[2]?.split(/\s+/)).toEqual(['4242', '1', '1000', '1000', '2025-01-01T12:00:00.000Z', 'nginx', '/usr/sbin/nginx',
      '/kubepods/pod1234/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef', '0123456789ab', '1234']);
  });

  it('prints JSON with -o json: startNs as a decimal string, nulls kept', async () => {
    const r = await tetherAdmin(h, 'ps', '-o', 'json');
    expect(r.code, r.stderr).toBe(0);
    const rows = JSON.parse(r.stdout) as Array<Record<string, unknown>>;
    expect(rows[1]).toEqual({
      pid: 4242, ppid: 1, startTime: '2025-01-01T12:00:00.000Z', startNs: '18446744073709551615', uid: 1000, gid: 1000, comm: 'nginx',
      exe: '/usr/sbin/nginx', cgroup: '/kubepods/pod1234/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef',
      containerId: '0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef', podUid: '1234',
    });
    expect(rows[0]).toMatchObject({ exe: null, containerId: null });
  });

  it('exits 2 on a bad --output, 1 when the agent fails', async () => {
    expect((await tetherAdmin(h, 'ps', '-o', 'yaml')).code).toBe(2);
    h.backend.failNext = new Error('boom');
    const r = await tetherAdmin(h, 'ps');
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('tether: INTERNAL: the agent failed to answer: see its log (RPC_FAILED)\n');
  });
});
