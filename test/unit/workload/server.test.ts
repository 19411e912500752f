import { existsSync } from 'node:fs';
import { status } from '@grpc/grpc-js';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { WorkloadError, loadWorkloadApi, type WorkloadClient } from '../../../agent/workload/index.js';
import { waitFor } from '../../support/wait.js';
import {
  jwks, rawStream, rawUnary, securityHeader, startWorkloadServer, svidFixture, type SvidFixture, type WorkloadHarness,
} from '../../support/workload-server.js';

const A = 'spiffe://example.org/app-a';
const B = 'spiffe://example.org/app-b';
const PID = 4242; // FakePeerReader's fallback peer
const api = loadWorkloadApi();

let a: SvidFixture;
let b: SvidFixture;
let foreign: SvidFixture;
let h: WorkloadHarness;

beforeAll(async () => {
  a = await svidFixture(A, 'internal');
  b = await svidFixture(B, 'external', a.root);
  foreign = await svidFixture('spiffe://other.org/x');
});

beforeEach(async () => {
  h = await startWorkloadServer();
  h.backend.programs.set(PID, '/usr/bin/app');
  h.backend.entitlements.set('/usr/bin/app', [a.item]);
  h.backend.federatedBundles = new Map([['spiffe://other.org', foreign.root.der]]);
  h.backend.bundles = new Map([['spiffe://example.org', a.root.der], ['spiffe://other.org', foreign.root.der]]);
  h.backend.jwks = new Map([['spiffe://example.org', jwks('k1')]]);
});

afterEach(async () => {
  await h.close();
});

/** A rejection's WorkloadError, to check its status and details. */
async function failure(p: Promise<unknown>): Promise<WorkloadError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(WorkloadError);
  return err as WorkloadError;
}

/** Collects watchX509 messages until stopped; `ended` settles with the stream. */
function watch(client: WorkloadClient): { messages: Array<Awaited<ReturnType<WorkloadClient['fetchX509']>>>; ended: Promise<unknown>; stop(): void } {
  const controller = new AbortController();
  const messages: Array<Awaited<ReturnType<WorkloadClient['fetchX509']>>> = [];
  const ended = client.watchX509((m) => messages.push(m), controller.signal).then(() => 'ok', (e: unknown) => e);
  return { messages, ended, stop: () => controller.abort() };
}

