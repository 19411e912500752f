import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AttestError } from '../../../agent/attest/errors.js';
import { PostureChecker, type PostureRequirements } from '../../../agent/attest/posture.js';
import { devToKernel } from '../../../agent/attest/proc-reader.js';
import type { ProcessRecord } from '../../../agent/attest/process-table.js';
import { RootScans } from '../../../agent/attest/root-scan.js';
import { StartClock } from '../../../agent/attest/start-clock.js';
import { capabilityName } from '../../../agent/registry/index.js';

// A fake /proc: the flags, capabilities and start time of a process cannot be arranged at will in
// a unit test (the e2e test does it with setpriv and chroot), so <pid>/status and <pid>/stat are
// written here; <pid>/exe and <pid>/root are symlinks to real files, which the checks stat.
const PID = 4242;
const TICKS = 123_456n;
const clock = new StartClock(100);

let work: string;
let proc: string;

function status(fields: { noNewPrivs?: number; seccomp?: number; capEff?: string } = {}): string {
  return [`Name:\tprog`, `Tgid:\t${PID}`, `Uid:\t0\t0\t0\t0`, `CapEff:\t${fields.capEff ?? '0000000000000000'}`,
    `NoNewPrivs:\t${fields.noNewPrivs ?? 0}`, `Seccomp:\t${fields.seccomp ?? 0}`, ''].join('\n');
}

/** A fake /proc/<PID> whose exe is `exe` and root is `root`; returns the table's record of it. */
function fakeProcess(exe: string, root = '/', fields: Parameters<typeof status>[0] = {}, ticks = TICKS): ProcessRecord {
  const dir = join(proc, String(PID));
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'ns'), { recursive: true });
  writeFileSync(join(dir, 'status'), status(fields));
  writeFileSync(join(dir, 'stat'), `${PID} (prog) S 1${' 0'.repeat(17)} ${ticks} 0 0\n`);
  writeFileSync(join(dir, 'ns', 'mnt'), '');
  symlinkSync(exe, join(dir, 'exe'));
  symlinkSync(root, join(dir, 'root'));
  const st = statSync(exe, { bigint: true });
  return {
    key: { tgid: PID, startNs: clock.fromTicks(TICKS) }, ppid: 1, parentStartNs: null, uid: 0, gid: 0, comm: 'prog', exe,
    execFilename: exe, exeDev: devToKernel(st.dev), exeIno: st.ino, cgroupId: null, cgroupPath: null, source: 'event',
  };
}

function checker(scans?: RootScans): PostureChecker {
  return new PostureChecker({ clock, capabilityName, procRoot: proc, ...(scans === undefined ? {} : { scans }) });
}

async function verdict(record: ProcessRecord, posture: PostureRequirements, scans?: RootScans) {
  const [one, ...rest] = await checker(scans).check(record, posture);
  expect(rest).toEqual([]);
  return one;
}

/** An executable file at `path` (root's, 0755), its directories made 0755. */
function binary(path: string): string {
  mkdirSync(join(path, '..'), { recursive: true, mode: 0o755 });
  writeFileSync(path, '#!/bin/true\n', { mode: 0o755 });
  return path;
}

beforeEach(() => {
  work = mkdtempSync(join(tmpdir(), 'tether-posture-'));
  chmodSync(work, 0o755);
  proc = join(work, 'proc');
});
afterEach(() => rmSync(work, { recursive: true, force: true }));

