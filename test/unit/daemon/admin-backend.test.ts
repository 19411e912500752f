import { describe, expect, it } from 'vitest';
import { AdminError } from '../../../agent/admin/index.js';
import { AttestError, type ProcessRecord } from '../../../agent/attest/index.js';
import { adminBackend, type AgentParts } from '../../../agent/daemon/admin-backend.js';
import { parseEntriesFile } from '../../../agent/registry/index.js';
import { requireSpiffeId } from '../../../agent/spiffe/index.js';
import { agentStatus as statusFixture, caStatus, processes } from '../../fakes/fake-admin-backend.js';

describe('adminBackend', () => {
  const entries = parseEntriesFile([
    'entries:',
    '  - spiffeId: spiffe://example.org/web',
    '    selectors: ["unix:uid:1000", "unix:path:/usr/bin/python3"]',
    '  - spiffeId: spiffe://example.org/any',
    '    selectors: ["unix:uid:1000"]',
  ].join('\n'), 'entries.yaml');
  const record = { key: { tgid: 42, startNs: 1n } } as unknown as ProcessRecord;

  function agent(overrides: Partial<AgentParts> = {}): AgentParts & { syncs: number; queries: unknown[] } {
    const state = { syncs: 0, queries: [] as unknown[] };
    return Object.assign(state, {
      status: () => statusFixture(),
      tracker: { sync: () => { state.syncs += 1; }, table: { current: (pid: number) => (pid === 42 ? record : undefined) } } as unknown as AgentParts['tracker'],
      describer: { all: () => processes() },
      selectors: { selectorsOf: async (_r: ProcessRecord, q: unknown) => { state.queries.push(q); return ['unix:uid:1000', 'unix:gid:1000']; } },
      entries: { current: () => entries },
      ca: { status: () => caStatus(), rotate: async () => ({ x509: { previous: 'a', active: 'b' }, jwt: { previous: 'c', active: 'd' } }) },
      tunnels: undefined,
      posture: { check: async () => { throw new Error('no entry here asks for posture'); } },
      ...overrides,
    });
  }

  it('lists no tunnels without the mesh, and each tunnel as plain values with it', () => {
    expect(adminBackend(undefined, agent()).tunnels()).toEqual([]);
    const id = (t: string) => requireSpiffeId(t);
    const view = {
      since: new Date('2025-01-01T12:00:00.000Z'), side: 'server' as const, sourceId: id('spiffe://example.org/a'), destId: id('spiffe://example.org/b'),
      destination: { host: 'fd00::2', port: 8000 }, peer: '[fd00::1]:40100', mode: 'userspace' as const, bytes: { toDestination: 3, fromDestination: 4 },
    };
    expect(adminBackend(undefined, agent({ tunnels: () => [view] })).tunnels()).toEqual([{
      since: '2025-01-01T12:00:00.000Z', side: 'server', sourceId: 'spiffe://example.org/a', destId: 'spiffe://example.org/b', original: '[fd00::2]:8000',
      peer: '[fd00::1]:40100', mode: 'userspace', bytesToDestination: 3, bytesFromDestination: 4,
    }]);
  });

  it('matches a process against the entries in force, after draining the kernel\'s events', async () => {
    const a = agent();
    const match = await adminBackend(undefined, a).matchEntries(42);
    expect(a.syncs).toBe(1);
    expect(a.queries).toEqual([{ sha256: false }]);
    expect(match).toEqual({
      pid: 42, selectors: ['unix:uid:1000', 'unix:gid:1000'],
      entries: [
        { id: entries[0]?.id, spiffeId: 'spiffe://example.org/web', matched: false, missing: ['unix:path:/usr/bin/python3'], posture: [] },
        { id: entries[1]?.id, spiffeId: 'spiffe://example.org/any', matched: true, missing: [], posture: [] },
      ],
    });
  });

  describe('posture', () => {
    const gated = parseEntriesFile([
      'entries:',
      '  - spiffeId: spiffe://example.org/web',
      '    selectors: ["unix:uid:1000"]',
      '    posture: { noNewPrivs: true }',
      '  - spiffeId: spiffe://example.org/other',
      '    selectors: ["unix:uid:2000"]',
      '    posture: { seccomp: filter }',
      '  - spiffeId: spiffe://example.org/plain',
      '    selectors: ["unix:uid:1000"]',
    ].join('\n'), 'entries.yaml');
    const checked: unknown[] = [];
    const checker = {
      check: async (_r: ProcessRecord, p: object) => {
        checked.push(p);
        return 'noNewPrivs' in p ? [{ check: 'noNewPrivs' as const, ok: false, evidence: 'NoNewPrivs is 0' }] : [{ check: 'seccomp' as const, ok: true, evidence: 'Seccomp is 2 (filter), required filter' }];
      },
    };

    it('reports each matched entry that asks for checks, with every verdict', async () => {
      const report = await adminBackend(undefined, agent({ entries: { current: () => gated }, posture: checker })).posture(42);
      expect(report).toEqual({ pid: 42, entries: [{ id: gated[0]?.id, spiffeId: 'spiffe://example.org/web', checks: [{ check: 'noNewPrivs', ok: false, evidence: 'NoNewPrivs is 0' }] }] });
    });

    it('shows posture beside selectors in entry match, for unmatched entries too', async () => {
      const match = await adminBackend(undefined, agent({ entries: { current: () => gated }, posture: checker })).matchEntries(42);
      expect(match.entries.map((e) => [e.spiffeId, e.matched, e.posture.map((c) => `${c.check}:${c.ok}`)])).toEqual([
        ['spiffe://example.org/web', true, ['noNewPrivs:false']], ['spiffe://example.org/other', false, ['seccomp:true']], ['spiffe://example.org/plain', true, []],
      ]);
    });

    it('a process gone while its posture was read is BAD_REQUEST; an unknown pid too', async () => {
      const gone = { check: async () => { throw new AttestError('PROCESS_GONE', 'gone'); } };
      await expect(adminBackend(undefined, agent({ entries: { current: () => gated }, posture: gone })).posture(42)).rejects
        .toMatchObject({ code: 'BAD_REQUEST', message: 'pid: process 42 exited while it was read' });
      await expect(adminBackend(undefined, agent()).posture(7)).rejects.toMatchObject({ code: 'BAD_REQUEST', message: 'pid: no process 7 in the process table' });
    });
  });

  it('asks for the executable\'s digest only when an entry names one', async () => {
    const withDigest = parseEntriesFile(`entries:\n  - spiffeId: spiffe://example.org/x\n    selectors: ["unix:sha256:${'a'.repeat(64)}"]\n`, 'e.yaml');
    const a = agent({ entries: { current: () => withDigest } });
    await adminBackend(undefined, a).matchEntries(42);
    expect(a.queries).toEqual([{ sha256: true }]);
  });

  it('a pid not in the table, or gone while read, is BAD_REQUEST (the CLI\'s exit 2)', async () => {
    await expect(adminBackend(undefined, agent()).matchEntries(7)).rejects.toMatchObject({ code: 'BAD_REQUEST', message: 'pid: no process 7 in the process table' });
    const gone = agent({ selectors: { selectorsOf: async () => { throw new AttestError('PROCESS_GONE', 'gone'); } } });
    await expect(adminBackend(undefined, gone).matchEntries(42)).rejects.toMatchObject({ code: 'BAD_REQUEST', message: 'pid: process 42 exited while it was read' });
  });

  it('lists processes after draining; CA status and rotation are the CA\'s', async () => {
    const a = agent();
    const backend = adminBackend(undefined, a);
    expect(backend.processes()).toEqual(processes());
    expect(a.syncs).toBe(1);
    expect(backend.caStatus()).toEqual(caStatus());
    expect(await backend.rotateCa()).toEqual({ x509: { previous: 'a', active: 'b' }, jwt: { previous: 'c', active: 'd' } });
    expect(backend.status()).toEqual(statusFixture());
  });

  it('without --policy, refuses the policy methods NOT_ENFORCING but answers the rest', () => {
    const backend = adminBackend(undefined, agent());
    expect(() => backend.connections()).toThrow(AdminError);
    expect(() => backend.unusedRules()).toThrow(expect.objectContaining({ code: 'NOT_ENFORCING' }));
    expect(backend.status().version).toBe('9.8.7');
  });
});
