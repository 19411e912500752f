import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ProcessKey, ProcessRecord } from '../../../agent/attest/index.js';
import {
  ProfileEventKind, ProfileMode, type CidrKey, type FlowKey, type FlowStats, type PolicyKey, type ProcIdentity, type ProfileEvent, type ProfileExeKey,
  type Quarantine,
} from '../../../agent/kernel/index.js';
import { ProfileStore, Profiler, QuarantineSet, describeWhat, type Deviation } from '../../../agent/profile/index.js';
import { SpiffeId } from '../../../agent/spiffe/index.js';
import { FakeBpfMap } from '../../fakes/fake-bpf-map.js';

const WEB = SpiffeId.parse('spiffe://example.org/web');
const DB = SpiffeId.parse('spiffe://example.org/db');
const NUMBERS = new Map([[WEB.toString(), 20], [DB.toString(), 21]]);
const PY = { dev: (8 << 20) | 1, ino: 100n };
const SH = { dev: (8 << 20) | 1, ino: 200n };
const DAY = 86_400_000;

function record(tgid: number, ppid: number, comm: string, exe: string, file = PY): ProcessRecord {
  return {
    key: { tgid, startNs: BigInt(tgid) * 1000n }, ppid, parentStartNs: BigInt(ppid) * 1000n, uid: 0, gid: 0, comm, exe, execFilename: exe,
    exeDev: file.dev, exeIno: file.ino, cgroupId: 9n, cgroupPath: '/t', source: 'event',
  };
}

function event(kind: number, tgid: number, ppid: number, file: { dev: number; ino: bigint }, filename: string, parentQuarantined = 0): ProfileEvent {
  return {
    ktimeNs: 1n, startNs: BigInt(tgid) * 1000n, parentStartNs: BigInt(ppid) * 1000n, exeIno: file.ino, cgroupId: 9n, kind, tgid, ppid, id: 20,
    exeDev: file.dev, mode: 0, parentQuarantined, comm: 'x', filename, peerId: 0, port: 0, family: 0, addr: Buffer.alloc(16),
  };
}

