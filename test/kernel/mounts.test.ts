import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageRoot } from '../../agent/kernel/index.js';

// In a private mount namespace (unshare -m), with bpffs unmounted there, so the host's mounts
// are untouched: the agent mounts bpffs at /sys/fs/bpf itself and creates its pin dir.
const KERNEL = join(packageRoot(), 'build', 'agent', 'kernel', 'index.js');

describe('bpffs', () => {
  it('is mounted at /sys/fs/bpf when missing, and the pin dir made on it', () => {
    const script = [
      'umount /sys/fs/bpf 2>/dev/null; umount /sys/fs/bpf 2>/dev/null',
      'grep -q " /sys/fs/bpf bpf " /proc/self/mounts && { echo "still mounted"; exit 3; }',
      `${process.execPath} -e 'import(process.argv[1]).then((k) => k.ensureBpffs("/sys/fs/bpf/tether-mount-test"))' ${KERNEL}`,
      'grep " /sys/fs/bpf bpf " /proc/self/mounts && test -d /sys/fs/bpf/tether-mount-test && echo pin-dir-ok',
    ].join('\n');
    const r = spawnSync('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^bpf \/sys\/fs\/bpf bpf /m);
    expect(r.stdout).toContain('pin-dir-ok');
  });

  it('refuses a pin dir outside any bpffs, naming it', () => {
    const r = spawnSync(process.execPath, ['-e',
      'import(process.argv[1]).then((k) => k.ensureBpffs("/tmp/not-bpffs/tether")).catch((e) => { console.log(e.code + " " + e.message); })', KERNEL],
      { encoding: 'utf8' });
    expect(r.stdout).toContain('BPFFS /tmp/not-bpffs/tether is not on a bpffs mount');
  });
});