describe('FetchX509SVID', () => {
  it('sends the first message at once: SVIDs with key, bundle and hint, and federated bundles', async () => {
    const context = await h.client().fetchX509();
    expect(context.svids.map((s) => s.spiffeId.toString())).toEqual([A]);
    const svid = context.svids[0]!;
    expect(svid.chain).toEqual([a.leaf.der]);
    expect(svid.privateKeyPkcs8).toEqual(a.item.privateKeyPkcs8);
    expect(svid.bundle.authorities()).toEqual([a.root.der]);
    expect(svid.hint).toBe('internal');
    expect([...context.federatedBundles.keys()]).toEqual(['spiffe://other.org']);
    expect(context.federatedBundles.get('spiffe://other.org')?.authorities()).toEqual([foreign.root.der]);
    expect(h.backend.identified).toBe(1);
  });

  it('pushes a new full message on a change, and none when the bytes are unchanged', async () => {
    const w = watch(h.client());
    await waitFor('the first message', () => w.messages.length === 1);
    const asked = h.backend.x509Calls;
    h.backend.change('rotation'); // nothing differs: no message
    await waitFor('the rotation to be looked at', () => h.backend.x509Calls > asked);
    h.backend.entitlements.set('/usr/bin/app', [a.item, b.item]);
    h.backend.change('entries');
    await waitFor('the second message', () => w.messages.length >= 2);
    expect(w.messages).toHaveLength(2);
    expect(w.messages[1]!.svids.map((s) => s.spiffeId.toString())).toEqual([A, B]);
    expect(w.messages[1]!.federatedBundles.size).toBe(1); // full state, not a delta
    w.stop();
    expect(await w.ended).toBe('ok');
  });

  it('ends with PERMISSION_DENIED at once when the caller has no identity', async () => {
    h.backend.entitlements.clear();
    const { messages, status: s } = await rawStream(h.raw(), '/SpiffeWorkloadAPI/FetchX509SVID', Buffer.alloc(0), securityHeader());
    expect(messages).toEqual([]);
    expect(s.code).toBe(status.PERMISSION_DENIED);
    expect(s.details).toBe('no identity issued');
    expect(h.backend.watchers).toBe(0);
  });

  it('ends with PERMISSION_DENIED when the identity goes away later', async () => {
    const w = watch(h.client());
    await waitFor('the first message', () => w.messages.length === 1);
    h.backend.entitlements.clear();
    h.backend.change('entries');
    const err = (await w.ended) as WorkloadError;
    expect(err).toBeInstanceOf(WorkloadError);
    expect(err.status).toBe('PERMISSION_DENIED');
    expect(h.backend.watchers).toBe(0);
  });

  it('ends with UNAUTHENTICATED when the caller exits', async () => {
    const w = watch(h.client());
    await waitFor('the first message', () => w.messages.length === 1);
    h.backend.exit(PID);
    const err = (await w.ended) as WorkloadError;
    expect(err.status).toBe('UNAUTHENTICATED');
    expect(err.details).toBe('could not verify existence of the original caller');
    expect(h.backend.watchers).toBe(0);
  });

  it('after an exec serves what the new program is entitled to, then PERMISSION_DENIED for one with nothing', async () => {
    h.backend.entitlements.set('/usr/bin/other', [b.item]);
    const w = watch(h.client());
    await waitFor('the first message', () => w.messages.length === 1);
    h.backend.exec(PID, '/usr/bin/other');
    await waitFor('the message for the new program', () => w.messages.length === 2);
    expect(w.messages[1]!.svids.map((s) => s.spiffeId.toString())).toEqual([B]);
    expect(h.backend.identified).toBe(2);
    expect(h.backend.watchers).toBe(1); // the old subscription was replaced, not added to
    h.backend.exec(PID, '/usr/bin/nothing');
    expect(((await w.ended) as WorkloadError).status).toBe('PERMISSION_DENIED');
  });

  it('after an exec, ends UNAUTHENTICATED when the process can no longer be attested', async () => {
    const w = watch(h.client());
    await waitFor('the first message', () => w.messages.length === 1);
    h.backend.gone.add(PID);
    h.backend.exec(PID, '/usr/bin/other');
    expect(((await w.ended) as WorkloadError).status).toBe('UNAUTHENTICATED');
    expect(w.messages).toHaveLength(1);
    expect(h.backend.watchers).toBe(0);
  });

  it('unsubscribes when the client cancels', async () => {
    const w = watch(h.client());
    await waitFor('the first message', () => w.messages.length === 1);
    expect(h.backend.watchers).toBe(1);
    expect(h.server.streams).toBe(1);
    w.stop();
    expect(await w.ended).toBe('ok');
    await waitFor('the subscription to end', () => h.backend.watchers === 0);
    expect(h.backend.subscribed).toBe(1);
    expect(h.server.streams).toBe(0);
  });

  it('maps attestation failures: caller gone → UNAUTHENTICATED, attestation error → UNAVAILABLE', async () => {
    h.backend.gone.add(PID);
    const gone = await failure(h.client().fetchX509());
    expect([gone.status, gone.details]).toEqual(['UNAUTHENTICATED', 'could not verify existence of the original caller']);
    h.backend.gone.clear();
    h.backend.failing.add(PID);
    const failed = await failure(h.client().fetchX509());
    expect([failed.status, failed.details]).toEqual(['UNAVAILABLE', 'workload attestation failed']);
  });
});

describe('each call is attested on its own connection', () => {
  it('two clients with different peers get different answers; a second call keeps its connection\'s peer', async () => {
    h.backend.programs.set(1001, '/usr/bin/a');
    h.backend.programs.set(1002, '/usr/bin/b');
    h.backend.entitlements.set('/usr/bin/a', [a.item]);
    h.backend.entitlements.set('/usr/bin/b', [b.item]);
    h.peers.next({ pid: 1001, uid: 1000, gid: 1000 });
    const first = h.client();
    expect((await first.fetchX509()).svids[0]!.spiffeId.toString()).toBe(A);
    h.peers.next({ pid: 1002, uid: 2000, gid: 2000 });
    const second = h.client();
    expect((await second.fetchX509()).svids[0]!.spiffeId.toString()).toBe(B);
    expect((await first.fetchX509()).svids[0]!.spiffeId.toString()).toBe(A); // not the fallback pid
    const [p1, p2, p3] = h.backend.peers;
    expect([p1?.pid, p2?.pid, p3?.pid]).toEqual([1001, 1002, 1001]);
    expect(p1?.connectionId).toMatch(/^tether-conn-[0-9a-f]{32}$/);
    expect(p2?.connectionId).not.toBe(p1?.connectionId);
    expect(p3?.connectionId).toBe(p1?.connectionId);
  });
});

