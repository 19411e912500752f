import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generate, generateLayoutHeader } from '../../../agent/kernel/gen-abi.js';
import { LAYOUT, decodeProcEvent, encodeProcEvent, ProcKind } from '../../../agent/kernel/abi.gen.js';
import { packageRoot } from '../../../agent/kernel/paths.js';

// `make build` dumps bpf/abi.bpf.c's BTF; the committed abi.gen.ts must be what it generates.
const BTF = join(packageRoot(), 'build', 'bpf', 'abi.btf.json');

describe('agent/kernel/abi.gen.ts', () => {
  it('is what gen-abi makes of the current bpf/include/tether_abi.h (not stale)', () => {
    expect(existsSync(BTF), `${BTF} is missing: run 'make build' first`).toBe(true);
    const committed = readFileSync(join(packageRoot(), 'agent', 'kernel', 'abi.gen.ts'), 'utf8');
    expect(generate(readFileSync(BTF, 'utf8'))).toBe(committed);
  });

  it('native/src/layout.gen.h lists the same structs and fields (not stale)', () => {
    const committed = readFileSync(join(packageRoot(), 'native', 'src', 'layout.gen.h'), 'utf8');
    expect(generateLayoutHeader(readFileSync(BTF, 'utf8'))).toBe(committed);
    for (const [struct, { fields }] of Object.entries(LAYOUT)) {
      expect(committed).toContain(`S(${struct}, ${Object.keys(fields).map((f) => `F(${f})`).join(' ')})`);
    }
  });

  it('round-trips a process event through its codec at the BTF offsets', () => {
    const ev = {
      kind: ProcKind.EXEC, tgid: 4242, pid: 4243, ppid: 1, startNs: 123_456_789_012n, parentStartNs: 5n,
      cgroupId: 77n, exeIno: 1234n, ktimeNs: 999n, lost: 0n, exeDev: (8 << 20) | 1, uid: 1000, gid: 1001, exitCode: 0,
      comm: 'sleep', filename: '/usr/bin/sleep',
    };
    const buf = encodeProcEvent(ev);
    expect(buf.length).toBe(LAYOUT.tether_proc_event.size);
    expect(buf.readBigUInt64LE(LAYOUT.tether_proc_event.fields.start_ns)).toBe(ev.startNs);
    expect(decodeProcEvent(buf)).toEqual(ev);
    // a 16-byte comm with no NUL stays within its field
    const full = decodeProcEvent(encodeProcEvent({ ...ev, comm: 'abcdefghijklmnopqrstuvwxyz' }));
    expect(full.comm).toBe('abcdefghijklmno');
    expect(full.filename).toBe('/usr/bin/sleep');
  });

  it('refuses a buffer too short for the struct', () => {
    expect(() => decodeProcEvent(Buffer.alloc(10))).toThrow(RangeError);
  });
});
