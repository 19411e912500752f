import { describe, expect, it } from 'vitest';
import { KernelHealth, type HealthLog, type WatchedLinks } from '../../../agent/daemon/health.js';
import type { LinkCheck } from '../../../agent/kernel/index.js';

/** Links a test detaches by name; repair() attaches them again (or fails, when told to). */
class FakeLinks implements WatchedLinks {
  readonly detached = new Set<string>();
  repairError: Error | undefined;
  repairs = 0;

  readonly programs: readonly string[];

  constructor(programs: readonly string[]) {
    this.programs = programs;
  }

  check(): LinkCheck[] {
    return this.programs.map((program) => (this.detached.has(program) ? { program, ok: false, detail: 'detached' } : { program, ok: true }));
  }

  repair(): string[] {
    this.repairs++;
    if (this.repairError) throw this.repairError;
    const done = [...this.detached].map((p) => `${p}: re-attached`);
    this.detached.clear();
    return done;
  }
}

function recordingLog(): HealthLog & { lines: Array<[string, object, string]> } {
  const lines: Array<[string, object, string]> = [];
  const at = (level: string) => (obj: object, msg: string): void => { lines.push([level, obj, msg]); };
  return { lines, info: at('info'), warn: at('warn'), error: at('error') };
}

describe('KernelHealth', () => {
  const setup = (): { health: KernelHealth; sock: FakeLinks; proc: FakeLinks; log: ReturnType<typeof recordingLog> } => {
    const sock = new FakeLinks(['handle_connect4', 'handle_bind4']);
    const proc = new FakeLinks(['handle_exec']);
    const log = recordingLog();
    const health = new KernelHealth({ parts: { 'kernel.sock_hooks': sock, 'kernel.proc_tracepoints': proc }, intervalMs: 1000, log });
    return { health, sock, proc, log };
  };

  it('is ready while every link is attached, and repairs nothing', () => {
    const { health, sock, proc, log } = setup();
    health.checkNow();
    expect(health.checks()).toEqual({ 'kernel.sock_hooks': { ok: true }, 'kernel.proc_tracepoints': { ok: true } });
    expect([sock.repairs, proc.repairs, log.lines.length]).toEqual([0, 0, 0]);
  });

  it('names a detached link, is not ready, repairs at once, and is ready again after the next check passes', () => {
    const { health, sock, proc, log } = setup();
    sock.detached.add('handle_connect4');
    health.checkNow();
    expect(health.checks()).toEqual({
      'kernel.sock_hooks': { ok: false, detail: 'handle_connect4: detached' }, 'kernel.proc_tracepoints': { ok: true },
    });
    expect(sock.repairs).toBe(1);
    expect(proc.repairs).toBe(0);
    expect(log.lines.map(([level, obj]) => [level, obj])).toEqual([
      ['error', { check: 'kernel.sock_hooks', programs: ['handle_connect4'], detail: 'handle_connect4: detached' }],
      ['warn', { check: 'kernel.sock_hooks', repaired: ['handle_connect4: re-attached'] }],
    ]);
    health.checkNow();
    expect(health.checks()['kernel.sock_hooks']).toEqual({ ok: true });
    expect(log.lines.at(-1)?.[0]).toBe('info');
    expect(log.lines.at(-1)?.[1]).toEqual({ check: 'kernel.sock_hooks' });
  });

  it('stays not ready while the repair fails, logging each distinct failure once', () => {
    const { health, sock, log } = setup();
    sock.detached.add('handle_bind4');
    sock.repairError = new Error('attach: ENOENT (the cgroup is gone)');
    for (let i = 0; i < 3; i++) health.checkNow();
    expect(health.checks()['kernel.sock_hooks']).toEqual({ ok: false, detail: 'handle_bind4: detached' });
    expect(sock.repairs).toBe(3);
    expect(log.lines.map(([level, , msg]) => [level, msg])).toEqual([
      ['error', 'kernel programs detached or unpinned behind the agent\'s back: not ready; repairing'],
      ['error', 'kernel programs not repaired; will retry'],
    ]);
    sock.repairError = undefined;
    health.checkNow(); // repaired now
    health.checkNow(); // and checked
    expect(health.checks()['kernel.sock_hooks']).toEqual({ ok: true });
  });

  it('counts a check that throws as failing', () => {
    const log = recordingLog();
    const broken: WatchedLinks = { check: () => { throw new Error('bpf_obj_get_info_by_fd: EBADF'); }, repair: () => [] };
    const health = new KernelHealth({ parts: { 'kernel.sock_hooks': broken }, intervalMs: 1000, log });
    health.checkNow();
    expect(health.checks()).toEqual({ 'kernel.sock_hooks': { ok: false, detail: '(check): bpf_obj_get_info_by_fd: EBADF' } });
  });

  it('checks once in start(), before the first interval (the e2e test sees the interval at work)', () => {
    const { health, sock } = setup();
    sock.detached.add('handle_bind4');
    health.start();
    try {
      expect(sock.repairs).toBe(1);
      expect(health.checks()['kernel.sock_hooks']?.ok).toBe(false);
    } finally {
      health.stop();
    }
  });
});
