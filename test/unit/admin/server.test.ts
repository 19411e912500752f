import { lstatSync, readdirSync, writeFileSync } from 'node:fs';
import { link, unlink } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ADMIN_SOCKET_MODE, AdminClient, AdminError, AdminServer, INTERNAL_DETAILS, MAX_POLICY_BYTES, type PolicyEvent,
} from '../../../agent/admin/index.js';
import { policyEvent } from '../../fakes/fake-admin-backend.js';
import { startAdminServer, type AdminHarness } from '../../support/admin-server.js';
import { RecordingLog } from '../../support/workload-server.js';
import { waitFor } from '../../support/wait.js';

let h: AdminHarness;

beforeEach(async () => {
  h = await startAdminServer();
});

afterEach(async () => {
  await h.close();
});

/** A rejection's AdminError, to check its code, status and message. */
async function failure(p: Promise<unknown>): Promise<AdminError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(AdminError);
  return err as AdminError;
}

async function collect(events: AsyncIterable<PolicyEvent>): Promise<PolicyEvent[]> {
  const out: PolicyEvent[] = [];
  for await (const e of events) out.push(e);
  return out;
}

/** Follows events into `received` until stopped; `ended` settles with the iteration ('ok' or the error). */
function follow(client: AdminClient, limit?: number): { received: PolicyEvent[]; ended: Promise<unknown>; stop(): void } {
  const controller = new AbortController();
  const received: PolicyEvent[] = [];
  const ended = (async () => {
    for await (const e of client.events({ follow: true, signal: controller.signal, ...(limit === undefined ? {} : { limit }) })) received.push(e);
    return 'ok';
  })().catch((e: unknown) => e);
  return { received, ended, stop: () => controller.abort() };
}

describe('unary methods round-trip backend values', () => {
  it('Connections: roles, ids and nulls', async () => {
    h.backend.conns = [
      { since: '2025-01-01T12:00:00.000Z', role: 'client', local: '127.0.0.1:40000', peer: '127.0.0.1:5432', localId: 'spiffe://example.org/web', peerId: 'spiffe://example.org/db' },
      { since: '2025-01-01T12:00:01.000Z', role: 'server', local: '[::1]:443', peer: '[::1]:50000', localId: null, peerId: null },
    ];
    expect(await h.client().connections()).toEqual(h.backend.conns);
    h.backend.conns = [];
    expect(await h.client().connections()).toEqual([]);
  });

  it('Connections carries the mesh tunnels of both ends, bytes beyond 32 bits included', async () => {
    h.backend.tunnelList = [
      { since: '2025-01-01T12:00:00.000Z', side: 'client', sourceId: 'spiffe://example.org/a', destId: 'spiffe://example.org/b', original: '10.0.0.2:8000',
        peer: '10.0.0.2:15008', mode: 'userspace', bytesToDestination: 5_000_000_000, bytesFromDestination: 0 },
      { since: '2025-01-01T12:00:01.000Z', side: 'server', sourceId: 'spiffe://example.org/a', destId: 'spiffe://example.org/b', original: '[fd00::2]:8000',
        peer: '[fd00::1]:40100', mode: 'ktls', bytesToDestination: 1, bytesFromDestination: 2 },
    ];
    expect(await h.client().connectionsAndTunnels()).toEqual({ connections: [], tunnels: h.backend.tunnelList });
  });

  it('CheckPolicy: the request reaches the backend; the decision comes back with its line, or without one', async () => {
    const client = h.client();
    const request = { from: 'spiffe://example.org/web', to: 'spiffe://example.org/db', port: 5432 };
    expect(await client.checkPolicy(request)).toEqual(h.backend.decision);
    expect(h.backend.checks).toEqual([request]);
    h.backend.decision = { verdict: 'deny', mode: 'audit', reason: 'no rule allows web to reach 10.0.0.1:443' };
    const denied = await client.checkPolicy({ from: 'spiffe://example.org/web', to: '10.0.0.1', port: 443 });
    expect(denied).toEqual(h.backend.decision);
    expect('line' in denied).toBe(false);
    h.backend.decision = { verdict: 'audit', mode: 'audit', reason: 'line 0 is still a line', line: 0 };
    expect(await client.checkPolicy({ from: 'spiffe://example.org/web', to: '::1', port: 1 })).toEqual(h.backend.decision);
  });

  it('ApplyPolicy: the text reaches the backend whole; what is in force comes back', async () => {
    const yaml = 'mode: enforce\nrules:\n  - from: spiffe://example.org/web\n    to: spiffe://example.org/db\n    ports: [5432]\n';
    expect(await h.client().applyPolicy(yaml)).toEqual(h.backend.applied);
    expect(h.backend.applies).toEqual([yaml]);
  });

  it('SuggestPolicy and UnusedRules', async () => {
    h.backend.unused = [{ line: 7, from: 'spiffe://example.org/*', to: '10.0.0.0/8', ports: '8000-8080,9090' }];
    expect(await h.client().suggestPolicy()).toBe(h.backend.suggestion);
    expect(await h.client().unusedRules()).toEqual(h.backend.unused);
  });
});

