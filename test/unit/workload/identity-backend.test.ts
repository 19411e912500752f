import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseStat, ProcessTracker, StartClock } from '../../../agent/attest/index.js';
import { parseEntriesFile } from '../../../agent/registry/entries-file.js';
import { TrustDomain } from '../../../agent/spiffe/index.js';
import { IdentityBackend, type ChangeReason, type ConnectionPeer, type QuarantineSource } from '../../../agent/workload/index.js';
import { FakeBootClock } from '../../fakes/fake-boot-clock.js';
import { FakeProcEvents } from '../../fakes/fake-proc-events.js';
import { FakeProcReader, snapshot } from '../../fakes/fake-proc-reader.js';

// The attestation observer: told once per identify(), when the caller's selectors have matched
// entries; nothing for a call that needs no selectors or whose attestation fails.
const TPS = 100;
const ENTRIES = parseEntriesFile('entries:\n  - spiffeId: spiffe://example.org/me\n    selectors: ["unix:uid:0"]\n', 'entries.yaml');

/** The test process itself, as the table knows it (identify() checks its real start time). */
function rig(quarantine?: QuarantineSource): { backend: IdentityBackend; peer: ConnectionPeer; attested: number[]; clock: { ms: number }; selectorCalls: () => number } {
  const startTicks = parseStat(readFileSync(`/proc/${process.pid}/stat`, 'utf8')).startTicks;
  const reader = new FakeProcReader([snapshot({ tgid: process.pid, startTicks, uid: 0, gid: 0 })]);
  const tracker = new ProcessTracker({ reader, clock: new StartClock(TPS), bootNs: new FakeBootClock(1n).now, openEvents: new FakeProcEvents().open });
  tracker.start();
  tracker.stop();
  const attested: number[] = [];
  const clock = { ms: 1000 };
  let calls = 0;
  const backend = new IdentityBackend({
    trustDomain: TrustDomain.parse('example.org'), tracker, ticksPerSecond: TPS,
    selectors: { selectorsOf: async () => { calls++; clock.ms += 7; return ['unix:uid:0']; } },
    entries: { current: () => ENTRIES, onChange: () => () => undefined },
    x509: { get: () => { throw new Error('not asked'); }, onRotate: () => () => undefined },
    jwt: { get: async () => ({ token: 'a.b.c', expiresAt: new Date(0) }) },
    bundles: { x509Bundle: () => { throw new Error('not asked'); }, jwtBundle: () => { throw new Error('not asked'); }, onChange: () => () => undefined },
    observer: { attested: (s) => attested.push(s) }, monotonicMs: () => clock.ms, ...(quarantine ? { quarantine } : {}),
  });
  const peer: ConnectionPeer = {
    pid: process.pid, uid: 0, gid: 0, connectionId: 'c1', pidfd: { alive: () => true, pid: () => process.pid, close: () => undefined },
  };
  return { backend, peer, attested, clock, selectorCalls: () => calls };
}

describe('IdentityBackend attestation timing', () => {
  it('times each call from identify() to its selectors matched, once per identify()', async () => {
    const { backend, peer, attested, clock } = rig();
    const caller = await backend.identify(peer);
    clock.ms += 3;
    expect(await backend.jwtSvids(caller, ['db'], undefined)).toHaveLength(1); // selectors: +7 ms
    await backend.jwtSvids(caller, ['db'], undefined); // the same call's second look is not a second attestation
    expect(attested).toEqual([0.01]);
    await backend.jwtSvids(await backend.identify(peer), ['db'], undefined);
    expect(attested).toEqual([0.01, 0.007]);
  });

  it('tells nothing for a call whose process is gone, or that never matches selectors', async () => {
    const { backend, peer, attested, selectorCalls } = rig();
    await expect(backend.identify({ ...peer, pidfd: { ...peer.pidfd, alive: () => false } })).rejects.toMatchObject({ code: 'CALLER_GONE' });
    await backend.identify(peer); // ValidateJWTSVID identifies and goes no further
    expect(selectorCalls()).toBe(0);
    expect(attested).toEqual([]);
  });
});

describe('IdentityBackend and the quarantine (profile/)', () => {
  it('issues nothing to a quarantined process (PermissionDenied), judges its streams again on a change, and issues again on release', async () => {
    const quarantined = new Set<number>([process.pid]);
    const listeners = new Set<(tgid: number) => void>();
    const { backend, peer } = rig({
      has: (key) => quarantined.has(key.tgid), onChange: (l) => { listeners.add(l); return () => listeners.delete(l); },
    });
    const caller = await backend.identify(peer);
    await expect(backend.jwtSvids(caller, ['db'], undefined)).rejects.toMatchObject({ code: 'QUARANTINED' });
    const reasons: ChangeReason[] = [];
    const stop = backend.watch(caller, (r) => reasons.push(r));
    for (const l of listeners) l(process.pid + 1); // another process: not this stream's business
    quarantined.delete(process.pid);
    for (const l of listeners) l(process.pid);
    expect(reasons).toEqual(['quarantine']);
    expect(await backend.jwtSvids(caller, ['db'], undefined)).toHaveLength(1);
    stop();
    expect(listeners.size).toBe(0);
  });
});