describe('status checks (fake /proc/<pid>/status)', () => {
  it('noNewPrivs passes on NoNewPrivs: 1 and fails on 0, saying which', async () => {
    const exe = binary(join(work, 'bin', 'prog'));
    expect(await verdict(fakeProcess(exe, '/', { noNewPrivs: 1 }), { noNewPrivs: true })).toEqual({ check: 'noNewPrivs', ok: true, evidence: 'NoNewPrivs is 1' });
    expect(await verdict(fakeProcess(exe, '/', { noNewPrivs: 0 }), { noNewPrivs: true })).toEqual({ check: 'noNewPrivs', ok: false, evidence: 'NoNewPrivs is 0' });
  });

  it('seccomp compares the mode by name', async () => {
    const exe = binary(join(work, 'bin', 'prog'));
    expect(await verdict(fakeProcess(exe, '/', { seccomp: 2 }), { seccomp: 'filter' })).toMatchObject({ ok: true, evidence: 'Seccomp is 2 (filter), required filter' });
    expect(await verdict(fakeProcess(exe, '/', { seccomp: 0 }), { seccomp: 'filter' })).toMatchObject({ ok: false, evidence: 'Seccomp is 0 (disabled), required filter' });
  });

  it('maxCapabilities passes a subset, fails naming the capabilities beyond it', async () => {
    const exe = binary(join(work, 'bin', 'prog'));
    // bit 10 CAP_NET_BIND_SERVICE; bit 21 CAP_SYS_ADMIN
    expect(await verdict(fakeProcess(exe, '/', { capEff: '0000000000000400' }), { maxCapabilities: ['CAP_NET_BIND_SERVICE'] }))
      .toMatchObject({ ok: true, evidence: 'CapEff 0000000000000400 (CAP_NET_BIND_SERVICE) is within at most [CAP_NET_BIND_SERVICE]' });
    expect(await verdict(fakeProcess(exe, '/', { capEff: '0000000000200400' }), { maxCapabilities: ['CAP_NET_BIND_SERVICE'] }))
      .toMatchObject({ ok: false, evidence: 'CapEff 0000000000200400 has CAP_SYS_ADMIN beyond at most [CAP_NET_BIND_SERVICE]' });
    expect(await verdict(fakeProcess(exe, '/', { capEff: '0000000000000000' }), { maxCapabilities: [] })).toMatchObject({ ok: true });
    expect((await verdict(fakeProcess(exe, '/', { capEff: '000001ffffffffff' }), { maxCapabilities: [] }))?.evidence).toMatch(/^CapEff 000001ffffffffff has CAP_CHOWN, .* and 35 more beyond at most \[\]$/);
  });

  it('refuses to answer for a pid whose start time is no longer the record\'s', async () => {
    const exe = binary(join(work, 'bin', 'prog'));
    const record = fakeProcess(exe, '/', { noNewPrivs: 1 }, TICKS + 1n);
    await expect(checker().check(record, { noNewPrivs: true })).rejects.toMatchObject({ code: 'PROCESS_GONE' });
    await expect(checker().check({ ...record, key: { tgid: PID + 1, startNs: 0n } }, { noNewPrivs: true })).rejects.toBeInstanceOf(AttestError);
  });

  it('makes no check the posture does not ask for', async () => {
    const exe = binary(join(work, 'bin', 'prog'));
    expect(await checker().check(fakeProcess(exe), { noNewPrivs: false })).toEqual([]);
  });
});