describe('Events', () => {
  it('sends the recent events oldest first: 100 by default, at most the limit asked', async () => {
    for (let n = 0; n < 5; n++) h.backend.publish(policyEvent(n, n === 4 ? { verdict: 'audit', mode: 'audit', from: null, to: null } : {}));
    const client = h.client();
    expect(await collect(client.events())).toEqual(h.backend.events);
    expect(await collect(client.events({ limit: 2 }))).toEqual(h.backend.events.slice(3));
    expect(h.backend.limits).toEqual([100, 2]);
  });

  it('with follow, sends the recent ones, then each event published after, until the client stops', async () => {
    h.backend.publish(policyEvent(0));
    const f = follow(h.client());
    await waitFor('the recent event', () => f.received.length === 1);
    expect(h.backend.subscribers).toBe(1);
    h.backend.publish(policyEvent(1));
    h.backend.publish(policyEvent(2, { verdict: 'audit', mode: 'audit' }));
    await waitFor('the published events', () => f.received.length === 3);
    expect(f.received).toEqual(h.backend.events);
    f.stop();
    expect(await f.ended).toBe('ok');
    await waitFor('the server to unsubscribe', () => h.backend.subscribers === 0);
    expect(h.server.streams).toBe(0);
  });

  it('ends when the consumer breaks out of the loop, and the server unsubscribes', async () => {
    h.backend.publish(policyEvent(0));
    h.backend.publish(policyEvent(1));
    const seen: PolicyEvent[] = [];
    for await (const e of h.client().events({ follow: true })) {
      seen.push(e);
      if (seen.length === 2) break;
    }
    expect(seen).toEqual(h.backend.events);
    await waitFor('the server to unsubscribe', () => h.backend.subscribers === 0);
  });

  it('ends UNAVAILABLE when the server closes, after every event sent before, even to a slow reader', async () => {
    const received: PolicyEvent[] = [];
    const ended = (async () => {
      for await (const e of h.client().events({ follow: true })) {
        received.push(e);
        if (received.length % 50 === 0) await new Promise((r) => setTimeout(r, 5));
      }
      return 'ok';
    })().catch((e: unknown) => e);
    await waitFor('the subscription', () => h.backend.subscribers === 1);
    for (let n = 0; n < 500; n++) h.backend.publish(policyEvent(n % 60));
    await h.server.close(1000);
    const err = await ended;
    expect(err).toBeInstanceOf(AdminError);
    expect(err).toMatchObject({ code: 'UNAVAILABLE', message: 'the agent is stopping' });
    expect(received).toEqual(h.backend.events);
    expect(h.backend.subscribers).toBe(0);
  });

  it('ends a stream whose client stops reading (FELL_BEHIND), and keeps up with one that reads', async () => {
    await h.close();
    h = await startAdminServer({ maxBacklog: 1000 });
    h.backend.publish(policyEvent(0));
    // A client that takes the first event and then no more: its stream stays paused, grpc-js
    // stops asking for messages, HTTP/2 flow control fills, the server's writes back up.
    const stalled = h.client().events({ follow: true })[Symbol.asyncIterator]();
    expect((await stalled.next()).value).toEqual(policyEvent(0));
    const reader = follow(h.client());
    await waitFor('both subscriptions', () => h.backend.subscribers === 2);
    let n = 1;
    while (h.backend.subscribers === 2 && n < 100_000) {
      // A steady rate (a few thousand a second) that the reading client keeps up with.
      for (let i = 0; i < 10; i++) h.backend.publish(policyEvent(n++ % 60));
      await new Promise((r) => setTimeout(r, 2));
    }
    expect(h.backend.subscribers).toBe(1);
    const err = await (async () => {
      for (;;) if ((await stalled.next()).done) return undefined;
    })().catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'FELL_BEHIND', status: 'RESOURCE_EXHAUSTED' });
    await waitFor('the reader to have every event', () => reader.received.length === n);
    reader.stop();
    expect(await reader.ended).toBe('ok');
  }, 30_000);

  it('ends with the backend\'s error before any event', async () => {
    h.backend.failNext = new AdminError('UNAVAILABLE', 'the event ring is not open yet');
    const err = await failure(collect(h.client().events()));
    expect(err).toMatchObject({ code: 'UNAVAILABLE', message: 'the event ring is not open yet' });
  });
});

