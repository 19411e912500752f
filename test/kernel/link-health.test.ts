import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BpfLink, BpfObject, KernelError, Mode, ProcEventSource, SockPrograms, Unidentified, bpfObjectPath, ensureBpffs, uninstall,
} from '../../agent/kernel/index.js';
import { openFds } from '../support/fd-count.js';
import { openSockRig, type SockRig } from '../support/sock-workload.js';
import { waitFor } from '../support/wait.js';
import { freePortSync } from '../support/free-port.js';

// Links detached or unpinned behind the owner's back (what `tether uninstall` or `bpftool link
// detach` does to a running agent): check() names them, repair() puts them back. The hooks sit on
// a child cgroup with their own pin dir; an unidentified connect there is denied while they hold.
const PIN_DIR = `/sys/fs/bpf/tether-test-health-${process.pid}`;
const PORT = freePortSync();
const SERVER = 901;

/** What `tether uninstall` does to one link: open its pin, BPF_LINK_DETACH, close. */
function detachPinned(name: string): void {
  const link = BpfLink.openPinned(join(PIN_DIR, name));
  try { link.detach(); } finally { link.destroy(); }
}

/** The fd count once it equals `expected` or has not for 2 s: the python workloads' pipes close
 * a moment after they exit; a leak never settles. */