describe('the security header', () => {
  const methods = [
    ['FetchX509SVID', 'stream'], ['FetchX509Bundles', 'stream'], ['FetchJWTBundles', 'stream'],
    ['FetchWITSVID', 'stream'], ['FetchWITBundles', 'stream'], ['FetchJWTSVID', 'unary'], ['ValidateJWTSVID', 'unary'],
  ] as const;

  it.each(methods.flatMap(([m, kind]) => [[m, kind, null], [m, kind, 'false'], [m, kind, 'TRUE']] as const))(
    '%s (%s) with header %s → INVALID_ARGUMENT before attestation', async (method, kind, value) => {
      const path = `/SpiffeWorkloadAPI/${method}`;
      const got = kind === 'stream'
        ? (await rawStream(h.raw(), path, Buffer.alloc(0), securityHeader(value))).status
        : (await rawUnary(h.raw(), path, Buffer.alloc(0), securityHeader(value))).error;
      expect(got?.code).toBe(status.INVALID_ARGUMENT);
      expect(got?.details).toBe('security header missing from request');
      expect(h.backend.identified).toBe(0);
    });

  it('is refused when sent twice', async () => {
    const md = securityHeader();
    md.add('workload.spiffe.io', 'true');
    const { status: s } = await rawStream(h.raw(), '/SpiffeWorkloadAPI/FetchX509SVID', Buffer.alloc(0), md);
    expect(s.code).toBe(status.INVALID_ARGUMENT);
  });
});

describe('methods and limits', () => {
  it('an unknown method is UNIMPLEMENTED', async () => {
    const { error } = await rawUnary(h.raw(), '/SpiffeWorkloadAPI/FetchEverything', Buffer.alloc(0), securityHeader());
    expect(error?.code).toBe(status.UNIMPLEMENTED);
  });

  it.each(['FetchWITSVID', 'FetchWITBundles'])('%s is UNIMPLEMENTED (no WIT profile)', async (method) => {
    const { messages, status: s } = await rawStream(h.raw(), `/SpiffeWorkloadAPI/${method}`, Buffer.alloc(0), securityHeader());
    expect(messages).toEqual([]);
    expect(s.code).toBe(status.UNIMPLEMENTED);
  });

  it('refuses a request over 64 KiB with RESOURCE_EXHAUSTED and serves one just under it', async () => {
    const request = (size: number): Buffer => api.service.FetchJWTSVID.requestSerialize({ audience: ['x'.repeat(size)] });
    const big = await rawUnary(h.raw(), '/SpiffeWorkloadAPI/FetchJWTSVID', request(65 * 1024), securityHeader());
    expect(big.error?.code).toBe(status.RESOURCE_EXHAUSTED);
    const fits = await rawUnary(h.raw(), '/SpiffeWorkloadAPI/FetchJWTSVID', request(63 * 1024), securityHeader());
    expect(fits.error).toBeUndefined();
    expect(api.service.FetchJWTSVID.responseDeserialize(fits.response!).svids).toHaveLength(1);
  });
});

describe('FetchJWTSVID', () => {
  beforeEach(() => {
    h.backend.entitlements.set('/usr/bin/app', [a.item, b.item]);
  });

  it('answers one JWT-SVID per identity, or only the one asked for', async () => {
    const client = h.client();
    expect((await client.fetchJwt(['db', 'cache'])).map((s) => [s.spiffeId.toString(), s.hint])).toEqual([[A, 'internal'], [B, 'external']]);
    const only = await client.fetchJwt(['db'], B);
    expect(only.map((s) => s.spiffeId.toString())).toEqual([B]);
    expect(Buffer.from(only[0]!.token.split('.')[1]!, 'base64url').toString()).toBe(`${B}|db`);
  });

  it.each([
    ['no audience', [], undefined, 'audience must be specified'],
    ['an empty audience value', [''], undefined, 'audience must not contain an empty value'],
    ['a malformed spiffe_id', ['db'], 'spiffe://Example.org/x', 'invalid requested SPIFFE ID:'],
    ['a spiffe_id that is not a SPIFFE ID', ['db'], 'https://example.org/x', 'invalid requested SPIFFE ID:'],
  ] as const)('refuses %s with INVALID_ARGUMENT', async (_name, audience, id, details) => {
    const err = await failure(h.client().fetchJwt(audience, id));
    expect(err.status).toBe('INVALID_ARGUMENT');
    expect(err.details).toContain(details);
    expect(h.backend.identified).toBe(0);
  });

  it('answers PERMISSION_DENIED for an ID that is not the caller\'s, or no identity', async () => {
    const other = await failure(h.client().fetchJwt(['db'], 'spiffe://example.org/not-mine'));
    expect([other.status, other.details]).toEqual(['PERMISSION_DENIED', 'no identity issued']);
    h.backend.entitlements.clear();
    expect((await failure(h.client().fetchJwt(['db']))).status).toBe('PERMISSION_DENIED');
  });
});

