import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Mode, SockEventKind, SockPrograms, SockRole, Unidentified, Verdict, bootTimeNs, type SockEvent,
} from '../../agent/kernel/index.js';
import { CONNECT_PY, openSockRig, type SockRig, type SockWorkloads } from '../support/sock-workload.js';
import { TestCgroup } from '../support/test-cgroup.js';
import { waitFor } from '../support/wait.js';
import { freePortSync } from '../support/free-port.js';

// The sock_events ring: a verdict event for every deny and would-deny (never for an allow), and
// sockops' open and close of each identified connection, one per side, joined by socket cookie.
const PIN_DIR = `/sys/fs/bpf/tether-test-events-${process.pid}`;
const A = 601;
const B = 602;
const PORT = freePortSync();
const LOOPBACK = { 4: Buffer.from([127, 0, 0, 1, ...Array(12).fill(0)]), 6: Buffer.from([...Array(15).fill(0), 1]) };

describe('sock events: verdicts and connections', () => {
  let rig: SockRig;
  let cg: TestCgroup;
  let sock: SockPrograms;
  let run: SockWorkloads;
  const events: SockEvent[] = [];
  const config = (mode: number) => sock.maps.config.update(0, { mode, unidentified: Unidentified.ALLOW, generation: 0, enabled: 1, agentTgid: 0 });
  const since = (n: number, kind?: number) => events.slice(n).filter((e) => kind === undefined || e.kind === kind);

  /** Connects as `id` and keeps the connection until `close()`; `port` is its local port. */
  async function connectHolding(id: number, host6: boolean): Promise<{ port: number; close: () => Promise<void> }> {
    const w = await run.python(id, `${CONNECT_PY}attempt(${JSON.stringify(host6 ? '::1' : '127.0.0.1')}, ${PORT}, hold=True)`);
    const line = await w.line('ok ');
    return { port: Number(line.split(' ')[1]), close: async () => { w.say(''); await w.done; } };
  }

  beforeAll(async () => {
    rig = await openSockRig({ name: 'tether-kt-events', pinDir: PIN_DIR, serverId: B, port: PORT, onEvents: (batch) => events.push(...batch) });
    ({ cg, sock, run } = rig);
  });
  afterAll(async () => {
    await rig?.close();
  });

  it('reports a deny once, with every field', async () => {
    config(Mode.ENFORCE);
    const before = bootTimeNs();
    const n = events.length;
    const w = await run.python(A, `${CONNECT_PY}print(attempt("127.0.0.1", ${PORT}))`);
    await w.done;
    expect(w.output().trim()).toBe('EPERM');
    sock.drainEvents();
    const got = since(n);
    expect(got).toHaveLength(1);
    const e = got[0] as SockEvent;
    expect(e).toMatchObject({
      kind: SockEventKind.VERDICT, tgid: w.pid, comm: 'python3', localId: A, peerId: B, family: 4, localPort: 0, peerPort: PORT,
      verdict: Verdict.DENY, mode: Mode.ENFORCE, cgroupId: cg.id, role: SockRole.CLIENT,
    });
    expect(e.peerAddr.equals(LOOPBACK[4])).toBe(true);
    expect(e.localAddr.equals(Buffer.alloc(16))).toBe(true);
    expect(e.cookie).toBeGreaterThan(0n);
    expect(e.ktimeNs).toBeGreaterThanOrEqual(before);
    expect(e.ktimeNs).toBeLessThanOrEqual(bootTimeNs());
  });

  it('reports a would-deny in audit mode once (IPv6), and nothing for an allowed connect', async () => {
    config(Mode.AUDIT);
    let n = events.length;
    const w = await run.python(A, `${CONNECT_PY}print(attempt("::1", ${PORT}))`);
    await w.done;
    expect(w.output().trim()).toBe('ok');
    sock.drainEvents();
    const audited = since(n, SockEventKind.VERDICT);
    expect(audited).toHaveLength(1);
    expect(audited[0]).toMatchObject({ tgid: w.pid, localId: A, peerId: B, family: 6, peerPort: PORT, verdict: Verdict.AUDIT, mode: Mode.AUDIT });
    expect(audited[0]?.peerAddr.equals(LOOPBACK[6])).toBe(true);
    config(Mode.ENFORCE);
    sock.maps.policy.update({ src: A, dst: B, port: PORT, generation: 0 }, 1);
    n = events.length;
    expect(await run.connect(A, '127.0.0.1', PORT)).toBe('ok');
    sock.drainEvents();
    expect(since(n, SockEventKind.VERDICT)).toEqual([]);
  });

  it.each([[4], [6]] as const)('reports both ends of an identified connection opening and closing (IPv%i)', async (family) => {
    config(Mode.ENFORCE);
    sock.maps.policy.update({ src: A, dst: B, port: PORT, generation: 0 }, 1);
    const n = events.length;
    const conn = await connectHolding(A, family === 6);
    const opens = await waitFor('both opens', () => { sock.drainEvents(); const o = since(n, SockEventKind.OPEN); return o.length >= 2 && o; });
    const client = opens.find((e) => e.role === SockRole.CLIENT);
    const server = opens.find((e) => e.role === SockRole.SERVER);
    expect(opens).toHaveLength(2);
    expect(client).toMatchObject({ localId: A, peerId: B, family, localPort: conn.port, peerPort: PORT, tgid: 0, cgroupId: 0n });
    expect(server).toMatchObject({ localId: B, peerId: A, family, localPort: PORT, peerPort: conn.port, tgid: 0, cgroupId: 0n });
    for (const e of [client, server]) {
      expect(e?.localAddr.equals(LOOPBACK[family])).toBe(true);
      expect(e?.peerAddr.equals(LOOPBACK[family])).toBe(true);
    }
    expect(client?.cookie).not.toBe(server?.cookie);
    await conn.close();
    const closes = await waitFor('both closes', () => { sock.drainEvents(); const c = since(n, SockEventKind.CLOSE); return c.length >= 2 && c; });
    expect(closes.map((e) => e.cookie).sort()).toEqual([client?.cookie, server?.cookie].sort());
    expect(closes.find((e) => e.cookie === server?.cookie)).toMatchObject({ role: SockRole.SERVER, localId: B, peerId: A, localPort: PORT });
  });

  it('says nothing of connections without identities, and lost no event', async () => {
    sock.maps.config.update(0, { mode: Mode.ENFORCE, unidentified: Unidentified.ALLOW, generation: 0, enabled: 0, agentTgid: 0 }); // no policy
    const n = events.length;
    expect(await run.connect(undefined, '127.0.0.1', PORT)).toBe('ok'); // the server's side is identified: one open, one close
    await waitFor('the server\'s close', () => { sock.drainEvents(); return since(n, SockEventKind.CLOSE).length >= 1 || undefined; });
    expect(since(n).map((e) => [e.kind, e.role, e.localId, e.peerId])).toEqual([[SockEventKind.OPEN, SockRole.SERVER, B, 0], [SockEventKind.CLOSE, SockRole.SERVER, B, 0]]);
    expect(sock.eventsLost()).toBe(0n);
  });
});
