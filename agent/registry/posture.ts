import { z } from 'zod';
import { typeError, unknownKeys } from './yaml-problems.js';

/**
 * An entry's posture gates: checks of the process besides its selectors, all of which must hold
 * for the entry's SVID to be issued. Parsed here (pure); attest/ reads /proc and the filesystem
 * to judge them, workload/ applies the verdicts. A check left out (or `false`) is not made.
 */
export interface Posture {
  /** The executable and every directory above it writable only by root, and the file at its
   * name the very one exec'd. */
  readonly exeImmutable?: boolean;
  /** /proc/<pid>/status NoNewPrivs: 1. */
  readonly noNewPrivs?: boolean;
  /** /proc/<pid>/status Seccomp is this mode. */
  readonly seccomp?: SeccompMode;
  /** Effective capabilities a subset of these, canonical `CAP_NET_BIND_SERVICE` spelling, sorted. */
  readonly maxCapabilities?: readonly string[];
  /** File names that must not exist (as an executable file or a symlink) in the process's root filesystem. */
  readonly forbidExecutables?: readonly string[];
  /** At most this many executable files in the process's root filesystem. */
  readonly maxExecutables?: number;
}

export const POSTURE_CHECKS = ['exeImmutable', 'noNewPrivs', 'seccomp', 'maxCapabilities', 'forbidExecutables', 'maxExecutables'] as const;
export type PostureCheckName = (typeof POSTURE_CHECKS)[number];

/** /proc/<pid>/status "Seccomp:" 0, 1, 2. */
export const SECCOMP_MODES = ['disabled', 'strict', 'filter'] as const;
export type SeccompMode = (typeof SECCOMP_MODES)[number];

/** linux/capability.h, by bit number (0..40 as of Linux 5.9). */
export const CAPABILITIES = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE', 'CAP_NET_BROADCAST', 'CAP_NET_ADMIN',
  'CAP_NET_RAW', 'CAP_IPC_LOCK', 'CAP_IPC_OWNER', 'CAP_SYS_MODULE', 'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT', 'CAP_SYS_ADMIN', 'CAP_SYS_BOOT', 'CAP_SYS_NICE', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD', 'CAP_LEASE', 'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL', 'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG', 'CAP_WAKE_ALARM', 'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ',
  'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
] as const;

/** The name of capability bit `bit`; a bit newer than this table is "CAP_<bit>" (never allowed by name). */
export function capabilityName(bit: number): string {
  return CAPABILITIES[bit] ?? `CAP_${bit}`;
}

/** "CAP_NET_BIND_SERVICE", "cap_net_bind_service" or "net_bind_service" → "CAP_NET_BIND_SERVICE"; undefined if unknown. */
export function normalizeCapability(text: string): string | undefined {
  const upper = text.toUpperCase();
  const name = upper.startsWith('CAP_') ? upper : `CAP_${upper}`;
  return (CAPABILITIES as readonly string[]).includes(name) ? name : undefined;
}

/** Most names a forbidExecutables list may hold: every one is looked up in a cached scan. */
const MAX_FORBIDDEN = 256;

const capability = z.string({ error: typeError('a capability name ("CAP_NET_BIND_SERVICE" or "net_bind_service")') })
  .transform((text, ctx) => {
    const name = normalizeCapability(text);
    if (name === undefined) ctx.addIssue({ code: 'custom', message: `"${text}" is not a Linux capability (linux/capability.h: CAP_CHOWN ... CAP_CHECKPOINT_RESTORE)` });
    return name ?? z.NEVER;
  });

const fileName = z.string({ error: typeError('a file name') }).superRefine((name, ctx) => {
  if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) {
    ctx.addIssue({ code: 'custom', message: `"${name}" is not a file name (no "/", not empty, "." or "..")` });
  }
});

const flag = (what: string) => z.boolean({ error: typeError(`true or false (${what})`) });

/** The `posture:` mapping of one entry: unknown checks refused by name, lists normalized and sorted. */
export function postureSchema() {
  return z.strictObject({
    exeImmutable: flag('check the executable cannot be replaced by anyone but root').optional(),
    noNewPrivs: flag('require NoNewPrivs: 1').optional(),
    seccomp: z.enum(SECCOMP_MODES, { error: (issue) => (issue.input === undefined ? 'required' : `expected one of ${SECCOMP_MODES.join(', ')}, got ${JSON.stringify(issue.input)}`) }).optional(),
    maxCapabilities: z.array(capability, { error: typeError('a list of capability names ([] for none)') })
      .transform((caps) => [...new Set(caps)].sort()).optional(),
    forbidExecutables: z.array(fileName, { error: typeError('a list of file names') })
      .max(MAX_FORBIDDEN, `at most ${MAX_FORBIDDEN} names`)
      .transform((names) => [...new Set(names)].sort()).optional(),
    maxExecutables: z.number({ error: typeError('a whole number of executable files') })
      .int('a whole number of executable files').min(0, 'a count cannot be negative').optional(),
  }, { error: unknownKeys(POSTURE_CHECKS, 'a mapping of posture checks') })
    .superRefine((p, ctx) => {
      if (Object.keys(p).length === 0) ctx.addIssue({ code: 'custom', message: 'an empty posture: leave the key out instead' });
    });
}

/** The checks `posture` asks for (a `false` flag asks for nothing), in POSTURE_CHECKS order. */
export function postureChecks(posture: Posture | undefined): PostureCheckName[] {
  if (posture === undefined) return [];
  return POSTURE_CHECKS.filter((c) => {
    const v = posture[c];
    return v !== undefined && v !== false;
  });
}

/** Same checks with the same settings (lists are sorted by the parser). */
export function samePosture(a: Posture | undefined, b: Posture | undefined): boolean {
  return JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
}
