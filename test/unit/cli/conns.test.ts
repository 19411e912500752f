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

  it('prints them as a JSON array with -o json, nulls kept', async () => {
    const r = await tetherAdmin(h, 'conns', '-o', 'json');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(h.backend.conns);
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
