import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AdminError } from '../../../agent/admin/index.js';
import { profileAdmin, noProfiles } from '../../../agent/daemon/profile-admin.js';
import type { Profiles } from '../../../agent/daemon/profiles.js';
import { ProfileEventKind, QuarantineReason, type ProfileEvent, type Quarantine } from '../../../agent/kernel/index.js';
import { ProfileStore, Profiler, QuarantineSet } from '../../../agent/profile/index.js';
import { SpiffeId } from '../../../agent/spiffe/index.js';
import { FakeBpfMap } from '../../fakes/fake-bpf-map.js';

const WEB = SpiffeId.parse('spiffe://example.org/web');

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (err) {
    return err instanceof AdminError ? err.code : `not an AdminError: ${String(err)}`;
  }
  return undefined;
}

describe('the admin answers about profiles and the quarantine', () => {
  let dir: string;
  let quarantineMap: FakeBpfMap<number, Quarantine>;
  let admin: ReturnType<typeof profileAdmin>;
  let profiler: Profiler;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'tether-profile-admin-'));
    quarantineMap = new FakeBpfMap();
    const quarantine = new QuarantineSet({ map: quarantineMap as never, tickNs: 10_000_000n, bootNs: () => 2_000_000_000n });
    const store = new ProfileStore({ dir });
    const maps = {
      profileModes: new FakeBpfMap(), profileExes: new FakeBpfMap(), flows: new FakeBpfMap(), listeners: new FakeBpfMap(), identities: new FakeBpfMap(),
      profilePeers: new FakeBpfMap(), profileCidrs: new FakeBpfMap(),
    };
    profiler = new Profiler({
      store, maps: maps as never, quarantine, processes: { get: () => undefined, current: () => undefined },
      numberOf: () => 20, idOf: (n) => (n === 20 ? WEB : undefined), learnWindowMs: 1000, now: () => new Date('2026-11-23T10:00:00Z'),
      log: { info: () => {}, warn: () => {} },
    });
    admin = profileAdmin({
      profiles: { profiler, quarantine, store } as unknown as Profiles, idOf: (n) => (n === 20 ? WEB : undefined),
      tracker: { table: { get: () => undefined } as never }, nowMs: () => Date.parse('2026-11-23T10:00:00Z'),
    });
  });
  afterEach(() => { rmSync(dir, { recursive: true, force: true }); });

  it('maps profile/\'s errors to the admin codes: an unknown profile or pid is NOT_FOUND, a bad ID BAD_REQUEST', () => {
    expect(codeOf(() => admin.profile(WEB.toString()))).toBe('NOT_FOUND');
    expect(codeOf(() => admin.profileDiff(WEB.toString()))).toBe('NOT_FOUND');
    expect(codeOf(() => admin.setProfileMode(WEB.toString(), 'enforce'))).toBe('NOT_FOUND');
    expect(codeOf(() => admin.profile('web'))).toBe('BAD_REQUEST');
    expect(codeOf(() => admin.releaseQuarantine(42))).toBe('NOT_FOUND');
    expect(codeOf(() => noProfiles().quarantined())).toBe('NOT_ENFORCING');
  });

  it('serves the profile file\'s text, numbered deviations and the quarantine with times', () => {
    const view = admin.setProfileMode(WEB.toString(), 'learn');
    expect(view.mode).toBe('learn');
    expect(view.yaml).toContain('id: spiffe://example.org/web\nmode: learn\n');
    admin.setProfileMode(WEB.toString(), 'enforce');
    const killed: ProfileEvent = {
      ktimeNs: 1n, startNs: 5n, parentStartNs: 4n, exeIno: 9n, cgroupId: 1n, kind: ProfileEventKind.EXEC_KILLED, tgid: 43, ppid: 42, id: 20,
      exeDev: 1, mode: 3, parentQuarantined: 1, comm: 'sh', filename: '/bin/sh', peerId: 0, port: 0, family: 0, addr: Buffer.alloc(16),
    };
    profiler.onKernelEvents([killed]);
    expect(admin.profileDiff(WEB.toString())).toEqual([{
      seq: 1, time: '2026-11-23T10:00:00.000Z', mode: 'enforce', kind: 'exec', what: 'exec killed /bin/sh (0:1 inode 9)', pid: 43,
      lineage: '43/sh', quarantined: 42,
    }]);
    quarantineMap.update(42, { startNs: 4n, sinceNs: 1_000_000_000n, id: 20, reason: QuarantineReason.EXEC, coarse: 0 });
    const listed = admin.quarantined();
    expect(listed.map((q) => [q.pid, q.spiffeId, q.reason])).toEqual([[42, WEB.toString(), 'exec']]);
    expect(Date.parse(listed[0]?.since as string)).toBeLessThan(Date.parse('2026-11-23T10:00:00Z'));
    expect(admin.releaseQuarantine(42).pid).toBe(42);
    expect(admin.quarantined()).toEqual([]);
    expect(codeOf(() => admin.acceptDeviation(WEB.toString(), 7))).toBe('NOT_FOUND');
    expect(admin.acceptDeviation(WEB.toString(), 1).yaml).toContain('path: /bin/sh');
  });
});