describe('exeImmutable (real files; fake /proc/<pid>/exe)', () => {
  it('passes for a root-owned binary whose directories are root\'s, /tmp (sticky) included', async () => {
    const exe = binary(join(work, 'bin', 'prog'));
    const v = await verdict(fakeProcess(exe), { exeImmutable: true });
    expect(v).toMatchObject({ check: 'exeImmutable', ok: true });
    expect(v?.evidence).toContain(`${exe} is the exec'd file`);
  });

  it('fails for a binary in a directory owned by uid 1000', async () => {
    const exe = binary(join(work, 'user', 'prog'));
    chownSync(join(work, 'user'), 1000, 1000);
    expect(await verdict(fakeProcess(exe), { exeImmutable: true })).toEqual({ check: 'exeImmutable', ok: false, evidence: `${join(work, 'user')} is owned by uid 1000` });
  });

  it('fails for a file owned by another uid, a group-writable directory, or a world-writable one without the sticky bit', async () => {
    const owned = binary(join(work, 'a', 'prog'));
    chownSync(owned, 1000, 0);
    expect((await verdict(fakeProcess(owned), { exeImmutable: true }))?.evidence).toBe(`${owned} is owned by uid 1000`);
    const group = binary(join(work, 'b', 'prog'));
    chownSync(join(work, 'b'), 0, 1000);
    chmodSync(join(work, 'b'), 0o775);
    expect((await verdict(fakeProcess(group), { exeImmutable: true }))?.evidence).toBe(`${join(work, 'b')} is writable by group 1000 (mode 0775)`);
    const open = binary(join(work, 'c', 'prog'));
    chmodSync(join(work, 'c'), 0o777);
    expect((await verdict(fakeProcess(open), { exeImmutable: true }))?.evidence).toBe(`${join(work, 'c')} is writable by others (mode 0777)`);
  });

  it('a sticky world-writable directory counts only when the entry below it is root\'s', async () => {
    const exe = binary(join(work, 'sticky', 'sub', 'prog'));
    chmodSync(join(work, 'sticky'), 0o1777);
    expect(await verdict(fakeProcess(exe), { exeImmutable: true })).toMatchObject({ ok: true });
    chownSync(join(work, 'sticky', 'sub'), 1000, 1000);
    expect((await verdict(fakeProcess(exe), { exeImmutable: true }))?.evidence).toBe(`${join(work, 'sticky', 'sub')} is owned by uid 1000`);
  });

  it('fails when the name the kernel reports no longer reaches the exec\'d file, or the pid runs another file', async () => {
    const exe = binary(join(work, 'bin', 'prog'));
    const record = fakeProcess(exe);
    // A real /proc/<pid>/exe reaches the exec'd inode whatever its name now names; a symlink
    // cannot, so the fake points at a second link: its name, lstat'd, is not the exec'd file.
    const alias = join(work, 'bin', 'alias');
    symlinkSync(exe, alias);
    rmSync(join(proc, String(PID), 'exe'));
    symlinkSync(alias, join(proc, String(PID), 'exe'));
    expect((await verdict(record, { exeImmutable: true }))?.evidence).toMatch(new RegExp(`^${alias} is no longer the file that was exec'd \\(dev \\d+ inode \\d+, size 12, mtime `));
    // the pid now runs another file than the record's (its exec not yet in the table)
    const other = binary(join(work, 'bin', 'other'));
    rmSync(join(proc, String(PID), 'exe'));
    symlinkSync(other, join(proc, String(PID), 'exe'));
    expect((await verdict(record, { exeImmutable: true }))?.evidence).toMatch(/^the process runs dev \d+ inode \d+, not the exec'd \d+:\d+$/);
  });
});

describe('root filesystem checks (a real tree as the process\'s root)', () => {
  function image(names: readonly string[]): string {
    const root = join(work, 'rootfs');
    binary(join(root, 'bin', 'busybox'));
    for (const n of names) symlinkSync('busybox', join(root, 'bin', n));
    writeFileSync(join(root, 'etc-passwd'), 'not executable\n', { mode: 0o644 });
    return root;
  }

  it('forbidExecutables passes a minimal image and names what it finds in a fuller one', async () => {
    const exe = binary(join(work, 'bin', 'prog'));
    const minimal = image(['ls', 'cat']);
    expect(await verdict(fakeProcess(exe, minimal), { forbidExecutables: ['bash', 'sh'] })).toMatchObject({ ok: true });
    rmSync(minimal, { recursive: true });
    const full = image(['ls', 'sh']);
    expect(await verdict(fakeProcess(exe, full), { forbidExecutables: ['bash', 'sh'] })).toEqual({ check: 'forbidExecutables', ok: false, evidence: '/bin/sh in the root filesystem' });
  });

  it('maxExecutables counts executable regular files only', async () => {
    const exe = binary(join(work, 'bin', 'prog'));
    const root = image(['sh', 'ls']);
    binary(join(root, 'usr', 'bin', 'tool'));
    expect(await verdict(fakeProcess(exe, root), { maxExecutables: 2 })).toEqual({ check: 'maxExecutables', ok: true, evidence: '2 executable files, at most 2' });
    expect(await verdict(fakeProcess(exe, root), { maxExecutables: 1 })).toEqual({ check: 'maxExecutables', ok: false, evidence: '2 executable files, more than 1' });
  });

  it('a scan that runs out of time fails both checks, never passes them', async () => {
    const exe = binary(join(work, 'bin', 'prog'));
    const root = image(['ls']);
    let t = 0;
    const scans = new RootScans({ limitMs: 5, now: () => (t += 10) });
    const verdicts = await checker(scans).check(fakeProcess(exe, root), { forbidExecutables: ['sh'], maxExecutables: 100 });
    expect(verdicts).toEqual([
      { check: 'forbidExecutables', ok: false, evidence: expect.stringMatching(/^scan exceeded 5 ms/) },
      { check: 'maxExecutables', ok: false, evidence: expect.stringMatching(/^scan exceeded 5 ms/) },
    ]);
  });
});