async function settledFds(expected: number): Promise<number> {
  const deadline = Date.now() + 2000;
  for (;;) {
    const n = await openFds();
    if (n === expected || Date.now() > deadline) return n;
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('ProcEventSource: its tracepoint links cannot be detached from outside', () => {
  it('refuses BPF_LINK_DETACH on a tp_btf link (EOPNOTSUPP); the link stays attached and its program runs', async () => {
    const dir = `${PIN_DIR}-tp`;
    ensureBpffs(dir);
    const object = BpfObject.load(bpfObjectPath('proc'));
    try {
      const link = object.attach('handle_exec');
      link.pin(join(dir, 'link_exec'));
      const outside = BpfLink.openPinned(join(dir, 'link_exec')); // what `tether uninstall` or bpftool holds
      try {
        expect(() => outside.detach()).toThrow(KernelError);
        try { outside.detach(); } catch (err) { expect((err as KernelError).errno).toBe('EOPNOTSUPP'); }
        expect(outside.info()).toMatchObject({ typeName: 'raw_tracepoint', tpName: 'sched_process_exec' });
        expect(outside.attached()).toBe(true);
      } finally {
        outside.destroy();
      }
      link.destroy();
    } finally {
      object.close();
      uninstall(dir);
    }
    expect(existsSync(dir)).toBe(false);
  });

  it('check() reports its tracepoints attached, and repair() has nothing to do', async () => {
    const before = await openFds();
    let execs = 0;
    const source = ProcEventSource.open({ onEvents: (events) => { execs += events.length; } });
    try {
      expect(source.check()).toEqual(['handle_exec', 'handle_fork', 'handle_exit', 'handle_cgroup_move'].map((program) => ({ program, ok: true })));
      expect(source.repair()).toEqual([]);
      spawnSync('/bin/true');
      await waitFor('an event', () => { source.drain(); return execs > 0; });
    } finally {
      source.close();
    }
    expect(await settledFds(before)).toBe(before);
  });
});

describe('SockPrograms: links detached behind its back are found and repaired', () => {
  let rig: SockRig;
  let sock: SockPrograms;
  const denied = async (): Promise<string> => rig.run.connect(undefined, '127.0.0.1', PORT);
  const failing = (): string[] => sock.check().filter((c) => !c.ok).map((c) => c.program);

  beforeAll(async () => {
    rig = await openSockRig({ name: 'tether-kt-health', pinDir: PIN_DIR, serverId: SERVER, port: PORT });
    sock = rig.sock;
    sock.maps.config.update(0, { mode: Mode.ENFORCE, unidentified: Unidentified.DENY, generation: 0, enabled: 1, agentTgid: 0 });
  });
  afterAll(async () => {
    await rig?.close();
  });

  it('reports every hook attached and pinned after open', async () => {
    expect(sock.check()).toEqual([
      'handle_bind4', 'handle_bind6', 'handle_connect4', 'handle_connect6', 'handle_sockops', 'handle_ingress',
      'handle_identity_exec', 'handle_identity_fork', 'handle_identity_exit',
    ].map((program) => ({ program, ok: true })));
    expect(await denied()).toBe('EPERM');
  });

  it('finds a detached connect hook (the connect is allowed meanwhile), re-attaches and re-pins it', async () => {
    const before = await openFds();
    const pin = join(PIN_DIR, 'link_connect4');
    const oldId = BpfLink.openPinned(pin);
    const staleId = oldId.info().id;
    oldId.destroy();
    detachPinned('link_connect4');
    expect(sock.check().find((c) => c.program === 'handle_connect4')).toEqual({ program: 'handle_connect4', ok: false, detail: 'detached behind the agent\'s back' });
    expect(failing()).toEqual(['handle_connect4']);
    expect(await denied()).toBe('ok'); // the detach was real: the hook no longer runs

    expect(sock.repair()).toEqual([`handle_connect4: re-attached, pinned at ${pin}`]);
    expect(failing()).toEqual([]);
    expect(await denied()).toBe('EPERM');
    // The pin names the new link (a restarted agent adopts what enforces, not the stale one).
    const pinned = BpfLink.openPinned(pin);
    try {
      expect(pinned.attached()).toBe(true);
      expect(pinned.info()).toMatchObject({ typeName: 'cgroup', cgroupId: rig.cg.id });
      expect(pinned.info().id).not.toBe(staleId);
    } finally {
      pinned.destroy();
    }
    expect(sock.repair()).toEqual([]); // nothing left to do
    expect(await settledFds(before)).toBe(before); // the stale link's fd closed, the pins' too
  });

  it('finds a removed pin (the link stays attached while held) and pins it again', async () => {
    rmSync(join(PIN_DIR, 'link_bind4'));
    rmSync(join(PIN_DIR, 'link_identity_exec'));
    expect(sock.check().filter((c) => !c.ok)).toEqual([
      { program: 'handle_bind4', ok: false, detail: `attached, but its pin ${join(PIN_DIR, 'link_bind4')} is gone: it would detach when the agent stops` },
      { program: 'handle_identity_exec', ok: false, detail: `attached, but its pin ${join(PIN_DIR, 'link_identity_exec')} is gone: it would detach when the agent stops` },
    ]);
    expect(await denied()).toBe('EPERM'); // still enforcing: we hold the fds
    expect(sock.repair()).toEqual([
      `handle_bind4: pinned again at ${join(PIN_DIR, 'link_bind4')}`, `handle_identity_exec: pinned again at ${join(PIN_DIR, 'link_identity_exec')}`,
    ]);
    expect(failing()).toEqual([]);
  });

  it('after `tether uninstall` under it: re-attaches every hook, re-pins links and maps; the next owner adopts them', async () => {
    const removed = uninstall(PIN_DIR);
    expect(removed).toHaveLength(34); // 25 maps (7 of them behaviour profiles') and 9 links
    expect(failing()).toHaveLength(9); // cgroup hooks detached; the tracepoints (no detach) lost their pins
    expect(await denied()).toBe('ok');
    const repaired = sock.repair();
    expect(repaired.filter((r) => r.startsWith('map pinned again'))).toHaveLength(25);
    expect(repaired.filter((r) => r.includes(': re-attached, pinned at'))).toHaveLength(6);
    expect(repaired.filter((r) => r.includes(': pinned again at'))).toHaveLength(3);
    expect(readdirSync(PIN_DIR).sort()).toEqual(removed.map((p) => p.slice(PIN_DIR.length + 1)).sort());
    expect(failing()).toEqual([]);
    expect(await denied()).toBe('EPERM');
    // A restarted agent adopts these links and reads the maps they use (the config set above).
    const next = SockPrograms.open({ pinDir: PIN_DIR, cgroup: rig.cg.path });
    try {
      expect(next.link).toBe('adopted');
      expect(next.maps.config.lookup(0)).toMatchObject({ enabled: 1, unidentified: Unidentified.DENY });
      next.maps.config.update(0, { mode: Mode.ENFORCE, unidentified: Unidentified.ALLOW, generation: 0, enabled: 1, agentTgid: 0 });
      expect(await denied()).toBe('ok'); // one set of maps: the first owner's programs see the change
      next.maps.config.update(0, { mode: Mode.ENFORCE, unidentified: Unidentified.DENY, generation: 0, enabled: 1, agentTgid: 0 });
    } finally {
      next.release();
    }
  });

  it('a restarted owner attaches a pinned link found detached instead of adopting it', async () => {
    sock.release();
    detachPinned('link_connect6');
    detachPinned('link_connect4');
    expect(await denied()).toBe('ok');
    const again = SockPrograms.open({ pinDir: PIN_DIR, cgroup: rig.cg.path });
    try {
      expect(again.link).toBe('attached');
      expect(again.check().filter((c) => !c.ok)).toEqual([]);
      expect(await denied()).toBe('EPERM');
    } finally {
      again.release();
    }
  });
});
