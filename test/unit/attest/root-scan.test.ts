import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RootScans, scanRoot } from '../../../agent/attest/root-scan.js';

let root: string;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'tether-rootscan-'));
  mkdirSync(join(root, 'bin'));
  mkdirSync(join(root, 'usr', 'lib'), { recursive: true });
  writeFileSync(join(root, 'bin', 'busybox'), 'x', { mode: 0o755 });
  symlinkSync('busybox', join(root, 'bin', 'sh'));
  writeFileSync(join(root, 'usr', 'lib', 'tool'), 'x', { mode: 0o700 });
  writeFileSync(join(root, 'usr', 'lib', 'data'), 'x', { mode: 0o644 });
  writeFileSync(join(root, 'usr', 'lib', 'sh'), 'not runnable', { mode: 0o644 }); // a data file named sh is not a shell
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

describe('scanRoot', () => {
  it('counts executable regular files and names executables and symlinks by their first path', async () => {
    const scan = await scanRoot(root);
    expect(scan).toMatchObject({ executables: 2, entries: 8, complete: true });
    expect(Object.fromEntries(scan.names)).toEqual({ busybox: '/bin/busybox', sh: '/bin/sh', tool: '/usr/lib/tool' });
  });

  it('stops when its time is up, incomplete', async () => {
    let t = 0;
    const scan = await scanRoot(root, { limitMs: 15, now: () => (t += 10) });
    expect(scan.complete).toBe(false);
    expect(scan.limitMs).toBe(15);
  });

  it('reports a root it cannot read', async () => {
    const scan = await scanRoot(join(root, 'missing'));
    expect(scan.complete).toBe(false);
    expect(scan.error).toMatch(/ENOENT/);
  });
});

describe('RootScans', () => {
  it('walks a root once per key while fresh, again once stale, and shares a walk under way', async () => {
    let t = 0;
    const scans = new RootScans({ maxAgeMs: 1000, now: () => t });
    const [a, b] = await Promise.all([scans.scan('ns:dev:ino', root), scans.scan('ns:dev:ino', root)]);
    expect(a).toBe(b);
    expect(scans.stats()).toEqual({ scans: 1, hits: 1, roots: 1 });
    writeFileSync(join(root, 'bin', 'more'), 'x', { mode: 0o755 });
    expect((await scans.scan('ns:dev:ino', root)).executables).toBe(2); // cached
    expect((await scans.scan('other-ns:dev:ino', root)).executables).toBe(3); // another root
    t = 2000;
    expect((await scans.scan('ns:dev:ino', root)).executables).toBe(3);
    expect(scans.stats()).toEqual({ scans: 3, hits: 2, roots: 2 });
  });

  it('forgets the oldest root beyond its bound', async () => {
    const scans = new RootScans({ maxRoots: 1 });
    await scans.scan('a', root);
    await scans.scan('b', root);
    await scans.scan('a', root);
    expect(scans.stats()).toEqual({ scans: 3, hits: 0, roots: 1 });
  });
});
