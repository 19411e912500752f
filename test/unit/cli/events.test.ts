import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { eventLine } from '../../../agent/cli/commands/events.js';
import { policyEvent } from '../../fakes/fake-admin-backend.js';
import { startAdminServer, tetherAdmin, runCli, type AdminHarness } from '../../support/admin-server.js';
import { waitFor } from '../../support/wait.js';

let h: AdminHarness;

beforeEach(async () => {
  h = await startAdminServer();
  h.backend.publish(policyEvent(1));
  h.backend.publish(policyEvent(2, { verdict: 'audit', mode: 'audit', from: null, to: null, destination: '[::1]:443', comm: 'python3' }));
});

afterEach(async () => {
  await h.close();
});

describe('tether events', () => {
  it('prints the recent events as a table, oldest first, "-" for no identity', async () => {
    const r = await tetherAdmin(h, 'events');
    expect(r.code, r.stderr).toBe(0);
    const [header, first, second, ...rest] = r.stdout.trimEnd().split('\n');
    expect(header).toMatch(/^TIME\s+KIND\s+VERDICT\s+MODE\s+FROM\s+TO\s+DESTINATION\s+PID\/COMM\s+REASON$/);
    expect(first?.split(/\s+/)).toEqual(['2025-01-01T12:00:01.000Z', 'connect', 'deny', 'enforce', 'spiffe://example.org/web', 'spiffe://example.org/db', '127.0.0.1:5432', '1001/curl']);
    expect(second?.split(/\s+/)).toEqual(['2025-01-01T12:00:02.000Z', 'connect', 'audit', 'audit', '-', '-', '[::1]:443', '1002/python3']);
    expect(rest).toEqual([]);
    expect(h.backend.limits).toEqual([100]);
  });

  it('prints one JSON object per line with -o json, and asks for --limit events', async () => {
    const r = await tetherAdmin(h, 'events', '-o', 'json', '--limit', '1');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as unknown)).toEqual([h.backend.events[1]]);
    expect(h.backend.limits).toEqual([1]);
  });

  it('with --follow prints each new event as it comes, until the agent stops (exit 1, one line)', async () => {
    const running = tetherAdmin(h, 'events', '--follow', '-o', 'json');
    await waitFor('the follow subscription', () => h.backend.subscribers === 1);
    h.backend.publish(policyEvent(3));
    await h.server.close(1000);
    const r = await running;
    expect(r.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as unknown)).toEqual(h.backend.events);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('tether: the agent is stopping (UNAVAILABLE)\n');
  });

  it('with --follow in a table prints a line per event', async () => {
    const running = tetherAdmin(h, 'events', '-f');
    await waitFor('the follow subscription', () => h.backend.subscribers === 1);
    await h.server.close(1000);
    const r = await running;
    expect(r.stdout.trimEnd().split('\n')).toEqual(h.backend.events.map(eventLine));
    expect(eventLine(h.backend.events[1]!)).toBe('2025-01-01T12:00:02.000Z  connect  audit  audit    - -> -  [::1]:443  1002/python3');
  });

  it('shows a tunnel refusal and a direct inbound connection with their kind and reason, in the table and in JSON', async () => {
    const tunnel = policyEvent(3, { kind: 'tunnel', pid: 0, comm: '', to: 'spiffe://example.org/server', destination: '10.0.0.2:8000', reason: 'DENIED: no rule' });
    const inbound = policyEvent(4, { kind: 'inbound', verdict: 'audit', pid: 0, comm: '', from: null, destination: '10.0.0.2:8000', source: '10.0.0.1:40000', reason: 'UNAUTHENTICATED: direct' });
    h.backend.publish(tunnel);
    h.backend.publish(inbound);
    const table = await tetherAdmin(h, 'events');
    const rows = table.stdout.trimEnd().split('\n').slice(-2).map((l) => l.split(/\s{2,}/));
    expect(rows[0]).toEqual(['2025-01-01T12:00:03.000Z', 'tunnel', 'deny', 'enforce', 'spiffe://example.org/web', 'spiffe://example.org/server', '10.0.0.2:8000', '0/', 'DENIED: no rule']);
    expect(rows[1]?.[1]).toBe('inbound');
    expect(rows[1]?.at(-1)).toBe('UNAUTHENTICATED: direct');
    const json = await tetherAdmin(h, 'events', '-o', 'json', '--limit', '2');
    expect(json.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as unknown)).toEqual([tunnel, inbound]);
    expect(eventLine(inbound)).toContain('10.0.0.1:40000 -> spiffe://example.org/db');
  });

  it.each([
    [['--limit', '0'], '--limit must be 1-10000: got 0'],
    [['--limit', 'ten'], '--limit must be 1-10000: got ten'],
    [['--limit', '10001'], '--limit must be 1-10000: got 10001'],
    [['--output', 'yaml'], 'Allowed choices are table, json'],
    [['--frobnicate'], "unknown option '--frobnicate'"],
  ])('refuses %j with exit 2 before asking the agent', async (args, message) => {
    const r = await tetherAdmin(h, 'events', ...args);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(message);
    expect(r.stdout).toBe('');
    expect(h.backend.limits).toEqual([]);
  });

  it('exits 1 with what to check when no agent listens on the socket', async () => {
    const missing = `${h.dir}/nowhere/admin.sock`;
    const r = await runCli(['events', '--admin-socket', missing]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`tether: cannot reach the agent's admin socket ${missing}: ENOENT (is \`tether agent run\` running?) (UNREACHABLE)\n`);
  });
});
