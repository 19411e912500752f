import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { toJson } from '../../../agent/cli/output.js';
import { startAdminServer, tetherAdmin, type AdminHarness } from '../../support/admin-server.js';

let h: AdminHarness;

beforeEach(async () => {
  h = await startAdminServer();
});

afterEach(async () => {
  await h.close();
});

describe('tether ca show', () => {
  it('prints the trust domain, then the CAs and JWT keys as tables', async () => {
    const r = await tetherAdmin(h, 'ca', 'show');
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe('Trust domain: example.org');
    expect(lines[1]).toBe('Mode:         local (this agent\'s own root is its bundle)');
    expect(lines[3]).toBe('X.509 CAs:');
    expect(lines[4]).toMatch(/^ID\s+STATE\s+KEYTYPE\s+NOTAFTER\s+RETIREAT\s+ROOT\s+INTERMEDIATE$/);
    expect(lines[5]?.split(/\s+/)).toEqual(['aa01', 'retired', 'ec-p256', '2025-01-02T00:00:00.000Z', '-', '11:AB:CD:EF:01:23:45:67', '-']);
    expect(lines[7]?.split(/\s+/)).toEqual(['cc03', 'active', 'ec-p384', '2025-01-02T00:00:30.000Z', '-', '33:AB:CD:EF:01:23:45:67', '44:AB:CD:EF:01:23:45:67']);
    expect(lines[10]).toBe('JWT keys:');
    expect(lines[11]).toMatch(/^KID\s+STATE\s+ALG\s+NOTAFTER\s+RETIREAT$/);
    expect(lines[12]?.split(/\s+/)).toEqual(['k1', 'retiring', 'ES256', '2025-01-02T00:00:00.000Z', '2025-01-01T11:11:40.000Z']);
  });

  it('in upstream mode, names the shared root (subject, fingerprint, expiry) and the active intermediate\'s expiry', async () => {
    const upstream = { subject: 'CN=shared root', fingerprintSha256: 'AA:BB', serialHex: '01', notAfter: new Date('2030-01-01T00:00:00Z') };
    h.backend.ca = { ...h.backend.ca, mode: 'upstream', upstream };
    const r = await tetherAdmin(h, 'ca', 'show');
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines.slice(1, 6)).toEqual([
      'Mode:         upstream (the shared root is the bundle; this agent signs with its own intermediate)',
      'Upstream:     CN=shared root', '  sha256:     AA:BB', '  expires:    2030-01-01T00:00:00.000Z',
      'Intermediate: cc03, expires 2025-01-02T00:00:04.000Z',
    ]);
    const json = await tetherAdmin(h, 'ca', 'show', '-o', 'json');
    expect(JSON.parse(json.stdout)).toMatchObject({ mode: 'upstream', upstream: { subject: 'CN=shared root', notAfter: '2030-01-01T00:00:00.000Z' } });
  });

  it('prints the CA status as JSON with -o json, as ca/ makes it', async () => {
    const r = await tetherAdmin(h, 'ca', 'show', '-o', 'json');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`${toJson(h.backend.ca)}\n`);
  });
});

describe('tether ca rotate', () => {
  it('asks the agent to rotate and prints before -> after; no steps when stdout is not a terminal', async () => {
    const r = await tetherAdmin(h, 'ca', 'rotate');
    expect(r.code, r.stderr).toBe(0);
    expect(h.backend.rotations).toBe(1);
    expect(r.stdout).toBe('X.509 CA: cc03 -> ee05\nJWT key:  - -> k3\n');
    expect(r.stderr).toBe('');
  });

  it('prints the report as JSON with -o json', async () => {
    const r = await tetherAdmin(h, 'ca', 'rotate', '-o', 'json');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ x509: { previous: 'cc03', active: 'ee05' }, jwt: { active: 'k3' } });
  });

  it('exits 2 on bad arguments, without rotating', async () => {
    expect((await tetherAdmin(h, 'ca', 'rotate', '-o', 'yaml')).code).toBe(2);
    expect((await tetherAdmin(h, 'ca', 'rotate', 'now')).code).toBe(2);
    expect(h.backend.rotations).toBe(0);
  });
});
