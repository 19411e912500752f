import { describe, expect, it } from 'vitest';
import { ConnectionTable, RecentEvents, type ConnectionView } from '../../../agent/enforce/index.js';

describe('RecentEvents', () => {
  it('keeps the last N in order and tells subscribers of each new one', () => {
    const log = new RecentEvents<number>(3);
    const seen: number[] = [];
    const stop = log.subscribe((n) => seen.push(n));
    for (let i = 1; i <= 5; i++) log.push(i);
    expect(log.recent()).toEqual([3, 4, 5]);
    expect(log.recent(2)).toEqual([4, 5]);
    expect(log.total).toBe(5);
    stop();
    log.push(6);
    expect(seen).toEqual([1, 2, 3, 4, 5]);
  });

  it('drops a listener that throws and keeps telling the others', () => {
    const log = new RecentEvents<number>(2);
    const good: number[] = [];
    log.subscribe(() => { throw new Error('broken stream'); });
    log.subscribe((n) => good.push(n));
    log.push(1);
    log.push(2);
    expect(good).toEqual([1, 2]);
    expect(() => new RecentEvents(0)).toThrow(/positive integer/);
  });
});

describe('ConnectionTable', () => {
  const view = (local: string): ConnectionView => ({ since: '2026-11-23T00:00:00.000Z', role: 'client', local, peer: '127.0.0.1:80', localId: null, peerId: null });

  it('adds on open, removes on close, and stays bounded, counting what it forgot', () => {
    const t = new ConnectionTable(2);
    t.opened(1n, view('a'));
    t.opened(2n, view('b'));
    t.closed(1n);
    expect(t.list().map((c) => c.local)).toEqual(['b']);
    t.opened(3n, view('c'));
    t.opened(4n, view('d'));
    expect(t.list().map((c) => c.local)).toEqual(['c', 'd']);
    expect(t.dropped).toBe(1);
    t.closed(99n); // a connection opened before the agent: nothing to remove
    expect(t.size).toBe(2);
  });
});
