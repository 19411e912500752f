import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startAdminServer, tetherAdmin, type AdminHarness } from '../../support/admin-server.js';

let h: AdminHarness;

beforeEach(async () => {
  h = await startAdminServer();
  h.backend.conns = [
    { since: '2025-01-01T12:00:00.000Z', role: 'client', local: '127.0.0.1:40000', peer: '127.0.0.1:5432', localId: 'spiffe://example.org/web', peerId: 'spiffe://example.org/db' },
    { since: '2025-01-01T12:00:00.000Z', role: 'server', local: '127.0.0.1:5432', peer: '127.0.0.1:40000', localId: 'spiffe://example.org/db', peerId: null },
  ];
});

afterEach(async () => {
  await h.close();
});

describe('tether conns', () => {
  it('prints the connections as a table, "-" for no identity', async () => {
    const r = await tetherAdmin(h, 'conns');
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^SINCE\s+ROLE\s+LOCAL\s+PEER\s+LOCALID\s+PEERID$/);
    expect(lines.slice(1).map((l) => l.split(/\s+/))).toEqual([
      ['2025-01-01T12:00:00.000Z', 'client', '127.0.0.1:40000', '127.0.0.1:5432', 'spiffe://example.org/web', 'spiffe://example.org/db'],
      ['2025-01-01T12:00:00.000Z', 'server', '127.0.0.1:5432', '127.0.0.1:40000', 'spiffe://example.org/db', '-'],
    ]);
  });

  it('prints them in JSON with -o json, nulls kept, and no tunnels without mesh', async () => {
    const r = await tetherAdmin(h, 'conns', '-o', 'json');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ connections: h.backend.conns, tunnels: [] });
    expect(r.stdout).not.toContain('tunnels:\n');
  });

  it('lists the mesh tunnels after the connections: both identities, the original address, mode, bytes and age', async () => {
    const since = new Date(Date.now() - 65_000).toISOString();
    h.backend.tunnelList = [{
      since, side: 'client', sourceId: 'spiffe://example.org/client', destId: 'spiffe://example.org/server', original: '10.0.0.2:8000',
      peer: '10.0.0.2:15008', mode: 'userspace', bytesToDestination: 78, bytesFromDestination: 4096,
    }];
    const table = await tetherAdmin(h, 'conns');
    const lines = table.stdout.trimEnd().split('\n');
    const at = lines.indexOf('tunnels:');
    expect(at).toBeGreaterThan(0);
    expect(lines[at + 1]).toMatch(/^SINCE\s+AGE\s+SIDE\s+SOURCEID\s+DESTID\s+ORIGINAL\s+PEER\s+MODE\s+TODESTINATION\s+FROMDESTINATION$/);
    expect(lines[at + 2]?.split(/\s+/)).toEqual([since, expect.stringMatching(/^6[56]s$/), 'client', 'spiffe://example.org/client',
      'spiffe://example.org/server', '10.0.0.2:8000', '10.0.0.2:15008', 'userspace', '78', '4096']);
    const json = JSON.parse((await tetherAdmin(h, 'conns', '-o', 'json')).stdout) as { tunnels: Array<Record<string, unknown>> };
    expect(json.tunnels).toEqual([{ ...h.backend.tunnelList[0], ageSeconds: expect.any(Number) }]);
  });

  it('refuses a bad --output with exit 2', async () => {
    const r = await tetherAdmin(h, 'conns', '-o', 'yaml');
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
  });

  it('says why when the agent fails (exit 1, one line)', async () => {
    h.backend.failNext = new Error('boom');
    const r = await tetherAdmin(h, 'conns');
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('tether: INTERNAL: the agent failed to answer: see its log (RPC_FAILED)\n');
  });
});
