import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { release as osRelease } from 'node:os';
import { join } from 'node:path';
import { BpfObject } from './bpf-object.js';
import { KernelError } from './errors.js';
import { findCgroupV2Mount, readMounts } from './mounts.js';
import { native } from './native.js';
import { bpfObjectPath } from './paths.js';

/**
 * What this kernel offers tether, and what tether does where a feature is missing (`tether
 * status`). Pure reads of /sys and /proc, under `root` (a fixtures directory in unit tests), plus
 * two probes through the addon, each a few ms: SO_PEERPIDFD on a listening Unix socket, and the
 * load of one fentry program (build/bpf/features.bpf.o), since a kernel may refuse tracing
 * programs at load (EPERM) while every file in /sys says it has them.
 */
export type FeatureName = 'ringBuffer' | 'cgroupHooks' | 'peerPidfd' | 'bpfLsm' | 'fentry' | 'ktls';
export type FeatureState = 'available' | 'missing' | 'unknown';

export interface KernelFeature {
  readonly name: FeatureName;
  readonly state: FeatureState;
  /** What was found, one sentence. */
  readonly detail: string;
  /** What tether does without it; null when it is available. */
  readonly fallback: string | null;
}

/** A probe's answer. */
export interface Probe {
  readonly state: FeatureState;
  readonly detail: string;
}

export interface FeatureOptions {
  /** Where /sys, /proc and /lib/modules are read from; default "/". */
  readonly root?: string;
  /** The running kernel's release (uname -r), for /lib/modules; default os.release(). */
  readonly release?: string;
  /** SO_PEERPIDFD; default probePeerPidfd(). */
  readonly peerPidfd?: () => Promise<Probe>;
  /** An fentry program's load; default probeFentry(). */
  readonly fentry?: () => Probe;
}

/** What tether does without each feature (STYLE: a feature's absence is detected, said, and fallen back from). */
export const FALLBACKS: Readonly<Record<FeatureName, string>> = {
  ringBuffer: 'none: process tracking needs BPF ring buffers (Linux 5.8+); the agent cannot start',
  cgroupHooks: 'none: connections are not bound to identities (the agent cannot start with --policy)',
  peerPidfd: 'pidfd_open(2) on the SO_PEERCRED pid, tied to the caller by its start time in the process table',
  bpfLsm: 'nothing uses it yet (exec allow-lists and quarantine, profile/, will)',
  fentry: 'tp_btf tracepoints, which the process tracker uses anyway',
  ktls: 'mesh/ tunnels encrypt in user space (Node\'s TLS); probeKtls() settles it with the agent\'s own privileges',
};

/** The kernel functions and types each feature's code is built from, as BTF or kallsyms names them. */
const NAMES = {
  ringBuffer: ['bpf_ringbuf_reserve'],
  cgroupSockAddr: ['__cgroup_bpf_run_filter_sock_addr'],
  cgroupSockops: ['__cgroup_bpf_run_filter_sock_ops'],
  cgroupLink: ['cgroup_bpf_link_attach'],
  bpfLsm: ['bpf_lsm_file_open'],
  trampoline: ['bpf_trampoline_link_prog'],
} as const;

const BTF_PATH = 'sys/kernel/btf/vmlinux';

/** Every feature, in a fixed order. */
export async function detectKernelFeatures(options: FeatureOptions = {}): Promise<KernelFeature[]> {
  const root = options.root ?? '/';
  const names = kernelNames(root);
  const peerPidfd = await (options.peerPidfd ?? probePeerPidfd)();
  const fentry = names.btf ? (options.fentry ?? probeFentry)() : undefined;
  return [
    ringBuffer(names),
    cgroupHooks(root, names),
    feature('peerPidfd', peerPidfd.state, peerPidfd.detail),
    bpfLsm(root, names),
    fentryFeature(names, fentry),
    ktls(root, options.release ?? osRelease()),
  ];
}

