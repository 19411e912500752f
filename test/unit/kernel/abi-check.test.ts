import { describe, expect, it } from 'vitest';
import { checkAbi } from '../../../agent/kernel/abi-check.js';
import { LAYOUT } from '../../../agent/kernel/abi.gen.js';
import { KernelError } from '../../../agent/kernel/errors.js';

type Layout = Record<string, { size: number; fields: Record<string, number> }>;

const GENERATED: Layout = {
  point: { size: 16, fields: { x: 0, y: 8 } },
  key: { size: 8, fields: { file: 0, line: 2, err: 4 } },
};

/** A deep copy the test may change without touching GENERATED. */
function copy(l: Layout): Layout {
  return structuredClone(l);
}

function mismatch(native: Layout, generated: Layout = GENERATED): KernelError {
  try {
    checkAbi(native, generated);
  } catch (e) {
    expect(e).toBeInstanceOf(KernelError);
    expect((e as KernelError).code).toBe('ABI_MISMATCH');
    return e as KernelError;
  }
  return expect.unreachable('checkAbi accepted differing layouts');
}

describe('checkAbi', () => {
  it('passes equal layouts', () => {
    expect(() => checkAbi(copy(GENERATED), GENERATED)).not.toThrow();
  });

  it('passes the generated layout against itself by default', () => {
    expect(() => checkAbi(structuredClone(LAYOUT) as unknown as Layout)).not.toThrow();
  });

  it('refuses a changed offset, naming the struct and field with both values', () => {
    const n = copy(GENERATED);
    n.point = { size: 16, fields: { x: 0, y: 4 } };
    expect(mismatch(n).message).toContain('offsetof(point, y): BPF 8, addon 4');
  });

  it('refuses a changed size', () => {
    const n = copy(GENERATED);
    n.key = { size: 12, fields: { file: 0, line: 2, err: 4 } };
    expect(mismatch(n).message).toContain('sizeof(key): BPF 8, addon 12');
  });

  it('refuses a struct the addon does not have', () => {
    const n = copy(GENERATED);
    delete n.key;
    expect(mismatch(n).message).toContain('key: missing from the addon');
  });

  it('refuses a struct only the addon has', () => {
    const n = copy(GENERATED);
    n.extra = { size: 4, fields: { a: 0 } };
    expect(mismatch(n).message).toContain('extra: in the addon only');
  });

  it('refuses a field only the addon has, and one it lacks', () => {
    const n = copy(GENERATED);
    n.point = { size: 16, fields: { x: 0, y: 8, z: 12 } };
    expect(mismatch(n).message).toContain('point.z: in the addon only');
    const m = copy(GENERATED);
    m.point = { size: 16, fields: { x: 0 } };
    expect(mismatch(m).message).toContain('offsetof(point, y): BPF 8, addon absent');
  });

  it('names every difference at once', () => {
    const n = copy(GENERATED);
    n.point = { size: 24, fields: { x: 0, y: 16 } };
    delete n.key;
    const message = mismatch(n).message;
    expect(message).toContain('sizeof(point)');
    expect(message).toContain('offsetof(point, y)');
    expect(message).toContain('key: missing');
  });
});