describe('errors: AdminError codes become statuses, and the client gets the code back', () => {
  it.each([
    ['BAD_POLICY', 'INVALID_ARGUMENT', 'policy.yaml:3:7: rules[0].ports: expected a port or a range'],
    ['NOT_ENFORCING', 'FAILED_PRECONDITION', 'the agent enforces no policy: it was started without --policy'],
    ['UNAVAILABLE', 'UNAVAILABLE', 'the policy switch is busy'],
  ] as const)('%s → %s with its message', async (code, statusName, message) => {
    if (code === 'BAD_POLICY') h.backend.rejectPolicy = message;
    else h.backend.failNext = new AdminError(code, message);
    const err = await failure(h.client().applyPolicy('mode: enforce\n'));
    expect(err).toMatchObject({ code, status: statusName, message, details: message });
  });

  it('NOT_ENFORCING from every policy method of an agent without --policy', async () => {
    h.backend.enforcing = false;
    const client = h.client();
    for (const call of [client.checkPolicy({ from: 'spiffe://a.org/x', to: 'spiffe://a.org/y', port: 1 }), client.applyPolicy('x: 1'), client.unusedRules()]) {
      expect((await failure(call)).code).toBe('NOT_ENFORCING');
    }
  });

  it('any other error is INTERNAL with a fixed text, logged with the real one', async () => {
    h.backend.failNext = new Error('ENOENT: /var/lib/tether/secret');
    const err = await failure(h.client().connections());
    expect(err).toMatchObject({ code: 'RPC_FAILED', status: 'INTERNAL', details: INTERNAL_DETAILS });
    expect(err.message).not.toContain('secret');
    expect(h.log.lines.some((l) => l.level === 'error' && String((l.obj as { err?: Error }).err?.message).includes('secret'))).toBe(true);
    h.backend.failNext = new AdminError('SOCKET_SETUP', 'a client-side code thrown by a backend');
    expect(await failure(h.client().suggestPolicy())).toMatchObject({ code: 'RPC_FAILED', status: 'INTERNAL' });
  });
});