function feature(name: FeatureName, state: FeatureState, detail: string): KernelFeature {
  return { name, state, detail, fallback: state === 'available' ? null : FALLBACKS[name] };
}

function ringBuffer(names: KernelNames): KernelFeature {
  if (names.source === 'none') return feature('ringBuffer', 'unknown', 'neither BTF nor /proc/kallsyms can be read to tell');
  return names.has(NAMES.ringBuffer)
    ? feature('ringBuffer', 'available', `BPF ring buffers are built in (${names.source})`)
    : feature('ringBuffer', 'missing', `no BPF ring buffer in this kernel (${names.source})`);
}

function cgroupHooks(root: string, names: KernelNames): KernelFeature {
  let mount: string;
  try {
    mount = findCgroupV2Mount(readMounts(readText(root, 'proc/self/mounts') ?? ''));
  } catch {
    return feature('cgroupHooks', 'missing', 'no cgroup v2 mount in /proc/self/mounts');
  }
  if (names.source === 'none') return feature('cgroupHooks', 'unknown', `cgroup v2 at ${mount}; neither BTF nor /proc/kallsyms can be read to tell`);
  const lacking = [
    ...(names.has(NAMES.cgroupSockAddr) ? [] : ['cgroup sock_addr hooks']),
    ...(names.has(NAMES.cgroupSockops) ? [] : ['sockops']),
    ...(names.has(NAMES.cgroupLink) ? [] : ['link-based cgroup attach']),
  ];
  return lacking.length === 0
    ? feature('cgroupHooks', 'available', `cgroup v2 at ${mount}; sock_addr and sockops hooks, link-based attach (${names.source})`)
    : feature('cgroupHooks', 'missing', `cgroup v2 at ${mount}, but no ${lacking.join(', ')} (${names.source})`);
}

function bpfLsm(root: string, names: KernelNames): KernelFeature {
  const lsm = readText(root, 'sys/kernel/security/lsm');
  if (lsm !== undefined) {
    const active = lsm.trim().split(',').filter((s) => s !== '');
    return active.includes('bpf')
      ? feature('bpfLsm', 'available', `bpf is among the active LSMs (${active.join(',')})`)
      : feature('bpfLsm', 'missing', `the active LSMs are ${active.join(',') || 'none'}: boot with lsm=...,bpf`);
  }
  if (names.source !== 'none' && !names.has(NAMES.bpfLsm)) return feature('bpfLsm', 'missing', `the kernel is built without CONFIG_BPF_LSM (${names.source})`);
  return feature('bpfLsm', 'unknown', 'securityfs is not mounted at /sys/kernel/security: the active LSMs cannot be read');
}

function fentryFeature(names: KernelNames, probe: Probe | undefined): KernelFeature {
  if (!names.btf) return feature('fentry', 'missing', `no kernel BTF at /${BTF_PATH}`);
  if (!names.has(NAMES.trampoline)) return feature('fentry', 'missing', `BTF at /${BTF_PATH}, but no BPF trampolines in this kernel`);
  const detail = `BTF at /${BTF_PATH}; ${probe?.detail ?? 'not probed'}`;
  return feature('fentry', probe?.state ?? 'unknown', detail);
}

function ktls(root: string, release: string): KernelFeature {
  const ulps = readText(root, 'proc/sys/net/ipv4/tcp_available_ulp');
  if (ulps?.trim().split(/\s+/).includes('tls')) return feature('ktls', 'available', 'the tls ULP is registered (tcp_available_ulp)');
  const modules = join('lib/modules', release);
  const listed = (file: string): boolean => /(^|\/)tls\.ko(\.[a-z]+)?(:|$)/m.test(readText(root, join(modules, file)) ?? '');
  const disabled = readText(root, 'proc/sys/kernel/modules_disabled')?.trim() === '1';
  if (listed('modules.dep') && !disabled) {
    return feature('ktls', 'available', `tls.ko is installed for ${release}: the kernel loads it on the first TCP_ULP "tls"`);
  }
  if (ulps === undefined) return feature('ktls', 'unknown', '/proc/sys/net/ipv4/tcp_available_ulp cannot be read');
  return feature('ktls', 'missing', `the tls ULP is not registered (${ulps.trim() || 'none'}) and no loadable tls.ko for ${release}`);
}

