import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AttestError } from '../../../agent/attest/errors.js';
import { ProcReader, devToKernel, parseStat } from '../../../agent/attest/proc-reader.js';

// A stat line shaped like the kernel's: 52 fields, ppid 41, starttime 987654321.
function statLine(pid: number, comm: string, ppid: number, start: bigint): string {
  const after = ['S', String(ppid), ...Array.from({ length: 17 }, (_, i) => String(i + 100)), String(start)];
  return `${pid} (${comm}) ${after.join(' ')} ${Array.from({ length: 30 }, () => '0').join(' ')}\n`;
}

function status(tgid: number, uid: [number, number], gid: [number, number]): string {
  return [
    'Name:\tdemo', 'Umask:\t0022', 'State:\tS (sleeping)', `Tgid:\t${tgid}`, 'Ngid:\t0', `Pid:\t${tgid}`,
    'PPid:\t41', `Uid:\t${uid[0]}\t${uid[1]}\t${uid[0]}\t${uid[1]}`, `Gid:\t${gid[0]}\t${gid[1]}\t${gid[0]}\t${gid[1]}`,
    'FDSize:\t64', '',
  ].join('\n');
}

describe('parseStat', () => {
  it('splits at the last ")" so a comm with spaces and parens survives', () => {
    const parsed = parseStat(statLine(77, 'a) b (c', 41, 987654321n));
    expect(parsed).toEqual({ state: 'S', ppid: 41, startTicks: 987654321n, comm: 'a) b (c' });
  });

  it('keeps a comm that ends in ")" and one that is empty', () => {
    expect(parseStat(statLine(5, 'x)', 1, 7n)).comm).toBe('x)');
    expect(parseStat(statLine(5, '', 1, 7n))).toEqual({ state: 'S', ppid: 1, startTicks: 7n, comm: '' });
  });

  it('refuses a line without "(comm)" or with too few fields', () => {
    expect(() => parseStat('12 S 1 2 3')).toThrow(AttestError);
    expect(() => parseStat('12 (x) S 1 2 3')).toThrow(/starttime/);
  });

  it('refuses a non-decimal ppid', () => {
    const bad = statLine(5, 'x', 1, 7n).replace(') S 1 ', ') S -1 ');
    try {
      parseStat(bad);
      expect.unreachable();
    } catch (e) {
      expect((e as AttestError).code).toBe('PROC_PARSE');
    }
  });
});

describe('devToKernel', () => {
  it.each([
    ['sda1 8:1', 0x801n, (8 << 20) | 1],
    ['overlay 0:45', 45n, 45],
    ['nvme 259:3', 0x10303n, 259 * 2 ** 20 + 3],
    ['minor above 255 (0:300)', 0x10002cn, 300],
    ['device-mapper 253:17', 0xfd11n, 253 * 2 ** 20 + 17],
  ])('%s', (_name, stDev, kernel) => {
    expect(devToKernel(stDev)).toBe(kernel);
  });

  it('agrees with /proc/self/mountinfo for the filesystem holding this file', () => {
    // mountinfo prints maj:min as the kernel sees them; pick the mount whose device stat reports.
    const dev = statSync(import.meta.dirname, { bigint: true }).dev;
    const kernelDevs = readFileSync('/proc/self/mountinfo', 'utf8').trim().split('\n').map((line) => {
      const [maj, min] = (line.split(' ')[2] ?? '').split(':').map(Number);
      return (maj ?? 0) * 2 ** 20 + (min ?? 0);
    });
    expect(kernelDevs).toContain(devToKernel(dev));
  });

  it('refuses a major wider than the kernel keeps', () => {
    expect(() => devToKernel(0x1000n << 32n)).toThrow(AttestError);
  });
});

describe('ProcReader on a fixture tree', () => {
  let root: string;
  let target: string;

  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'tether-proc-'));
    target = join(root, 'bin-demo');
    writeFileSync(target, 'not really elf');
    const proc = (pid: number, files: Record<string, string>): void => {
      mkdirSync(join(root, String(pid)));
      for (const [name, text] of Object.entries(files)) writeFileSync(join(root, String(pid), name), text);
    };
    proc(100, {
      stat: statLine(100, 'demo )x', 41, 123456n),
      status: status(100, [1000, 1001], [2000, 2002]),
      cgroup: '12:pids:/user.slice\n0::/system.slice/x.service\n',
    });
    symlinkSync(target, join(root, '100', 'exe'));
    proc(2, { stat: statLine(2, 'kthreadd', 0, 3n), status: status(2, [0, 0], [0, 0]), cgroup: '0::/\n' });
    proc(300, { stat: statLine(300, 'v1only', 1, 9n), status: status(300, [0, 0], [0, 0]), cgroup: '1:cpu:/\n' });
    proc(400, { stat: 'garbage', status: status(400, [0, 0], [0, 0]), cgroup: '0::/\n' });
    proc(500, { stat: statLine(500, 's', 1, 9n), status: 'Name:\ts\n', cgroup: '0::/\n' });
    mkdirSync(join(root, 'self'));
    writeFileSync(join(root, 'uptime'), '1 1');
  });

  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('lists only the numeric entries', () => {
    expect(new ProcReader({ procRoot: root }).listPids().sort((a, b) => a - b)).toEqual([2, 100, 300, 400, 500]);
  });

  it('reads every field of a process', () => {
    const st = statSync(target, { bigint: true });
    expect(new ProcReader({ procRoot: root }).read(100)).toEqual({
      tgid: 100, ppid: 41, startTicks: 123456n, uid: 1001, gid: 2002, comm: 'demo )x', state: 'S',
      exe: target, exeDev: devToKernel(st.dev), exeIno: st.ino, cgroupPath: '/system.slice/x.service',
    });
  });

  it('gives a process without exe (a kernel thread) null exe fields', () => {
    const snap = new ProcReader({ procRoot: root }).read(2);
    expect(snap).toMatchObject({ tgid: 2, comm: 'kthreadd', exe: null, exeDev: null, exeIno: null, cgroupPath: '/' });
  });

  it('gives null cgroupPath when there is no cgroup v2 line', () => {
    expect(new ProcReader({ procRoot: root }).read(300)?.cgroupPath).toBeNull();
  });

  it('gives null for a process that is gone', () => {
    expect(new ProcReader({ procRoot: root }).read(999)).toBeNull();
  });

  it('names the file it could not parse', () => {
    const reader = new ProcReader({ procRoot: root });
    expect(() => reader.read(400)).toThrow(join(root, '400', 'stat'));
    expect(() => reader.read(500)).toThrow(/500\/status: .*"Tgid:"/);
  });

  it('refuses an unlistable root with PROC_PARSE', () => {
    const reader = new ProcReader({ procRoot: join(root, 'missing') });
    expect(() => reader.listPids()).toThrow(expect.objectContaining({ code: 'PROC_PARSE' }));
  });
});

describe('ProcReader on the real /proc', () => {
  it('reads this process as the kernel sees it', () => {
    const reader = new ProcReader();
    const snap = reader.read(process.pid);
    expect(snap).not.toBeNull();
    expect(snap?.tgid).toBe(process.pid);
    expect(snap?.ppid).toBe(process.ppid);
    expect(snap?.startTicks).toBeGreaterThan(0n);
    expect(snap?.uid).toBe(process.geteuid?.());
    expect(snap?.gid).toBe(process.getegid?.());
    expect(snap?.exe).toBe(process.execPath);
    expect(snap?.exeIno).toBe(statSync(process.execPath, { bigint: true }).ino);
    expect(reader.listPids()).toContain(process.pid);
  });
});
