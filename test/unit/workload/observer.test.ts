import { status } from '@grpc/grpc-js';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { statusName, type StatusName, type WorkloadMethod } from '../../../agent/workload/index.js';
import { waitFor } from '../../support/wait.js';
import { rawStream, rawUnary, securityHeader, startWorkloadServer, svidFixture, type SvidFixture, type WorkloadHarness } from '../../support/workload-server.js';

// What the server tells its observer (daemon/ turns it into tether_workload_api_calls_total):
// each call once, with the status a client sees; a stream with its first message or its end before one.
const PID = 4242; // FakePeerReader's fallback peer
let a: SvidFixture;
let h: WorkloadHarness;
let told: Array<[WorkloadMethod, StatusName]>;

beforeAll(async () => {
  a = await svidFixture('spiffe://example.org/app-a');
});

beforeEach(async () => {
  told = [];
  h = await startWorkloadServer({ observer: { answered: (method, code) => told.push([method, code]) } });
  h.backend.programs.set(PID, '/usr/bin/app');
  h.backend.entitlements.set('/usr/bin/app', [a.item]);
  h.backend.bundles = new Map([['spiffe://example.org', a.root.der]]);
});

afterEach(async () => {
  await h.close();
});

describe('the Workload API observer', () => {
  it('hears a stream once, OK with its first message, however many follow or however it ends', async () => {
    const controller = new AbortController();
    let messages = 0;
    const ended = h.client().watchX509(() => { messages++; }, controller.signal).catch(() => undefined);
    await waitFor('the first message', () => messages === 1 || undefined);
    h.backend.change('entries'); // same bytes: nothing new is sent, and nothing new is told
    h.backend.exit(PID);
    await ended;
    expect(told).toEqual([['FetchX509SVID', 'OK']]);
  });

  it('hears a stream that ends before its first message with the status it ended with', async () => {
    h.backend.entitlements.clear();
    await rawStream(h.raw(), '/SpiffeWorkloadAPI/FetchX509SVID', Buffer.alloc(0), securityHeader());
    await rawStream(h.raw(), '/SpiffeWorkloadAPI/FetchJWTBundles', Buffer.alloc(0), securityHeader(null));
    h.backend.failing.add(PID);
    await rawStream(h.raw(), '/SpiffeWorkloadAPI/FetchX509Bundles', Buffer.alloc(0), securityHeader());
    await rawStream(h.raw(), '/SpiffeWorkloadAPI/FetchWITSVID', Buffer.alloc(0), securityHeader());
    await waitFor('four answers', () => told.length === 4 || undefined);
    expect(told).toEqual([
      ['FetchX509SVID', 'PERMISSION_DENIED'], ['FetchJWTBundles', 'INVALID_ARGUMENT'], ['FetchX509Bundles', 'UNAVAILABLE'],
      ['FetchWITSVID', 'UNIMPLEMENTED'],
    ]);
  });

  it('hears a unary call with its answer: OK, or the status of its error', async () => {
    const client = h.client();
    await client.fetchJwt(['db']);
    await expect(client.fetchJwt([])).rejects.toThrow();
    h.backend.entitlements.clear();
    await expect(client.fetchJwt(['db'])).rejects.toThrow();
    await rawUnary(h.raw(), '/SpiffeWorkloadAPI/ValidateJWTSVID', Buffer.alloc(0), securityHeader(null));
    expect(told).toEqual([
      ['FetchJWTSVID', 'OK'], ['FetchJWTSVID', 'INVALID_ARGUMENT'], ['FetchJWTSVID', 'PERMISSION_DENIED'], ['ValidateJWTSVID', 'INVALID_ARGUMENT'],
    ]);
  });

  it('hears CANCELLED for a stream whose client leaves before the first message', async () => {
    let release: () => void = () => undefined;
    const held = new Promise<void>((r) => { release = r; });
    const x509 = h.backend.x509.bind(h.backend);
    h.backend.x509 = async (caller) => { await held; return x509(caller); };
    const controller = new AbortController();
    const ended = h.client().watchX509(() => undefined, controller.signal).catch(() => undefined);
    await waitFor('the stream to open', () => h.server.streams === 1 || undefined);
    controller.abort();
    await ended;
    await waitFor('the stream to close', () => h.server.streams === 0 || undefined);
    release();
    expect(told).toEqual([['FetchX509SVID', 'CANCELLED']]);
  });

  it('names statuses as the gRPC spec does', () => {
    expect(statusName(status.OK)).toBe('OK');
    expect(statusName(status.PERMISSION_DENIED)).toBe('PERMISSION_DENIED');
    expect(statusName(99 as status)).toBe('UNKNOWN');
  });
});
