import { describe, expect, it } from 'vitest';
import { toJson, toTable } from '../../../agent/cli/output.js';

describe('toJson', () => {
  it('writes bigints as decimal strings, at any depth, without losing 64-bit precision', () => {
    const text = toJson({ pid: 7, startNs: 18_446_744_073_709_551_615n, list: [1n, null], nested: { id: 2n ** 53n + 1n } });
    expect(JSON.parse(text)).toEqual({
      pid: 7, startNs: '18446744073709551615', list: ['1', null], nested: { id: '9007199254740993' },
    });
  });

  it('indents by two spaces', () => {
    expect(toJson({ a: 1n })).toBe('{\n  "a": "1"\n}');
  });
});

describe('toTable', () => {
  it('upper-cases the header, aligns columns two spaces apart, and shows null as "-"', () => {
    const rows = [
      { pid: 1, comm: 'systemd', exe: '/usr/lib/systemd/systemd' },
      { pid: 12345, comm: 'kworker/0:1', exe: null },
      { pid: 42, comm: 'sh', exe: undefined },
    ];
    expect(toTable(rows, ['pid', 'comm', 'exe'])).toBe([
      'PID    COMM         EXE',
      '1      systemd      /usr/lib/systemd/systemd',
      '12345  kworker/0:1  -',
      '42     sh           -',
    ].join('\n'));
  });

  it('prints only the columns asked for, in their order, and bigints in full', () => {
    expect(toTable([{ a: 1, b: 18_446_744_073_709_551_615n, c: 'hidden' }], ['b', 'a'])).toBe([
      'B                     A',
      '18446744073709551615  1',
    ].join('\n'));
  });

  it('prints the header alone for no rows', () => {
    expect(toTable([], ['pid', 'exe'])).toBe('PID  EXE');
  });
});
