import { readFileSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { AttestError } from './errors.js';

/** One process as procfs showed it; every field comes from the kernel, none from the process's say-so. */
export interface ProcSnapshot {
  tgid: number;
  ppid: number;
  /** /proc/<pid>/stat field 22: clock ticks since boot; with tgid it names one process. */
  startTicks: bigint;
  /** Effective uid and gid: what the kernel checks access with. */
  uid: number;
  gid: number;
  comm: string;
  /** stat field 3: R, S, D, Z (zombie: exited, not yet reaped) ... */
  state: string;
  /** readlink of /proc/<pid>/exe, as is; null for kernel threads or when unreadable. */
  exe: string | null;
  /** The kernel's s_dev packing (major << 20 | minor), which BPF sees; null with exe. */
  exeDev: number | null;
  exeIno: bigint | null;
  /** The "0::" (cgroup v2) line of /proc/<pid>/cgroup, e.g. "/system.slice/x.service". */
  cgroupPath: string | null;
}

export interface ParsedStat {
  state: string;
  ppid: number;
  startTicks: bigint;
  comm: string;
}

export interface ProcReaderOptions {
  /** Where procfs is mounted; tests point it at a fixture tree. */
  procRoot?: string;
}

// The process exited (or was reaped) between two reads.
const GONE = new Set(['ENOENT', 'ESRCH']);
// A kernel thread has no exe; another user's process may refuse us (ptrace access check).
const NO_EXE = new Set(['ENOENT', 'ESRCH', 'EACCES', 'EPERM']);
const DECIMAL = /^\d+$/;

function errnoCode(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | undefined)?.code;
}

/**
 * Parses /proc/<pid>/stat. comm is chosen by the process (prctl PR_SET_NAME) and is
 * printed unescaped inside "(...)", so it may hold spaces and ')': only the LAST ')'
 * ends it, and every field after it is a plain number.
 */
export function parseStat(text: string): ParsedStat {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) {
    throw new AttestError('PROC_PARSE', 'stat has no "(comm)" field');
  }
  // After the comm, fields[0] is field 3 (state), so field N is fields[N - 3].
  const fields = text.slice(close + 1).trim().split(' ');
  const state = fields[3 - 3] ?? '';
  const ppid = fields[4 - 3];
  const start = fields[22 - 3];
  if (ppid === undefined || !DECIMAL.test(ppid) || start === undefined || !DECIMAL.test(start)) {
    throw new AttestError('PROC_PARSE', 'stat fields 4 (ppid) and 22 (starttime) must be decimal');
  }
  return { state, ppid: Number(ppid), startTicks: BigInt(start), comm: text.slice(open + 1, close) };
}

/**
 * Converts stat(2)'s st_dev (glibc's packing: 12+20 bits split around an 8-bit
 * minor) to the kernel's s_dev (major << 20 | minor), the number BPF reads from
 * an inode's superblock: an executable is matched in BPF by (s_dev, ino).
 */
export function devToKernel(stDev: bigint): number {
  const major = ((stDev >> 8n) & 0xfffn) | ((stDev >> 32n) & ~0xfffn);
  const minor = (stDev & 0xffn) | ((stDev >> 12n) & ~0xffn);
  // The kernel's dev_t has 12 bits of major and 20 of minor; stat never reports more.
  if (major > 0xfffn || minor > 0xfffffn) {
    throw new AttestError('PROC_PARSE', `st_dev ${stDev} does not fit the kernel's 12:20 dev_t`);
  }
  return Number((major << 20n) | minor);
}

interface StatusIds {
  tgid: number;
  uid: number;
  gid: number;
}

// "Uid:\treal\teffective\tsaved\tfs": the second number is the effective one.
function parseStatus(text: string, file: string): StatusIds {
  const lines = text.split('\n');
  const field = (key: string, index: number): number => {
    const line = lines.find((l) => l.startsWith(`${key}:`));
    const value = line?.slice(key.length + 1).trim().split(/\s+/)[index];
    if (value === undefined || !DECIMAL.test(value)) {
      throw new AttestError('PROC_PARSE', `${file}: no decimal field ${index + 1} on its "${key}:" line`);
    }
    return Number(value);
  };
  // Tgid, not the pid we were given: /proc/<tid> answers for a thread too.
  return { tgid: field('Tgid', 0), uid: field('Uid', 1), gid: field('Gid', 1) };
}

function parseCgroup(text: string): string | null {
  const line = text.split('\n').find((l) => l.startsWith('0::'));
  return line === undefined ? null : line.slice(3);
}

/** Reads processes from procfs. Synchronous: used at start-up and on resync, not per call. */
export class ProcReader {
  readonly #root: string;

  constructor(options: ProcReaderOptions = {}) {
    this.#root = options.procRoot ?? '/proc';
  }

  /** The numeric entries of procfs: thread-group ids (threads are not listed). */
  listPids(): number[] {
    let names: string[];
    try {
      names = readdirSync(this.#root);
    } catch (e) {
      throw new AttestError('PROC_PARSE', `cannot list ${this.#root}`, { cause: e });
    }
    return names.filter((n) => DECIMAL.test(n)).map(Number);
  }

  /** One process, or null when it is gone at any point of the read. */
  read(pid: number): ProcSnapshot | null {
    const dir = join(this.#root, String(pid));
    const first = this.#readStat(dir);
    if (first === null) return null;
    const status = this.#readFile(join(dir, 'status'));
    const cgroup = this.#readFile(join(dir, 'cgroup'));
    if (status === null || cgroup === null) return null;
    const exe = readExe(dir);
    // Stat is read first and last: had the pid been reused in between, the start
    // time differs and the fields above may belong to two processes.
    const last = this.#readStat(dir);
    if (last === null || last.startTicks !== first.startTicks) return null;
    const ids = parseStatus(status, join(dir, 'status'));
    const { state, ppid, startTicks, comm } = first;
    return { ...ids, state, ppid, startTicks, comm, ...exe, cgroupPath: parseCgroup(cgroup) };
  }

  #readStat(dir: string): ParsedStat | null {
    const file = join(dir, 'stat');
    const text = this.#readFile(file);
    if (text === null) return null;
    try {
      return parseStat(text);
    } catch (e) {
      throw new AttestError('PROC_PARSE', `${file}: ${(e as Error).message}`, { cause: e });
    }
  }

  #readFile(file: string): string | null {
    try {
      return readFileSync(file, 'utf8');
    } catch (e) {
      if (GONE.has(errnoCode(e) ?? '')) return null;
      throw new AttestError('PROC_PARSE', `cannot read ${file}`, { cause: e });
    }
  }
}

type ExeFields = Pick<ProcSnapshot, 'exe' | 'exeDev' | 'exeIno'>;

// readlink gives the name; stat through the magic link reaches the very inode the
// process runs, even if that file was renamed or deleted since.
function readExe(dir: string): ExeFields {
  const file = join(dir, 'exe');
  try {
    const exe = readlinkSync(file);
    const st = statSync(file, { bigint: true });
    return { exe, exeDev: devToKernel(st.dev), exeIno: st.ino };
  } catch (e) {
    if (NO_EXE.has(errnoCode(e) ?? '')) return { exe: null, exeDev: null, exeIno: null };
    if (e instanceof AttestError) throw e;
    throw new AttestError('PROC_PARSE', `cannot read ${file}`, { cause: e });
  }
}
