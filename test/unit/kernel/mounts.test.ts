import { describe, expect, it } from 'vitest';
import { KernelError } from '../../../agent/kernel/errors.js';
import { findCgroupV2Mount, readMounts } from '../../../agent/kernel/mounts.js';

// The cgroup and bpf lines of this build machine's /proc/self/mounts: v1 controllers, v2 beside them.
const HYBRID = `sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0
tmpfs /sys/fs/cgroup tmpfs rw,relatime,mode=755 0 0
cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0
cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0
cgroup /sys/fs/cgroup/systemd cgroup rw,relatime,name=systemd 0 0
cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0
bpf /sys/fs/bpf bpf rw,relatime 0 0
`;

const PURE_V2 = `proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0
cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec,relatime,nsdelegate,memory_recursiveprot 0 0
`;

const V1_ONLY = `tmpfs /sys/fs/cgroup tmpfs rw,relatime,mode=755 0 0
cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0
`;

describe('readMounts', () => {
  it('gives source, target and type of every line, skipping blank ones', () => {
    const mounts = readMounts(HYBRID);
    expect(mounts).toHaveLength(7);
    expect(mounts[5]).toEqual({ source: 'cgroup2', target: '/sys/fs/cgroup/unified', type: 'cgroup2' });
  });

  it('decodes the kernel\'s octal escapes for space, tab, newline and backslash', () => {
    const text = '/dev/sdb1 /mnt/my\\040disk ext4 rw 0 0\n'
      + 'host\\134share /mnt/a\\011b\\012c 9p rw 0 0\n';
    expect(readMounts(text)).toEqual([
      { source: '/dev/sdb1', target: '/mnt/my disk', type: 'ext4' },
      { source: 'host\\share', target: '/mnt/a\tb\nc', type: '9p' },
    ]);
  });
});

describe('findCgroupV2Mount', () => {
  it('finds /sys/fs/cgroup/unified on a hybrid host', () => {
    expect(findCgroupV2Mount(readMounts(HYBRID))).toBe('/sys/fs/cgroup/unified');
  });

  it('finds /sys/fs/cgroup on a pure v2 host', () => {
    expect(findCgroupV2Mount(readMounts(PURE_V2))).toBe('/sys/fs/cgroup');
  });

  it('refuses a host without cgroup v2 with KernelError CGROUP', () => {
    try {
      findCgroupV2Mount(readMounts(V1_ONLY));
      expect.unreachable('found a v2 mount in a v1-only table');
    } catch (e) {
      expect(e).toBeInstanceOf(KernelError);
      expect((e as KernelError).code).toBe('CGROUP');
      expect((e as KernelError).message).toContain('cgroup v2');
    }
  });
});
