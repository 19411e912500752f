import { Metadata } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { checkSecurityHeader, identifyCaller } from '../../../agent/workload/call-context.js';
import { WorkloadError } from '../../../agent/workload/index.js';
import { FakePidFd } from '../../fakes/fake-peer-reader.js';
import { FakeWorkloadBackend } from '../../fakes/fake-workload-backend.js';

const md = (...values: string[]): Metadata => {
  const m = new Metadata();
  for (const v of values) m.add('workload.spiffe.io', v);
  return m;
};

describe('checkSecurityHeader', () => {
  it.each([[[]], [['false']], [['True']], [['true', 'true']], [['']]])('refuses %j', (values) => {
    expect(() => checkSecurityHeader(md(...values))).toThrow(expect.objectContaining({ code: 'MISSING_SECURITY_HEADER' }));
  });

  it('accepts exactly one "true"', () => {
    expect(() => checkSecurityHeader(md('true'))).not.toThrow();
  });
});

describe('identifyCaller', () => {
  const peer = { pid: 7, uid: 1, gid: 1, pidfd: new FakePidFd(7), connectionId: 'tether-conn-x' };

  it('attests the peer of the tagged connection and nothing else', async () => {
    const backend = new FakeWorkloadBackend();
    const caller = await identifyCaller({ getPeer: () => 'tether-conn-x' }, { peer: (t) => (t === 'tether-conn-x' ? peer : undefined) }, backend);
    expect(caller.peer).toBe(peer);
  });

  it('refuses a call whose peer is not a tag this server made (UNAVAILABLE, never a guess)', async () => {
    const backend = new FakeWorkloadBackend();
    const err = await identifyCaller({ getPeer: () => 'unknown' }, { peer: () => undefined }, backend).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkloadError);
    expect((err as WorkloadError).code).toBe('UNKNOWN_CONNECTION');
    expect(backend.identified).toBe(0);
  });
});
