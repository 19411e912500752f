import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CgroupPaths } from '../../../agent/attest/cgroup-paths.js';

// Ordinary directories have inode numbers too, so a tmp tree stands in for cgroupfs.
describe('CgroupPaths', () => {
  let mount: string;
  let clock: number;
  const now = (): number => clock;
  const ino = (rel: string): bigint => statSync(join(mount, rel), { bigint: true }).ino;
  const make = (rel: string): bigint => {
    mkdirSync(join(mount, rel), { recursive: true });
    return ino(rel);
  };

  beforeEach(() => {
    mount = mkdtempSync(join(tmpdir(), 'tether-cgroup-'));
    clock = 10_000;
    make('system.slice/x.service');
    make('kubepods.slice/kubepods-burstable.slice');
    writeFileSync(join(mount, 'cgroup.procs'), ''); // files in the tree are not cgroups
  });
  afterEach(() => rmSync(mount, { recursive: true, force: true }));

  it('maps the root and every directory below it', () => {
    const paths = new CgroupPaths({ mountPoint: mount, now });
    expect(paths.pathOf(ino(''))).toBe('/');
    expect(paths.pathOf(ino('system.slice'))).toBe('/system.slice');
    expect(paths.pathOf(ino('system.slice/x.service'))).toBe('/system.slice/x.service');
    expect(paths.pathOf(ino('kubepods.slice/kubepods-burstable.slice'))).toBe('/kubepods.slice/kubepods-burstable.slice');
    expect(paths.pathOf(ino('cgroup.procs'))).toBeNull();
    expect(paths.scans()).toBe(1);
  });

  it('does not walk before it is asked', () => {
    const paths = new CgroupPaths({ mountPoint: mount, now });
    expect(paths.scans()).toBe(0);
    paths.pathOf(ino(''));
    paths.pathOf(ino('system.slice'));
    expect(paths.scans()).toBe(1);
  });

  it('rescans on a miss for a cgroup made since, once the interval has passed', () => {
    const paths = new CgroupPaths({ mountPoint: mount, now, rescanIntervalMs: 1000 });
    expect(paths.pathOf(ino('system.slice'))).toBe('/system.slice');
    const fresh = make('system.slice/new.scope');
    clock += 1000;
    expect(paths.pathOf(fresh)).toBe('/system.slice/new.scope');
    expect(paths.scans()).toBe(2);
  });

  it('walks at most once per interval however many unknown ids arrive', () => {
    const paths = new CgroupPaths({ mountPoint: mount, now, rescanIntervalMs: 1000 });
    expect(paths.pathOf(ino(''))).toBe('/');
    const fresh = make('late.slice');
    clock += 999;
    for (let id = 1n; id < 500n; id += 1n) paths.pathOf(id + 10n ** 15n);
    expect(paths.pathOf(fresh)).toBeNull();
    expect(paths.scans()).toBe(1);
    clock += 1;
    expect(paths.pathOf(fresh)).toBe('/late.slice');
    expect(paths.scans()).toBe(2);
    for (let id = 1n; id < 500n; id += 1n) paths.pathOf(id + 10n ** 15n);
    expect(paths.scans()).toBe(2);
  });

  it('forgets removed cgroups on the next walk, and keeps known ids without walking', () => {
    const paths = new CgroupPaths({ mountPoint: mount, now, rescanIntervalMs: 1000 });
    const gone = make('gone.scope');
    expect(paths.pathOf(gone)).toBe('/gone.scope');
    rmSync(join(mount, 'gone.scope'), { recursive: true });
    expect(paths.pathOf(gone)).toBe('/gone.scope'); // a hit: no walk
    expect(paths.scans()).toBe(1);
    clock += 1000;
    expect(paths.pathOf(12345678901234n)).toBeNull(); // a miss: walks again
    expect(paths.scans()).toBe(2);
    expect(paths.pathOf(gone)).toBeNull();
  });

  it('says CGROUP_NOT_FOUND when the mount is missing', () => {
    const paths = new CgroupPaths({ mountPoint: join(mount, 'absent'), now });
    expect(() => paths.pathOf(1n)).toThrow(expect.objectContaining({ code: 'CGROUP_NOT_FOUND' }));
  });

  it('maps this process\'s own cgroup on the real cgroup v2 mount', () => {
    // Found the way the agent finds it: the cgroup2 line of /proc/self/mounts.
    const real = readFileSync('/proc/self/mounts', 'utf8').split('\n')
      .map((line) => line.split(' ')).find((f) => f[2] === 'cgroup2')?.[1];
    expect(real).toBeDefined();
    const own = /^0::(.*)$/m.exec(readFileSync('/proc/self/cgroup', 'utf8'))?.[1] ?? '';
    const paths = new CgroupPaths({ mountPoint: real ?? '', now });
    expect(paths.pathOf(statSync(join(real ?? '', own), { bigint: true }).ino)).toBe(own);
  });
});
