import { readFileSync } from 'node:fs';
import { status as Status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { parseStat, ProcessTracker, StartClock } from '../../../agent/attest/index.js';
import { parseEntriesFile } from '../../../agent/registry/entries-file.js';
import { TrustDomain } from '../../../agent/spiffe/index.js';
import { IdentityBackend, toStatus, type ChangeReason, type ConnectionPeer } from '../../../agent/workload/index.js';
import { FakeBootClock } from '../../fakes/fake-boot-clock.js';
import { FakePostureGate } from '../../fakes/fake-posture-gate.js';
import { FakeProcEvents } from '../../fakes/fake-proc-events.js';
import { FakeProcReader, snapshot } from '../../fakes/fake-proc-reader.js';

const TPS = 100;
const GATED = `entries:
  - spiffeId: spiffe://example.org/web
    selectors: ["unix:uid:0"]
    posture: { noNewPrivs: true, exeImmutable: true }
  - spiffeId: spiffe://example.org/plain
    selectors: ["unix:gid:0"]
`;
const ONLY_GATED = 'entries:\n  - spiffeId: spiffe://example.org/web\n    selectors: ["unix:uid:0"]\n    posture: { noNewPrivs: true }\n';
const silent = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

/** The test process as the table knows it, served `entriesYaml`, posture judged by `gate`. */
function rig(entriesYaml: string, gate: FakePostureGate | undefined) {
  const startTicks = parseStat(readFileSync(`/proc/${process.pid}/stat`, 'utf8')).startTicks;
  const reader = new FakeProcReader([snapshot({ tgid: process.pid, startTicks, uid: 0, gid: 0 })]);
  const tracker = new ProcessTracker({ reader, clock: new StartClock(TPS), bootNs: new FakeBootClock(1n).now, openEvents: new FakeProcEvents().open });
  tracker.start();
  tracker.stop();
  const entries = parseEntriesFile(entriesYaml, 'entries.yaml');
  const counted: string[] = [];
  const backend = new IdentityBackend({
    trustDomain: TrustDomain.parse('example.org'), tracker, ticksPerSecond: TPS,
    selectors: { selectorsOf: async () => ['unix:gid:0', 'unix:uid:0'] },
    entries: { current: () => entries, onChange: () => () => undefined },
    x509: { get: () => { throw new Error('not asked'); }, onRotate: () => () => undefined },
    jwt: { get: async () => ({ token: 'a.b.c', expiresAt: new Date(0) }) },
    bundles: { x509Bundle: () => { throw new Error('not asked'); }, jwtBundle: () => { throw new Error('not asked'); }, onChange: () => () => undefined },
    ...(gate === undefined ? {} : { posture: gate }),
    postureObserver: { checked: (check, ok) => counted.push(`${check}:${ok ? 'pass' : 'fail'}`) },
  });
  const peer: ConnectionPeer = {
    pid: process.pid, uid: 0, gid: 0, connectionId: 'c1', pidfd: { alive: () => true, pid: () => process.pid, close: () => undefined },
  };
  return { backend, peer, counted };
}

const ids = (svids: ReadonlyArray<{ spiffeId: string }>): string[] => svids.map((s) => s.spiffeId);

describe('posture after selector matching', () => {
  it('issues an entry whose every check passes, and counts each check', async () => {
    const gate = new FakePostureGate();
    const { backend, peer, counted } = rig(GATED, gate);
    expect(ids(await backend.jwtSvids(await backend.identify(peer), ['aud'], undefined))).toEqual(['spiffe://example.org/web', 'spiffe://example.org/plain']);
    expect(gate.asked).toEqual([{ pid: process.pid, checks: ['exeImmutable', 'noNewPrivs'] }]);
    expect(counted).toEqual(['exeImmutable:pass', 'noNewPrivs:pass']);
  });

  it('leaves out an entry whose posture fails while another entry still serves', async () => {
    const gate = new FakePostureGate();
    gate.failing.set('noNewPrivs', 'NoNewPrivs is 0');
    const { backend, peer, counted } = rig(GATED, gate);
    expect(ids(await backend.jwtSvids(await backend.identify(peer), ['aud'], undefined))).toEqual(['spiffe://example.org/plain']);
    expect(counted).toEqual(['exeImmutable:pass', 'noNewPrivs:fail']);
  });

  it('refuses a caller left with no entry PermissionDenied, naming the check, the entry and the evidence', async () => {
    const gate = new FakePostureGate();
    gate.failing.set('noNewPrivs', 'NoNewPrivs is 0');
    const { backend, peer } = rig(ONLY_GATED, gate);
    const err = await backend.jwtSvids(await backend.identify(peer), ['aud'], undefined).then(() => undefined, (e: unknown) => e);
    expect(err).toMatchObject({ code: 'POSTURE_FAILED', message: 'posture check noNewPrivs failed for spiffe://example.org/web: NoNewPrivs is 0' });
    expect(toStatus(err, silent)).toEqual({ code: Status.PERMISSION_DENIED, details: 'posture check noNewPrivs failed for spiffe://example.org/web: NoNewPrivs is 0' });
  });

  it('never issues an entry with a posture when no checker is configured', async () => {
    const { backend, peer } = rig(ONLY_GATED, undefined);
    await expect(backend.jwtSvids(await backend.identify(peer), ['aud'], undefined)).rejects
      .toMatchObject({ code: 'POSTURE_FAILED', message: 'posture check noNewPrivs failed for spiffe://example.org/web: no posture checker in this agent' });
  });

  it('watches the executable while an entry asks exeImmutable, and reports its change as "posture"', async () => {
    const gate = new FakePostureGate();
    const { backend, peer } = rig(GATED, gate);
    const reasons: ChangeReason[] = [];
    const stop = backend.watch(await backend.identify(peer), (r) => reasons.push(r));
    gate.replaceExe();
    expect(reasons).toEqual(['posture']);
    stop();
    expect(gate.exeWatchers.size).toBe(0);
    const plain = rig(ONLY_GATED, gate);
    plain.backend.watch(await plain.backend.identify(plain.peer), () => undefined)();
    expect(gate.exeWatchers.size).toBe(0);
  });
});