describe('the profiler', () => {
  let dir: string;
  let now: Date;
  let maps: {
    profileModes: FakeBpfMap<number, number>; profileExes: FakeBpfMap<ProfileExeKey, number>; flows: FakeBpfMap<FlowKey, FlowStats>;
    listeners: FakeBpfMap<number, number>; identities: FakeBpfMap<number, ProcIdentity>;
    profilePeers: FakeBpfMap<PolicyKey, number>; profileCidrs: FakeBpfMap<CidrKey, number>;
  };
  let quarantineMap: FakeBpfMap<number, Quarantine>;
  let profiler: Profiler;
  let store: ProfileStore;
  let found: Deviation[];
  let told: number[];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'tether-profiler-'));
    now = new Date('2026-11-23T10:00:00Z');
    maps = {
      profileModes: new FakeBpfMap(), profileExes: new FakeBpfMap(), flows: new FakeBpfMap(), listeners: new FakeBpfMap(), identities: new FakeBpfMap(),
      profilePeers: new FakeBpfMap(), profileCidrs: new FakeBpfMap(),
    };
    quarantineMap = new FakeBpfMap();
    const quarantine = new QuarantineSet({ map: quarantineMap as never, tickNs: 10_000_000n, bootNs: () => 1n });
    told = [];
    quarantine.onChange((t) => told.push(t));
    const table = new Map([[10, record(10, 1, 'python3', '/usr/bin/python3.11')], [1, record(1, 0, 'init', '/sbin/init')]]);
    store = new ProfileStore({ dir });
    found = [];
    profiler = new Profiler({
      store, maps: maps as never, quarantine, numberOf: (id) => NUMBERS.get(id.toString()) ?? 0,
      idOf: (n) => [WEB, DB].find((id) => NUMBERS.get(id.toString()) === n),
      processes: { get: (k: ProcessKey) => table.get(k.tgid), current: (t: number) => table.get(t) },
      learnWindowMs: DAY, now: () => now, log: { info: () => {}, warn: () => {} }, onDeviation: (d) => found.push(d),
    });
  });
  afterEach(() => { rmSync(dir, { recursive: true, force: true }); });

  const flow = (dst: number, port: number, addr?: number[]): void => {
    const a = Buffer.alloc(16);
    if (addr) Buffer.from(addr).copy(a);
    maps.flows.update({ src: 20, dst, port, family: addr ? 4 : 0, addr: a } as FlowKey, { count: 1n, lastNs: 1n, verdict: 0 });
  };

  it('learns the running executables, execs, destinations and listen ports; the kernel gets the mode', () => {
    profiler.setMode(WEB, 'learn');
    expect(maps.profileModes.lookup(20)).toBe(ProfileMode.LEARN);
    maps.identities.update(10, { id: 20, coarse: 0, startNs: 10_000n });
    flow(21, 6379);
    flow(0, 443, [10, 1, 2, 3]);
    maps.listeners.update(8080, 20);
    profiler.onKernelEvents([event(ProfileEventKind.EXEC_SEEN, 11, 10, SH, '/bin/sh')]);
    profiler.scan();
    const p = profiler.profile(WEB);
    expect(p.executables.map((e) => e.path)).toEqual(['/bin/sh', '/usr/bin/python3.11']);
    expect(maps.profileExes.lookup({ id: 20, ...SH })).toBe(1); // in the kernel at once: not reported again
    expect(p.destinations.map((d) => (d.kind === 'identity' ? `${d.id.toString()}:${d.port}` : `cidr:${d.port}`))).toEqual([`${DB.toString()}:6379`, 'cidr:443']);
    expect(p.listens).toEqual([8080]);
    expect(found).toEqual([]);
    expect(p.learning.until?.getTime()).toBe(now.getTime() + DAY);
  });

  it('ends learning at the window: the profile is monitored, its allow-list in the kernel', () => {
    profiler.setMode(WEB, 'learn');
    maps.identities.update(10, { id: 20, coarse: 0, startNs: 10_000n });
    profiler.scan();
    now = new Date(now.getTime() + DAY);
    profiler.scan();
    expect(profiler.profile(WEB).mode).toBe('monitor');
    expect(maps.profileModes.lookup(20)).toBe(ProfileMode.MONITOR);
    expect(maps.profileExes.lookup({ id: 20, ...PY })).toBe(1);
  });

  it('monitor: an exec outside the profile and a new destination are one deviation each, with the lineage', () => {
    profiler.setMode(WEB, 'learn');
    flow(21, 6379);
    profiler.scan();
    profiler.setMode(WEB, 'monitor');
    profiler.onKernelEvents([event(ProfileEventKind.EXEC_DEVIATION, 10, 1, SH, '/bin/sh')]);
    flow(0, 22, [192, 168, 9, 9]);
    profiler.scan();
    profiler.scan();
    expect(found.map((d) => describeWhat(d.what))).toEqual([`exec /bin/sh (8:1 inode 200)`, 'connect to 192.168.9.9/32:22']);
    expect(found[0]?.lineage.map((s) => s.comm)).toEqual(['x', 'init']); // the exec'ing process as the event names it, then its parent's line
    expect(found[0]?.quarantined).toBeNull();
    expect(profiler.deviations(WEB).map((d) => d.seq)).toEqual([1, 2]);
  });

  it('enforce: a killed exec names the quarantined parent and tells the quarantine listeners', () => {
    profiler.setMode(WEB, 'learn');
    profiler.setMode(WEB, 'enforce');
    profiler.onKernelEvents([event(ProfileEventKind.EXEC_KILLED, 11, 10, SH, '/bin/sh', 1)]);
    expect(found).toHaveLength(1);
    expect(found[0]?.what).toMatchObject({ kind: 'exec', killed: true });
    expect(found[0]?.quarantined).toEqual({ tgid: 10, startNs: 10_000n });
    expect(found[0]?.lineage.map((s) => s.tgid)).toEqual([11, 10, 1]);
    expect(found[0]?.process).toEqual({ tgid: 11, startNs: 11_000n });
    expect(told).toEqual([10]);
  });

  it('writes the destinations the kernel checks for an enforced identity, by identity number or CIDR, and removes stale ones', () => {
    profiler.setMode(WEB, 'learn');
    flow(21, 6379);
    flow(0, 443, [10, 1, 2, 3]);
    profiler.scan();
    profiler.setMode(WEB, 'enforce');
    expect(maps.profilePeers.entries().map(([k]) => k)).toEqual([{ src: 20, dst: 21, port: 6379, generation: 0 }]);
    const [cidr] = maps.profileCidrs.entries().map(([k]) => k);
    expect({ ...cidr, addr: [...(cidr?.addr ?? [])] }).toEqual({ prefixlen: 96, src: 20, port: 443, generation: 0, family: 4, addr: [10, 1, 2, 3] });
    store.save({ ...profiler.profile(WEB), destinations: [] });
    profiler.sync();
    expect(maps.profilePeers.size + maps.profileCidrs.size).toBe(0);
  });

  it('enforce: a connect the kernel refused is a deviation with its process, quarantined; flows do not report it again', () => {
    profiler.setMode(WEB, 'learn');
    profiler.setMode(WEB, 'enforce');
    const addr = Buffer.alloc(16);
    Buffer.from([192, 168, 9, 9]).copy(addr);
    profiler.onKernelEvents([{ ...event(ProfileEventKind.CONNECT_REFUSED, 10, 1, { dev: 0, ino: 0n }, ''), port: 22, family: 4, addr }]);
    flow(0, 22, [192, 168, 9, 9]);
    profiler.scan();
    expect(found.map((d) => describeWhat(d.what))).toEqual(['connect refused to 192.168.9.9/32:22']);
    expect(found[0]?.quarantined).toEqual({ tgid: 10, startNs: 10_000n });
    expect(found[0]?.lineage.map((s) => s.comm)).toEqual(['python3', 'init']);
    expect(told).toEqual([10]);
  });

  it('accept adds a deviation to the profile and to the kernel\'s allow-list', () => {
    profiler.setMode(WEB, 'learn');
    profiler.setMode(WEB, 'monitor');
    profiler.onKernelEvents([event(ProfileEventKind.EXEC_DEVIATION, 10, 1, SH, '/bin/sh')]);
    const seq = found[0]?.seq as number;
    expect(profiler.accept(WEB, seq).executables.map((e) => e.ino)).toEqual([SH.ino]);
    expect(maps.profileExes.lookup({ id: 20, ...SH })).toBe(1);
    expect(() => profiler.accept(WEB, 999)).toThrow(/no deviation 999/);
    expect(() => profiler.setMode(DB, 'enforce')).toThrow(/learn one first/);
  });
});
