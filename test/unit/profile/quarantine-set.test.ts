import { describe, expect, it } from 'vitest';
import type { Quarantine } from '../../../agent/kernel/index.js';
import { QuarantineReason } from '../../../agent/kernel/index.js';
import { ProfileError, QuarantineSet } from '../../../agent/profile/index.js';
import { FakeBpfMap } from '../../fakes/fake-bpf-map.js';

const TICK = 10_000_000n;

function setup(): { map: FakeBpfMap<number, Quarantine>; set: QuarantineSet; told: number[] } {
  const map = new FakeBpfMap<number, Quarantine>();
  const set = new QuarantineSet({ map: map as never, tickNs: TICK, bootNs: () => 5n });
  const told: number[] = [];
  set.onChange((tgid) => told.push(tgid));
  return { map, set, told };
}

describe('the quarantine set', () => {
  it('is the kernel map: what the kernel quarantined is listed and matched by exact start time', () => {
    const { map, set } = setup();
    map.update(42, { startNs: 1_234_567_891n, sinceNs: 9n, id: 20, reason: QuarantineReason.EXEC, coarse: 0 });
    expect(set.has({ tgid: 42, startNs: 1_234_567_891n })).toBe(true);
    expect(set.has({ tgid: 42, startNs: 1_234_567_892n })).toBe(false); // another process with that pid
    expect(set.has({ tgid: 42, startNs: 1_230_000_000n, coarse: true })).toBe(true); // /proc's tick precision
    expect(set.list()).toEqual([{ key: { tgid: 42, startNs: 1_234_567_891n }, identity: 20, reason: 'exec', sinceNs: 9n }]);
  });

  it('adds for user space, releases by pid, and tells its listeners each time', () => {
    const { map, set, told } = setup();
    set.add({ tgid: 7, startNs: 100n, coarse: true }, 21);
    expect(map.lookup(7)).toEqual({ startNs: 100n, sinceNs: 5n, id: 21, reason: QuarantineReason.AGENT, coarse: 1 });
    expect(set.release(7).reason).toBe('agent');
    expect(map.lookup(7)).toBeUndefined();
    expect(told).toEqual([7, 7]);
    expect(() => set.release(7)).toThrow(ProfileError);
    try { set.release(7); } catch (err) { expect((err as ProfileError).code).toBe('NOT_QUARANTINED'); }
  });
});
