import { readFileSync, statSync } from 'node:fs';
import { AttestError } from './errors.js';
import { checkExeImmutable, watchExe, type CheckOutcome } from './exe-immutable.js';
import { parseStat } from './proc-reader.js';
import type { ProcessRecord } from './process-table.js';
import { RootScans, type RootScan } from './root-scan.js';
import type { StartClock } from './start-clock.js';

/**
 * The posture checks an entry may ask for (registry/'s Posture has this shape; the two folders do
 * not import each other). A check left out or `false` is not made.
 */
export interface PostureRequirements {
  readonly exeImmutable?: boolean;
  readonly noNewPrivs?: boolean;
  readonly seccomp?: 'disabled' | 'strict' | 'filter';
  /** Canonical names ("CAP_NET_BIND_SERVICE"), as capabilityName spells them. */
  readonly maxCapabilities?: readonly string[];
  readonly forbidExecutables?: readonly string[];
  readonly maxExecutables?: number;
}

export type PostureCheck = keyof PostureRequirements;
const ORDER: readonly PostureCheck[] = ['exeImmutable', 'noNewPrivs', 'seccomp', 'maxCapabilities', 'forbidExecutables', 'maxExecutables'];

/** One check's verdict on one process. */
export interface PostureVerdict {
  readonly check: PostureCheck;
  readonly ok: boolean;
  readonly evidence: string;
}

export interface PostureCheckerOptions {
  readonly clock: StartClock;
  /** The name of capability bit n (registry/'s capabilityName). */
  readonly capabilityName: (bit: number) => string;
  /** Root-filesystem scans, cached per root; default: a cache with its defaults (2 s bound, 5 min). */
  readonly scans?: RootScans;
  /** Where procfs is mounted; tests point it at a fixture tree. */
  readonly procRoot?: string;
}

const SECCOMP = ['disabled', 'strict', 'filter'] as const;
const MAX_LISTED = 6;

/**
 * Judges a process against an entry's posture: its status flags (NoNewPrivs, Seccomp, CapEff),
 * its executable (exe-immutable.ts) and its root filesystem (root-scan.ts, cached per root).
 * What /proc says is kept only if the pid still has the record's start time after the read.
 */
export class PostureChecker {
  readonly #o: PostureCheckerOptions;
  readonly #proc: string;
  readonly #scans: RootScans;

  constructor(options: PostureCheckerOptions) {
    this.#o = options;
    this.#proc = options.procRoot ?? '/proc';
    this.#scans = options.scans ?? new RootScans();
  }