/** The kernel's own names (functions and types), from its BTF, else from /proc/kallsyms. */
interface KernelNames {
  readonly source: 'BTF' | '/proc/kallsyms' | 'none';
  readonly btf: boolean;
  /** Whether every name is the kernel's. */
  has(names: readonly string[]): boolean;
}

function kernelNames(root: string): KernelNames {
  const strings = btfStrings(root);
  if (strings !== undefined) {
    return { source: 'BTF', btf: true, has: (names) => names.every((n) => strings.includes(Buffer.from(`\0${n}\0`))) };
  }
  const kallsyms = readText(root, 'proc/kallsyms');
  if (kallsyms !== undefined) {
    const symbols = new Set(kallsyms.split('\n').map((l) => l.split(/\s+/)[2]));
    return { source: '/proc/kallsyms', btf: false, has: (names) => names.every((n) => symbols.has(n)) };
  }
  return { source: 'none', btf: false, has: () => false };
}

/** The string section of the kernel's BTF (every function, type and enum value name), or undefined when there is none. */
function btfStrings(root: string): Buffer | undefined {
  let data: Buffer;
  try {
    data = readFileSync(join(root, BTF_PATH));
  } catch {
    return undefined;
  }
  // struct btf_header: u16 magic 0xeB9F, u8 version, u8 flags, u32 hdr_len, type_off, type_len, str_off, str_len
  if (data.length < 24 || data.readUInt16LE(0) !== 0xeb9f) return undefined;
  const start = data.readUInt32LE(4) + data.readUInt32LE(16);
  return data.subarray(start, start + data.readUInt32LE(20));
}

function readText(root: string, path: string): string | undefined {
  try {
    return readFileSync(join(root, path), 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * SO_PEERPIDFD (Linux 6.5+) on a listening Unix socket in the abstract namespace (no file):
 * listen() records the listener's own credentials, so a kernel with the option answers a pidfd
 * of this process (closed at once) and one without it ENOPROTOOPT.
 */
export async function probePeerPidfd(): Promise<Probe> {
  const server = createServer();
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(`\0tether-features-${process.pid}-${Math.random().toString(16).slice(2)}`, resolve);
    });
    // The listener's fd: Node keeps it on the handle (a Pipe) and has no public accessor.
    const fd = (server as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
    if (typeof fd !== 'number' || fd < 0) return { state: 'unknown', detail: 'the probe socket has no file descriptor' };
    try {
      native().closeFd(native().peerPidfd(fd));
      return { state: 'available', detail: 'getsockopt(SO_PEERPIDFD) answers a pidfd' };
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (code === 'ENOPROTOOPT') return { state: 'missing', detail: 'getsockopt(SO_PEERPIDFD) gives ENOPROTOOPT (Linux 6.5+ has it)' };
      return { state: 'unknown', detail: `getsockopt(SO_PEERPIDFD) failed: ${String(code ?? (err as Error).message)}` };
    }
  } catch (err) {
    return { state: 'unknown', detail: `no probe socket: ${(err as Error).message}` };
  } finally {
    server.close();
  }
}

/** Loads (never attaches) the fentry program of features.bpf.o, then closes it. */
export function probeFentry(path: string = bpfObjectPath('features')): Probe {
  if (!existsSync(path)) return { state: 'unknown', detail: `not probed: ${path} is not built` };
  try {
    BpfObject.load(path).close();
    return { state: 'available', detail: 'an fentry program loads' };
  } catch (err) {
    if (!(err instanceof KernelError)) throw err;
    return { state: 'missing', detail: `an fentry program is refused at load${err.errno === undefined ? '' : `: ${err.errno}`}` };
  }
}
