import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AdminError } from '../../../agent/admin/index.js';
import {
  caStateMessage, readCaState, readProcess, readStatus, statusMessage,
} from '../../../agent/admin/agent-messages.js';
import type { AgentStatus__Output } from '../../../agent/admin/gen/tether/admin/v1/AgentStatus.js';
import type { CaState__Output } from '../../../agent/admin/gen/tether/admin/v1/CaState.js';
import { toJson } from '../../../agent/cli/output.js';
import { agentStatus, caStatus } from '../../fakes/fake-admin-backend.js';
import { startAdminServer, type AdminHarness } from '../../support/admin-server.js';

let h: AdminHarness;

beforeEach(async () => {
  h = await startAdminServer();
});

afterEach(async () => {
  await h.close();
});

async function failure(p: Promise<unknown>): Promise<AdminError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(AdminError);
  return err as AdminError;
}

describe('the agent\'s methods round-trip backend values', () => {
  it('Status: every field, each feature state, fallback null when available, the policy in force', async () => {
    expect(await h.client().status()).toEqual(h.backend.agent);
  });

  it('Status of an agent without --policy: policy null', async () => {
    h.backend.agent = agentStatus({ policy: null, metricsAddress: 'off', features: [] });
    const status = await h.client().status();
    expect(status.policy).toBeNull();
    expect(status).toEqual(h.backend.agent);
  });

  it('ListProcesses: 64-bit start times exact, nulls kept', async () => {
    const listed = await h.client().processes();
    expect(listed).toEqual(h.backend.procs);
    expect(listed[1]?.startNs).toBe(18_446_744_073_709_551_615n);
    expect(listed[0]).toMatchObject({ exe: null, cgroup: null, containerId: null, podUid: null });
  });

  it('MatchEntries: the pid reaches the backend, the selectors and verdicts come back', async () => {
    const match = {
      pid: 4242, selectors: ['unix:uid:1000', 'unix:path:/usr/sbin/nginx'],
      entries: [
        { id: '0123456789abcdef', spiffeId: 'spiffe://example.org/web', matched: true, missing: [], posture: [
          { check: 'noNewPrivs', ok: false, evidence: 'NoNewPrivs is 0' }, { check: 'seccomp', ok: true, evidence: 'Seccomp is 2 (filter), required filter' },
        ] },
        { id: 'fedcba9876543210', spiffeId: 'spiffe://example.org/db', matched: false, missing: ['unix:uid:999', 'unix:path:/usr/bin/postgres'], posture: [] },
      ],
    };
    h.backend.matches.set(4242, match);
    expect(await h.client().matchEntries(4242)).toEqual(match);
  });

  it('Posture: each matched entry\'s checks, pass and fail, with their evidence; a pid not in the table is BAD_REQUEST', async () => {
    const report = {
      pid: 4242, entries: [{ id: '0123456789abcdef', spiffeId: 'spiffe://example.org/web', checks: [
        { check: 'exeImmutable', ok: true, evidence: '/usr/bin/x is the exec\'d file' }, { check: 'forbidExecutables', ok: false, evidence: '/bin/sh in the root filesystem' },
      ] }],
    };
    h.backend.postures.set(4242, report);
    expect(await h.client().posture(4242)).toEqual(report);
    expect(await failure(h.client().posture(77))).toMatchObject({ code: 'BAD_REQUEST', message: 'pid: no process 77 in the process table' });
    expect(await failure(h.client().posture(0))).toMatchObject({ code: 'BAD_REQUEST', message: 'pid must be a process id (1 or more): got 0' });
  });

  it('MatchEntries: a pid not in the table is the agent\'s BAD_REQUEST; pid 0 is refused before the backend', async () => {
    expect(await failure(h.client().matchEntries(77))).toMatchObject({ code: 'BAD_REQUEST', status: 'INVALID_ARGUMENT', message: 'pid: no process 77 in the process table' });
    expect(await failure(h.client().matchEntries(0))).toMatchObject({ code: 'BAD_REQUEST', message: 'pid must be a process id (1 or more): got 0' });
  });

  it('CaStatus: every slot state, dates, an intermediate or none; the JSON is what ca/ makes, byte for byte', async () => {
    const status = await h.client().caStatus();
    expect(status).toEqual(h.backend.ca);
    expect(status.x509[2]?.notAfter).toBeInstanceOf(Date);
    expect(toJson(status)).toBe(toJson(h.backend.ca));
  });

  it('RotateCa: a rotation from a CA and from none', async () => {
    expect(await h.client().rotateCa()).toEqual(h.backend.rotation);
    expect(h.backend.rotations).toBe(1);
    expect(toJson(await h.client().rotateCa())).toBe(toJson(h.backend.rotation));
  });

  it('errors from these methods reach the client with their code', async () => {
    h.backend.failNext = new AdminError('UNAVAILABLE', 'the CA is closing');
    expect(await failure(h.client().rotateCa())).toMatchObject({ code: 'UNAVAILABLE', message: 'the CA is closing' });
    h.backend.failNext = new Error('boom');
    expect(await failure(h.client().status())).toMatchObject({ code: 'RPC_FAILED', status: 'INTERNAL' });
  });
});

describe('a client refuses what it cannot read (BAD_RESPONSE)', () => {
  const wire = <T>(value: unknown): T => JSON.parse(JSON.stringify(value)) as T;

  it('a feature state it does not know, and a missing counts message', () => {
    const m = wire<AgentStatus__Output>(statusMessage(agentStatus()));
    expect(() => readStatus({ ...m, features: [{ name: 'x', state: 'FEATURE_STATE_UNSPECIFIED', detail: '', fallback: '' }] }))
      .toThrow(expect.objectContaining({ code: 'BAD_RESPONSE' }));
    expect(() => readStatus({ ...m, counts: null })).toThrow('AgentStatus.counts is missing');
  });

  it('a feature name it does not know reads: it is only shown', () => {
    const m = wire<AgentStatus__Output>(statusMessage(agentStatus()));
    const read = readStatus({ ...m, features: [{ name: 'futureThing', state: 'FEATURE_AVAILABLE', detail: 'd', fallback: '' }] });
    expect(read.features).toEqual([{ name: 'futureThing', state: 'available', detail: 'd', fallback: null }]);
  });

  it('a time that is not one, a key type or alg it does not know, a lifecycle missing', () => {
    const m = wire<CaState__Output>(caStateMessage(caStatus()));
    const [first, ...rest] = m.x509;
    if (first === undefined) throw new Error('fixture');
    expect(() => readCaState({ ...m, x509: [{ ...first, not_after: 'soon' }, ...rest] })).toThrow(/not_after is "soon", not an ISO 8601 time/);
    expect(() => readCaState({ ...m, x509: [{ ...first, key_type: 'ed25519' }] })).toThrow(/key_type is "ed25519"/);
    expect(() => readCaState({ ...m, x509: [{ ...first, lifecycle: null }] })).toThrow(/lifecycle is missing/);
    expect(() => readCaState({ ...m, jwt: [{ ...m.jwt[0] as CaState__Output['jwt'][0], alg: 'HS256' }] })).toThrow(/alg is "HS256"/);
  });

  it('a start time that is not a number', () => {
    expect(() => readProcess({
      pid: 1, ppid: 0, start_time: '', start_ns: '-1', uid: 0, gid: 0, comm: '', exe: '', cgroup: '', container_id: '', pod_uid: '',
    })).toThrow(/start_ns "-1" is not a number/);
  });
});
