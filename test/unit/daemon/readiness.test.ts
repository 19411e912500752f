import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { CaStatus, X509AuthorityStatus } from '../../../agent/ca/index.js';
import { AgentReadiness, caCheck, workloadCheck } from '../../../agent/daemon/readiness.js';

const NOW = new Date('2026-01-01T00:00:00Z');
const ca = (state: X509AuthorityStatus['state'], notAfter: Date): CaStatus =>
  ({ trustDomain: 'example.org', mode: 'local', upstream: undefined, jwt: [], x509: [{ id: 'c1', state, notAfter } as unknown as X509AuthorityStatus] });

describe('AgentReadiness', () => {
  it('is not ready while an expected check has not been handed in, and ready when every check is ok', () => {
    const r = new AgentReadiness(['ca', 'workload_api']);
    expect(r.report()).toEqual({ ready: false, checks: { ca: { ok: false, detail: 'starting' }, workload_api: { ok: false, detail: 'starting' } } });
    r.set('ca', () => ({ ok: true }));
    r.set('workload_api', () => ({ ok: true, detail: 'serving' }));
    expect(r.report()).toEqual({ ready: true, checks: { ca: { ok: true }, workload_api: { ok: true, detail: 'serving' } } });
  });

  it('includes groups of checks from elsewhere (the kernel\'s health) in one line; a throwing check or group fails by name', () => {
    const r = new AgentReadiness([]);
    let hooks = { ok: true };
    r.include(() => ({ proc_programs: { ok: true }, sock_hooks: hooks }));
    expect(r.report().ready).toBe(true);
    hooks = { ok: false, detail: 'link detached' } as typeof hooks;
    expect(r.report()).toEqual({ ready: false, checks: { proc_programs: { ok: true }, sock_hooks: { ok: false, detail: 'link detached' } } });
    r.set('ca', () => { throw new Error('closed'); });
    r.include(() => { throw new Error('gone'); });
    const report = r.report();
    expect(report.checks.ca).toEqual({ ok: false, detail: 'the check failed: closed' });
    expect(report.checks.group_1).toEqual({ ok: false, detail: 'the checks failed: gone' });
  });

  it('fails every check once the agent is stopping', () => {
    const r = new AgentReadiness(['ca']);
    r.set('ca', () => ({ ok: true }));
    r.stopping();
    expect(r.report()).toEqual({ ready: false, checks: { ca: { ok: false, detail: 'the agent is stopping' } } });
  });
});

describe('caCheck', () => {
  it('wants an active X509 CA that has not expired', () => {
    expect(caCheck(ca('active', new Date('2027-01-01T00:00:00Z')), NOW)).toEqual({ ok: true, detail: 'CA c1 active until 2027-01-01T00:00:00.000Z' });
    expect(caCheck(ca('active', NOW), NOW)).toMatchObject({ ok: false, detail: expect.stringContaining('expired') });
    expect(caCheck(ca('prepared', new Date('2027-01-01T00:00:00Z')), NOW)).toEqual({ ok: false, detail: 'no active X509 CA' });
  });
});

describe('workloadCheck', () => {
  it('wants the server serving and its socket file in place', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tether-ready-'));
    const socket = join(dir, 'agent.sock');
    const listener = createServer();
    await new Promise<void>((r) => listener.listen(socket, () => r()));
    try {
      expect(workloadCheck({ serving: true }, socket)).toEqual({ ok: true, detail: `serving on ${socket}` });
      expect(workloadCheck({ serving: false }, socket)).toEqual({ ok: false, detail: 'the Workload API server is not serving' });
      rmSync(socket);
      expect(workloadCheck({ serving: true }, socket)).toEqual({ ok: false, detail: `${socket}: ENOENT` });
      writeFileSync(socket, '');
      expect(workloadCheck({ serving: true }, socket)).toEqual({ ok: false, detail: `${socket} is not a socket` });
    } finally {
      listener.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