describe('requests are checked before the backend sees them', () => {
  const from = 'spiffe://example.org/web';
  it.each([
    ['from empty', { from: '', to: 'spiffe://example.org/db', port: 5432 }, 'from must be given'],
    ['from not a SPIFFE ID', { from: 'web', to: 'spiffe://example.org/db', port: 5432 }, 'from must be a SPIFFE ID'],
    ['to empty', { from, to: '', port: 5432 }, 'to must be given'],
    ['to neither ID nor IP', { from, to: 'db.example.org', port: 5432 }, 'to must be a SPIFFE ID or an IP address'],
    ['to a broken SPIFFE ID', { from, to: 'spiffe://example.org/db/', port: 5432 }, 'to must be a SPIFFE ID'],
    ['port 0', { from, to: '10.0.0.1', port: 0 }, 'port must be 1-65535: got 0'],
    ['port 65536', { from, to: '10.0.0.1', port: 65536 }, 'port must be 1-65535: got 65536'],
  ])('CheckPolicy refuses %s', async (_name, request, message) => {
    const err = await failure(h.client().checkPolicy(request));
    expect(err).toMatchObject({ code: 'BAD_REQUEST', status: 'INVALID_ARGUMENT' });
    expect(err.message).toContain(message);
    expect(h.backend.checks).toEqual([]);
  });

  it('ApplyPolicy refuses an empty policy and one over 1 MiB, naming yaml', async () => {
    expect((await failure(h.client().applyPolicy('  \n'))).message).toContain('yaml must be given');
    const big = `# ${'x'.repeat(MAX_POLICY_BYTES)}\n`;
    const err = await failure(h.client().applyPolicy(big));
    expect(err).toMatchObject({ code: 'BAD_REQUEST', message: `yaml is ${big.length} bytes: a policy may be at most ${MAX_POLICY_BYTES}` });
    expect(h.backend.applies).toEqual([]);
  });

  it('Events refuses a limit over 10000, naming limit', async () => {
    const err = await failure(collect(h.client().events({ limit: 10_001 })));
    expect(err).toMatchObject({ code: 'BAD_REQUEST', message: 'limit must be at most 10000: got 10001' });
    expect(h.backend.limits).toEqual([]);
  });
});

describe('the socket', () => {
  it('is mode 0600, and nothing of its making is left beside it', () => {
    const st = lstatSync(h.socketPath);
    expect(st.isSocket()).toBe(true);
    expect((st.mode & 0o777).toString(8)).toBe(ADMIN_SOCKET_MODE.toString(8));
    expect(readdirSync(join(h.dir, 'state'))).toEqual(['admin.sock']);
  });

  it('is removed on close', async () => {
    await h.server.close(1000);
    expect(readdirSync(join(h.dir, 'state'))).toEqual([]);
  });

  it('refuses a second server while the first is live, which keeps serving', async () => {
    const second = new AdminServer({ socketPath: h.socketPath, backend: h.backend, log: new RecordingLog() });
    const err = await failure(second.start());
    expect(err.code).toBe('SOCKET_IN_USE');
    expect(err.message).toContain(h.socketPath);
    expect(await h.client().suggestPolicy()).toBe(h.backend.suggestion);
    expect(readdirSync(join(h.dir, 'state'))).toEqual(['admin.sock']);
  });

  it('replaces a stale socket file (no one listening) and refuses a file that is not a socket', async () => {
    await h.server.close(1000);
    // A socket file nobody listens on: a second name for a listener's socket, left after it closed.
    const other = join(h.dir, 'other.sock');
    const listener = createServer();
    await new Promise<void>((resolve) => listener.listen(other, resolve));
    await link(other, h.socketPath);
    await new Promise((resolve) => listener.close(resolve));
    expect(lstatSync(h.socketPath).isSocket()).toBe(true);
    const log = new RecordingLog();
    const fresh = new AdminServer({ socketPath: h.socketPath, backend: h.backend, log });
    await fresh.start();
    try {
      expect(await h.client().suggestPolicy()).toBe(h.backend.suggestion);
      expect((lstatSync(h.socketPath).mode & 0o777).toString(8)).toBe('600');
    } finally {
      await fresh.close(1000);
    }
    writeFileSync(h.socketPath, 'not a socket');
    const err = await failure(new AdminServer({ socketPath: h.socketPath, backend: h.backend, log }).start());
    expect(err).toMatchObject({ code: 'SOCKET_SETUP' });
    expect(err.message).toContain('is not a socket');
    await unlink(h.socketPath);
  });
});

describe('AdminClient without an agent', () => {
  it('says it cannot reach the socket, with the errno and what to check', async () => {
    const missing = join(h.dir, 'nowhere', 'admin.sock');
    const client = new AdminClient(missing, { timeoutMs: 2000 });
    try {
      const err = await failure(client.connections());
      expect(err).toMatchObject({ code: 'UNREACHABLE', errno: 'ENOENT' });
      expect(err.message).toBe(`cannot reach the agent's admin socket ${missing}: ENOENT (is \`tether agent run\` running?)`);
      const streamErr = await failure(collect(client.events({ follow: true })));
      expect(streamErr).toMatchObject({ code: 'UNREACHABLE', errno: 'ENOENT' });
    } finally {
      client.close();
    }
  });
});
