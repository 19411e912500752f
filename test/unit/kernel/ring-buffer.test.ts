import { describe, expect, it } from 'vitest';
import { LAYOUT, decodeProcEvent, encodeProcEvent } from '../../../agent/kernel/abi.gen.js';
import { ProcKind } from '../../../agent/kernel/index.js';
import { RingBuffer } from '../../../agent/kernel/ring-buffer.js';

/** A batch as native/src/ringbuf.cc frames it: [u32 length LE][sample][zeros to the next 8 bytes]. */
function frames(samples: readonly Buffer[]): Buffer {
  const parts = samples.map((s) => {
    const f = Buffer.alloc(Math.ceil((4 + s.length) / 8) * 8);
    f.writeUInt32LE(s.length, 0);
    s.copy(f, 4);
    return f;
  });
  return Buffer.concat(parts);
}

/** A sample of `len` bytes whose first four hold `id`. */
function sample(id: number, len: number): Buffer {
  const b = Buffer.alloc(len, 0xee);
  b.writeUInt32LE(id, 0);
  return b;
}

describe('RingBuffer.split', () => {
  it('decodes each frame at its sample, stepping over the padding whatever the lengths', () => {
    const offsets: number[] = [];
    const decode = (b: Buffer, o: number): number => {
      offsets.push(o);
      return b.readUInt32LE(o);
    };
    // 4 + 4 = 8 (no pad), 4 + 9 = 13 (pad 3), 4 + 12 = 16 (no pad), 4 + 5 = 9 (pad 7).
    const batch = frames([sample(11, 4), sample(22, 9), sample(33, 12), sample(44, 5)]);
    expect(batch.length).toBe(8 + 16 + 16 + 16);
    expect(RingBuffer.split(batch, decode)).toEqual([11, 22, 33, 44]);
    expect(offsets).toEqual([4, 12, 28, 44]);
  });

  it('gives no events for an empty batch', () => {
    expect(RingBuffer.split(Buffer.alloc(0), () => 1)).toEqual([]);
  });

  it('round-trips the proc events the kernel writes (each framed to 4 + size, padded to 8)', () => {
    const a = { kind: ProcKind.EXEC, tgid: 10, pid: 10, ppid: 1, startNs: 5n, parentStartNs: 1n, cgroupId: 9n,
      exeIno: 77n, ktimeNs: 123n, lost: 2n, exeDev: 8 << 20, uid: 1000, gid: 100, exitCode: 0, comm: 'app', filename: '/usr/bin/app' };
    const b = { ...a, kind: ProcKind.EXIT, tgid: 11, pid: 11, exitCode: 256, comm: 'other', filename: '' };
    const batch = frames([encodeProcEvent(a), encodeProcEvent(b)]);
    expect(batch.length).toBe(2 * Math.ceil((4 + LAYOUT.tether_proc_event.size) / 8) * 8);
    expect(RingBuffer.split(batch, decodeProcEvent)).toEqual([a, b]);
  });
});