describe('ValidateJWTSVID', () => {
  const claims = {
    sub: A, aud: ['db'], exp: 1_900_000_000, iat: 1.5, admin: false, none: null,
    nested: { list: [1, 'two', true, null, { deep: [] }], empty: {} }, __proto__: 'a claim, not a prototype',
  };

  it('returns the subject and the claims as a Struct that decodes to the same JSON', async () => {
    const parsed = JSON.parse(JSON.stringify({ ...claims, ['__proto__']: undefined })) as Record<string, unknown>;
    const all = JSON.parse('{"__proto__": "a claim, not a prototype"}') as Record<string, unknown>;
    const sent = { ...parsed, ...Object.fromEntries(Object.entries(all)) };
    h.backend.tokens.set('tok', { spiffeId: A, audience: ['db'], claims: sent });
    const result = await h.client().validate('tok', 'db');
    expect(result.spiffeId.toString()).toBe(A);
    expect(JSON.stringify(result.claims)).toBe(JSON.stringify(sent));
    expect(Object.keys(result.claims)).toContain('__proto__');
  });

  it.each([
    ['no audience', 'tok', '', 'audience must be specified'],
    ['no token', '', 'db', 'svid must be specified'],
    ['an invalid token', 'forged', 'db', 'token signature does not verify'],
    ['another audience', 'tok', 'web', 'token audience does not include web'],
  ])('refuses %s with INVALID_ARGUMENT and the reason', async (_name, token, audience, details) => {
    h.backend.tokens.set('tok', { spiffeId: A, audience: ['db'], claims: { sub: A } });
    const err = await failure(h.client().validate(token, audience));
    expect([err.status, err.details]).toEqual(['INVALID_ARGUMENT', details]);
  });
});

describe('bundle streams', () => {
  it('FetchX509Bundles: first message at once, a new one only when the bundles change', async () => {
    const client = h.client();
    const first = await client.fetchX509Bundles();
    expect([...first.keys()]).toEqual(['spiffe://example.org', 'spiffe://other.org']);
    let asked = 0;
    const { messages } = await rawStream(h.raw(), '/SpiffeWorkloadAPI/FetchX509Bundles', Buffer.alloc(0), securityHeader(), {
      take: 2,
      onMessage: (_m, i) => {
        if (i !== 0) return;
        asked = h.backend.bundleReads;
        h.backend.change('rotation'); // the same bundles: no message
        void waitFor('the rotation to be looked at', () => h.backend.bundleReads > asked).then(() => {
          h.backend.bundles = new Map([['spiffe://example.org', a.root.der]]);
          h.backend.change('bundle');
        });
      },
    });
    expect(messages).toHaveLength(2);
    const second = api.service.FetchX509Bundles.responseDeserialize(messages[1]!);
    expect(Object.keys(second.bundles)).toEqual(['spiffe://example.org']);
  });

  it('FetchJWTBundles: JWKS by trust domain ID', async () => {
    const bundles = await h.client().fetchJwtBundles();
    expect([...bundles.keys()]).toEqual(['spiffe://example.org']);
    expect(bundles.get('spiffe://example.org')?.kids()).toEqual(['k1']);
  });

  it.each(['fetchX509Bundles', 'fetchJwtBundles'] as const)('%s: PERMISSION_DENIED without an identity', async (method) => {
    h.backend.entitlements.clear();
    expect((await failure(h.client()[method]())).status).toBe('PERMISSION_DENIED');
  });
});

describe('close', () => {
  it('ends open streams UNAVAILABLE, unsubscribes and removes the socket', async () => {
    const w = watch(h.client());
    await waitFor('the first message', () => w.messages.length === 1);
    await h.server.close(1000);
    const err = (await w.ended) as WorkloadError;
    expect(err.status).toBe('UNAVAILABLE');
    expect(h.backend.watchers).toBe(0);
    expect(existsSync(h.socketPath)).toBe(false);
    expect(h.peers.pidfds.every((p) => p.closed)).toBe(true);
  });
});
