import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { KernelError } from './errors.js';

export interface Mount { readonly source: string; readonly target: string; readonly type: string }

/** /proc/self/mounts, with octal escapes (\040 for a space) decoded. */
export function readMounts(text: string = readFileSync('/proc/self/mounts', 'utf8')): Mount[] {
  const unescape = (s: string): string => s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
  return text.split('\n').filter((l) => l.trim() !== '').map((line) => {
    const [source = '', target = '', type = ''] = line.split(' ');
    return { source: unescape(source), target: unescape(target), type };
  });
}

/**
 * The cgroup v2 mount: /sys/fs/cgroup on most hosts, /sys/fs/cgroup/unified on hybrid ones
 * (these build machines). Cgroup programs attach there or below; a v1 directory gives EBADF.
 */
export function findCgroupV2Mount(mounts: Mount[] = readMounts()): string {
  const m = mounts.find((x) => x.type === 'cgroup2');
  if (!m) throw new KernelError('CGROUP', 'no cgroup v2 mount in /proc/self/mounts (mount -t cgroup2 none /sys/fs/cgroup)');
  return m.target;
}

/**
 * Makes sure a bpffs holds `pinDir` (default mount /sys/fs/bpf), mounting one at /sys/fs/bpf
 * when none is mounted (these machines boot without it), then creates `pinDir`.
 */
export function ensureBpffs(pinDir: string, mounts: Mount[] = readMounts()): void {
  const holder = mounts.filter((m) => m.type === 'bpf' && (pinDir === m.target || pinDir.startsWith(`${m.target}/`)));
  if (holder.length === 0) {
    if (!pinDir.startsWith('/sys/fs/bpf/') && pinDir !== '/sys/fs/bpf') {
      throw new KernelError('BPFFS', `${pinDir} is not on a bpffs mount, and tether mounts one only at /sys/fs/bpf`);
    }
    try {
      mkdirSync('/sys/fs/bpf', { recursive: true });
      execFileSync('mount', ['-t', 'bpf', 'bpf', '/sys/fs/bpf'], { stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (err) {
      throw new KernelError('BPFFS', `cannot mount bpffs at /sys/fs/bpf: ${(err as Error).message}`, { cause: err });
    }
  }
  mkdirSync(pinDir, { recursive: true, mode: 0o700 });
}
