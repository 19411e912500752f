import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BpfObject, KernelError, ProcEventSource, checkAbi, LAYOUT, native, packageRoot, u32, u64 } from '../../agent/kernel/index.js';
import { openFds } from '../support/fd-count.js';

const TEST_OBJ = join(packageRoot(), 'build', 'test-bpf', 'cgroup_allow.bpf.o');

function caught(fn: () => unknown): KernelError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(KernelError);
    return err as KernelError;
  }
  throw new Error('expected a KernelError, nothing was thrown');
}

describe('addon errors are typed, name what failed, and leave the process running', () => {
  it('loading a missing object: BPF_OPEN, ENOENT, the path', () => {
    const err = caught(() => BpfObject.load('/nonexistent/thing.bpf.o'));
    expect(err.code).toBe('BPF_OPEN');
    expect(err.errno).toBe('ENOENT');
    expect(err.message).toContain('/nonexistent/thing.bpf.o');
    expect((err.cause as { path?: string }).path).toBe('/nonexistent/thing.bpf.o');
  });

  it('attaching to a missing cgroup: ATTACH, ENOENT, the program and the directory', () => {
    const obj = BpfObject.load(TEST_OBJ);
    try {
      const err = caught(() => obj.attachCgroup('allow_connect4', '/sys/fs/cgroup/unified/no-such-cgroup-here'));
      expect(err.code).toBe('ATTACH');
      expect(err.errno).toBe('ENOENT');
      expect(err.message).toContain('allow_connect4');
      expect(err.message).toContain('no-such-cgroup-here');
    } finally {
      obj.close();
    }
  });

  it('updating a map with a wrong-sized key: MAP, EINVAL, the map; the map still works after', () => {
    const obj = BpfObject.load(TEST_OBJ);
    try {
      const wrong = obj.map('test_hash', u32, u64); // the map's key is 8 bytes
      const err = caught(() => wrong.update(7, 1n));
      expect(err.code).toBe('MAP');
      expect(err.errno).toBe('EINVAL');
      expect(err.message).toContain('test_hash');
      const right = obj.map('test_hash', u64, u64);
      right.update(7n, 42n);
      expect(right.lookup(7n)).toBe(42n);
      expect(right.delete(7n)).toBe(true);
      expect(right.delete(7n)).toBe(false);
    } finally {
      obj.close();
    }
  });

  it('a verifier refusal carries the verifier log', () => {
    // Loading the object as a whole works; asking for a program that is not there is typed too.
    const obj = BpfObject.load(TEST_OBJ);
    try {
      const err = caught(() => obj.attach('no_such_program'));
      expect(err.code).toBe('ATTACH');
      expect(err.errno).toBe('ENOENT');
    } finally {
      obj.close();
    }
  });

  it('uses a closed object: CLOSED, not a crash', () => {
    const obj = BpfObject.load(TEST_OBJ);
    obj.close();
    obj.close(); // idempotent
    expect(caught(() => obj.mapFd('test_hash')).code).toBe('CLOSED');
  });

  it('the ABI check passes against this build and fails loudly on a deliberate mismatch', () => {
    const real = native().layout();
    expect(() => checkAbi(real)).not.toThrow();
    const bent = structuredClone(real);
    const ev = bent.tether_proc_event;
    if (!ev) throw new Error('the addon does not report tether_proc_event');
    ev.fields.start_ns = (ev.fields.start_ns ?? 0) + 4;
    const err = caught(() => checkAbi(bent));
    expect(err.code).toBe('ABI_MISMATCH');
    expect(err.message).toContain(`offsetof(tether_proc_event, start_ns): BPF ${LAYOUT.tether_proc_event.fields.start_ns}`);
  });

  it('opening and closing the process event source leaks no fd', async () => {
    const before = await openFds();
    for (let i = 0; i < 3; i++) ProcEventSource.open({ onEvents: () => {} }).close();
    expect(await openFds()).toBe(before);
  });
});
