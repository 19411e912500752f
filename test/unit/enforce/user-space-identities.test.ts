import { describe, expect, it } from 'vitest';
import { AttestError, type ProcessRecord } from '../../../agent/attest/index.js';
import { UserSpaceIdentities } from '../../../agent/enforce/index.js';
import type { ProcIdentity } from '../../../agent/kernel/index.js';
import { parseEntriesFile, type Entry } from '../../../agent/registry/index.js';
import { TrustDomain, type SpiffeId } from '../../../agent/spiffe/index.js';

// The kernel map is a Map here (the kernel tests and the e2e test use the real one).
function rig(records: ProcessRecord[], selectors: Record<number, string[]>, kernelIds: Record<number, number> = {}) {
  const map = new Map<number, ProcIdentity>();
  const table = new Map(records.map((r) => [r.key.tgid, r]));
  const errors: unknown[] = [];
  const ids = new UserSpaceIdentities({
    identities: {
      lookup: (k) => map.get(k),
      update: (k, v) => { map.set(k, v); },
      delete: (k) => map.delete(k),
    },
    current: (tgid) => table.get(tgid),
    all: () => table.values(),
    selectorsOf: async (r) => {
      const s = selectors[r.key.tgid];
      if (s === undefined) throw new AttestError('PROCESS_GONE', 'gone');
      return s;
    },
    identityAtExec: (r) => kernelIds[r.key.tgid],
    inScope: (r) => r.key.tgid < 1000,
    onError: (err) => errors.push(err),
  });
  return { ids, map, table, errors };
}

const record = (tgid: number, extra: Partial<ProcessRecord> = {}): ProcessRecord => ({
  key: { tgid, startNs: BigInt(tgid) * 1000n }, ppid: 1, parentStartNs: null, uid: 0, gid: 0, comm: 'x', exe: null, execFilename: null,
  exeDev: null, exeIno: null, cgroupId: null, cgroupPath: null, source: 'event', ...extra,
});

const ENTRIES: Entry[] = parseEntriesFile(`entries:
  - spiffeId: spiffe://example.org/by-cgroup
    selectors: [cgroup:path:/app]
  - spiffeId: spiffe://example.org/by-user
    selectors: [unix:user:alice]
`, 'entries.yaml', TrustDomain.parse('example.org'));
const numberOf = (id: SpiffeId): number => (id.path === '/by-cgroup' ? 20 : 21);

describe('UserSpaceIdentities', () => {
  it('gives processes in scope the first matching entry\'s identity, exact to their start time', async () => {
    const { ids, map } = rig([record(10), record(11), record(12), record(2000)], {
      10: ['cgroup:path:/app', 'unix:user:alice'], 11: ['unix:user:alice'], 12: ['unix:user:bob'], 2000: ['cgroup:path:/app'],
    });
    await ids.setEntries(ENTRIES, 2, numberOf);
    expect(map.get(10)).toEqual({ id: 20, coarse: 0, startNs: 10_000n });
    expect(map.get(11)?.id).toBe(21);
    expect(map.has(12)).toBe(false);
    expect(map.has(2000)).toBe(false); // out of the enforcement cgroup: the hooks never see it
  });

  it('keeps the kernel\'s exec-time identity for programs the kernel names, re-asserting it after a racing write', async () => {
    const { ids, map } = rig([record(10, { key: { tgid: 10, startNs: 5n, coarse: true } })], { 10: ['unix:user:alice'] }, { 10: 7 });
    map.set(10, { id: 21, coarse: 0, startNs: 5n }); // a stale write that raced the exec
    await ids.setEntries(ENTRIES, 2, numberOf);
    expect(map.get(10)).toEqual({ id: 7, coarse: 1, startNs: 5n });
  });

  it('removes an identity no entry gives any more, and decides started processes as events arrive', async () => {
    const { ids, map, table, errors } = rig([record(10)], { 10: ['unix:user:alice'], 30: ['cgroup:path:/app'] });
    await ids.setEntries(ENTRIES, 2, numberOf);
    expect(map.get(10)?.id).toBe(21);
    await ids.setEntries(ENTRIES.slice(0, 1), 1, numberOf);
    expect(map.has(10)).toBe(false);
    table.set(30, record(30));
    table.set(31, record(31)); // exits before its selectors are read
    ids.onStarted({ kind: 'started', records: [record(30), record(31)].map((r) => table.get(r.key.tgid) as ProcessRecord) });
    await ids.settled();
    expect(map.get(30)?.id).toBe(20);
    expect(map.has(31)).toBe(false);
    expect(errors).toEqual([]); // a process gone meanwhile is not an error
  });

  it('does not write for a process that exec\'d while its selectors were read, but does for a record merely refreshed', async () => {
    const { ids, map, table } = rig([record(10)], { 10: ['unix:user:alice'] });
    const pending = ids.setEntries(ENTRIES, 2, numberOf);
    table.set(10, record(10, { exeIno: 99n })); // it runs another program now
    await pending;
    expect(map.has(10)).toBe(false);
    const again = ids.sweep();
    table.set(10, record(10, { exeIno: 99n, exe: '/usr/bin/x' })); // the exe path learnt: same program
    await again;
    expect(map.get(10)?.id).toBe(21);
  });
});
