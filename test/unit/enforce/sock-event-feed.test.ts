import { describe, expect, it } from 'vitest';
import { SockEventFeed, type PolicyEvent, type RawSockEvent } from '../../../agent/enforce/index.js';
import { requireSpiffeId } from '../../../agent/spiffe/index.js';

const names = new Map([[16, requireSpiffeId('spiffe://example.org/web')], [17, requireSpiffeId('spiffe://example.org/db')]]);
const BOOT_NOW = 100_000_000_000n; // 100 s after boot
const WALL_NOW = Date.parse('2026-11-23T08:00:00.000Z');

const raw = (over: Partial<RawSockEvent>): RawSockEvent => ({
  ktimeNs: BOOT_NOW - 2_000_000_000n, cookie: 1n, kind: 'verdict', role: 'client', tgid: 4242, localId: 16, peerId: 17, family: 4,
  localPort: 0, peerPort: 5432, verdict: 'deny', mode: 'enforce', localAddr: Buffer.alloc(16), peerAddr: Buffer.from([127, 0, 0, 1, ...Array(12).fill(0)]),
  comm: 'psql', ...over,
});

function feed() {
  const told: PolicyEvent[] = [];
  const f = new SockEventFeed({ idOf: (n) => names.get(n), bootNs: () => BOOT_NOW, nowMs: () => WALL_NOW, onPolicyEvent: (e) => told.push(e) });
  return { f, told };
}

describe('SockEventFeed', () => {
  it('turns verdict events into policy events with SPIFFE IDs, wall time and the destination', () => {
    const { f, told } = feed();
    const v6 = Buffer.alloc(16);
    v6[15] = 1;
    f.apply([raw({}), raw({ verdict: 'audit', mode: 'audit', localId: 0, peerId: 99, family: 6, peerAddr: v6, peerPort: 443 })]);
    expect(told).toEqual([
      { time: '2026-11-23T07:59:58.000Z', verdict: 'deny', mode: 'enforce', pid: 4242, comm: 'psql', from: 'spiffe://example.org/web',
        to: 'spiffe://example.org/db', destination: '127.0.0.1:5432' },
      expect.objectContaining({ verdict: 'audit', from: null, to: '#99', destination: '[::1]:443' }), // a number no entry names any more
    ]);
    expect(f.events.recent()).toEqual(told);
  });

  it('reports a direct inbound connection: refused under strict (deny), let in unauthenticated under permissive (audit)', () => {
    const { f, told } = feed();
    const local = Buffer.from([10, 0, 0, 2, ...Array(12).fill(0)]);
    const remote = Buffer.from([10, 0, 0, 1, ...Array(12).fill(0)]);
    const inbound = { kind: 'inbound', role: 'server', tgid: 0, comm: '', localId: 17, peerId: 0, localAddr: local, localPort: 5432, peerAddr: remote, peerPort: 40000 } as const;
    f.apply([raw({ ...inbound, verdict: 'deny' }), raw({ ...inbound, verdict: 'allow' })]);
    expect(told).toEqual([
      { time: '2026-11-23T07:59:58.000Z', kind: 'inbound', verdict: 'deny', mode: 'enforce', pid: 0, comm: '', from: null, to: 'spiffe://example.org/db',
        destination: '10.0.0.2:5432', source: '10.0.0.1:40000', reason: expect.stringMatching(/^DIRECT_REFUSED: mesh.inbound strict/) },
      expect.objectContaining({ kind: 'inbound', verdict: 'audit', reason: expect.stringMatching(/^UNAUTHENTICATED: /) }),
    ]);
    expect(f.connections.list()).toEqual([]);
  });

  it('keeps live connections from open and close events, by cookie', () => {
    const { f, told } = feed();
    f.apply([
      raw({ kind: 'open', cookie: 7n, role: 'client', localPort: 40000, localAddr: Buffer.from([127, 0, 0, 1, ...Array(12).fill(0)]) }),
      raw({ kind: 'open', cookie: 8n, role: 'server', localId: 17, peerId: 16, localPort: 5432, peerPort: 40000 }),
    ]);
    expect(f.connections.list()).toEqual([
      { since: '2026-11-23T07:59:58.000Z', role: 'client', local: '127.0.0.1:40000', peer: '127.0.0.1:5432', localId: 'spiffe://example.org/web', peerId: 'spiffe://example.org/db' },
      expect.objectContaining({ role: 'server', localId: 'spiffe://example.org/db', peerId: 'spiffe://example.org/web' }),
    ]);
    f.apply([raw({ kind: 'close', cookie: 7n })]);
    expect(f.connections.list().map((c) => c.role)).toEqual(['server']);
    expect(told).toEqual([]); // opens and closes are not policy events
  });
});