  /** A verdict for each check `posture` asks for, in a fixed order. Throws AttestError
   * PROCESS_GONE when the process is no longer the record's. */
  async check(record: ProcessRecord, posture: PostureRequirements): Promise<PostureVerdict[]> {
    const wanted = ORDER.filter((c) => posture[c] !== undefined && posture[c] !== false);
    if (wanted.length === 0) return [];
    const status = wanted.some((c) => c === 'noNewPrivs' || c === 'seccomp' || c === 'maxCapabilities') ? this.#status(record) : '';
    const scan = posture.forbidExecutables !== undefined || posture.maxExecutables !== undefined ? await this.#scan(record) : undefined;
    const out: PostureVerdict[] = [];
    for (const check of wanted) out.push({ check, ...this.#one(check, record, posture, status, scan) });
    this.#sameProcess(record); // everything above was read from this process, not a successor
    return out;
  }

  /** Calls `onChange` when the executable's name may now reach another file (exe-immutable.ts). */
  watchExe(record: ProcessRecord, onChange: () => void): () => void {
    return watchExe(this.#proc, record, onChange);
  }

  stats(): ReturnType<RootScans['stats']> {
    return this.#scans.stats();
  }

  #one(check: PostureCheck, record: ProcessRecord, p: PostureRequirements, status: string, scan: RootScan | undefined): CheckOutcome {
    switch (check) {
      case 'exeImmutable': return checkExeImmutable(this.#proc, record);
      case 'noNewPrivs': {
        const v = statusField(status, 'NoNewPrivs');
        return { ok: v === '1', evidence: `NoNewPrivs is ${v}` };
      }
      case 'seccomp': {
        const v = statusField(status, 'Seccomp');
        const mode = SECCOMP[Number(v)] ?? `unknown mode ${v}`;
        return { ok: mode === p.seccomp, evidence: `Seccomp is ${v} (${mode}), required ${p.seccomp ?? '-'}` };
      }
      case 'maxCapabilities': return this.#capabilities(statusField(status, 'CapEff'), p.maxCapabilities ?? []);
      case 'forbidExecutables': return forbidden(scan as RootScan, p.forbidExecutables ?? []);
      case 'maxExecutables': return executables(scan as RootScan, p.maxExecutables ?? 0);
      default: {
        const never: never = check;
        return { ok: false, evidence: `unknown check ${String(never)}` };
      }
    }
  }

  #capabilities(hex: string, allowed: readonly string[]): CheckOutcome {
    if (!/^[0-9a-f]+$/i.test(hex)) return { ok: false, evidence: `CapEff is "${hex}"` };
    const mask = BigInt(`0x${hex}`);
    const held: string[] = [];
    for (let bit = 0; bit < 64; bit++) if ((mask >> BigInt(bit)) & 1n) held.push(this.#o.capabilityName(bit));
    const extra = held.filter((c) => !allowed.includes(c));
    const limit = `at most [${allowed.join(', ')}]`;
    if (extra.length > 0) return { ok: false, evidence: `CapEff ${hex} has ${listed(extra)} beyond ${limit}` };
    return { ok: true, evidence: `CapEff ${hex} (${held.length === 0 ? 'none' : held.join(', ')}) is within ${limit}` };
  }

  /** The root's scan, keyed by (mount namespace, root dev and inode). */
  async #scan(record: ProcessRecord): Promise<RootScan> {
    const dir = `${this.#proc}/${record.key.tgid}`;
    let key: string;
    try {
      const ns = statSync(`${dir}/ns/mnt`, { bigint: true }).ino;
      const root = statSync(`${dir}/root`, { bigint: true });
      key = `${ns}:${root.dev}:${root.ino}`;
    } catch (err) {
      throw this.#readFailure(record, `${dir}/root`, err);
    }
    return this.#scans.scan(key, `${dir}/root`);
  }

  #status(record: ProcessRecord): string {
    const file = `${this.#proc}/${record.key.tgid}/status`;
    try {
      return readFileSync(file, 'utf8');
    } catch (err) {
      throw this.#readFailure(record, file, err);
    }
  }

  #sameProcess(record: ProcessRecord): void {
    let ticks: bigint | undefined;
    try {
      ticks = parseStat(readFileSync(`${this.#proc}/${record.key.tgid}/stat`, 'utf8')).startTicks;
    } catch {
      ticks = undefined;
    }
    if (ticks !== this.#o.clock.ticks(record.key.startNs)) {
      throw new AttestError('PROCESS_GONE', `process ${record.key.tgid} is no longer the one asked about`);
    }
  }

  #readFailure(record: ProcessRecord, file: string, err: unknown): AttestError {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ESRCH') return new AttestError('PROCESS_GONE', `process ${record.key.tgid} exited`, { cause: err });
    return new AttestError('ATTESTATION_FAILED', `cannot read ${file}: ${code ?? (err as Error).message}`, { cause: err });
  }
}

/** The value of "Key:\tvalue" in /proc/<pid>/status; "absent" when the kernel has no such line. */
function statusField(status: string, key: string): string {
  const line = status.split('\n').find((l) => l.startsWith(`${key}:`));
  return line === undefined ? 'absent' : line.slice(key.length + 1).trim();
}

function forbidden(scan: RootScan, names: readonly string[]): CheckOutcome {
  if (scan.error !== undefined) return { ok: false, evidence: `cannot scan the root filesystem: ${scan.error}` };
  const found = names.filter((n) => scan.names.has(n)).map((n) => scan.names.get(n) as string);
  if (found.length > 0) return { ok: false, evidence: `${listed(found)} in the root filesystem` };
  if (!scan.complete) return { ok: false, evidence: exceeded(scan) };
  return { ok: true, evidence: `none of ${names.join(', ')} among ${scan.entries} entries of the root filesystem` };
}

function executables(scan: RootScan, max: number): CheckOutcome {
  if (scan.error !== undefined) return { ok: false, evidence: `cannot scan the root filesystem: ${scan.error}` };
  if (scan.executables > max) {
    return { ok: false, evidence: `${scan.complete ? '' : 'at least '}${scan.executables} executable files, more than ${max}` };
  }
  if (!scan.complete) return { ok: false, evidence: exceeded(scan) };
  return { ok: true, evidence: `${scan.executables} executable files, at most ${max}` };
}

function exceeded(scan: RootScan): string {
  return `scan exceeded ${scan.limitMs} ms (${scan.entries} entries seen)`;
}

function listed(items: readonly string[]): string {
  const shown = items.slice(0, MAX_LISTED).join(', ');
  return items.length > MAX_LISTED ? `${shown} and ${items.length - MAX_LISTED} more` : shown;
}
