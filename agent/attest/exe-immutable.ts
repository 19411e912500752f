import { lstatSync, readlinkSync, statSync, watch, type BigIntStats, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import { devToKernel } from './proc-reader.js';
import type { ProcessRecord } from './process-table.js';

/** A posture check's answer: whether it holds and what was seen (for the log, the CLI and the status). */
export interface CheckOutcome {
  readonly ok: boolean;
  readonly evidence: string;
}

const DELETED = ' (deleted)';

/** Where the executable's name is reachable from the agent: the path, and the top of the walk. */
interface ExeLocation {
  /** The path the agent stats ("/usr/bin/x", or "/proc/<pid>/root/usr/bin/x" in another mount namespace). */
  readonly path: string;
  /** The process's root as the agent reaches it: "/" or "/proc/<pid>/root"; the walk ends there. */
  readonly top: string;
  /** The file the process runs (fstat of /proc/<pid>/exe). */
  readonly exe: BigIntStats;
}

/**
 * The executable's name, checked to be the very file the process exec'd. /proc/<pid>/exe reads as
 * the path from the agent's root (the host path of a chroot's file) or, in a mount namespace the
 * agent cannot reach, from that namespace's root: so the name is tried as is, then under
 * /proc/<pid>/root, and kept where it names a file with the exec'd dev, inode, size and mtime.
 */
export function locateExe(procRoot: string, record: ProcessRecord): ExeLocation | CheckOutcome {
  const pid = record.key.tgid;
  if (record.exeIno === null) return { ok: false, evidence: 'a kernel thread has no executable' };
  let exe: BigIntStats;
  let name: string;
  try {
    exe = statSync(`${procRoot}/${pid}/exe`, { bigint: true });
    name = readlinkSync(`${procRoot}/${pid}/exe`);
  } catch (err) {
    return { ok: false, evidence: `cannot read ${procRoot}/${pid}/exe: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` };
  }
  if (exe.ino !== record.exeIno || devToKernel(exe.dev) !== record.exeDev) {
    return { ok: false, evidence: `the process runs ${fileId(exe)}, not the exec'd ${record.exeDev}:${record.exeIno}` };
  }
  if (name.endsWith(DELETED)) return { ok: false, evidence: `${name.slice(0, -DELETED.length)} was deleted or replaced since it was exec'd` };
  const tops = ['/', `${procRoot}/${pid}/root`];
  for (const top of tops) {
    const path = top === '/' ? name : `${top}${name}`;
    const st = lstatOrNull(path);
    if (st !== null && sameFile(st, exe)) return { path, top, exe };
  }
  return { ok: false, evidence: `${name} is no longer the file that was exec'd (${fileId(exe)}, size ${exe.size}, mtime ${exe.mtime.toISOString()})` };
}

/**
 * exeImmutable: the executable and every directory above it up to the process's root are
 * writable only by root (owned by uid 0, no group write but root's group's, no write for others),
 * a sticky directory counting when the entry below it is root's (others cannot rename or unlink
 * it), and the name still reaches the file that was exec'd. POSIX ACLs are not read.
 */
export function checkExeImmutable(procRoot: string, record: ProcessRecord): CheckOutcome {
  const where = locateExe(procRoot, record);
  if ('ok' in where) return where;
  const shown = (p: string): string => (where.top === '/' ? p : p.slice(where.top.length) || '/');
  const fileProblem = writableByOthers(where.exe, undefined);
  if (fileProblem !== undefined) return { ok: false, evidence: `${shown(where.path)} ${fileProblem}` };
  let child = where.exe;
  let dirs = 0;
  for (let dir = dirname(where.path); ; dir = dirname(dir)) {
    const atTop = dir === where.top || dir.length < where.top.length;
    const top = atTop ? where.top : dir;
    let st: BigIntStats;
    try {
      st = atTop ? statSync(top, { bigint: true }) : lstatSync(top, { bigint: true });
    } catch (err) {
      return { ok: false, evidence: `cannot stat ${shown(top)}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` };
    }
    const problem = writableByOthers(st, child);
    if (problem !== undefined) return { ok: false, evidence: `${shown(top)} ${problem}` };
    dirs += 1;
    if (atTop || top === '/') break;
    child = st;
  }
  return { ok: true, evidence: `${shown(where.path)} is the exec'd file (${fileId(where.exe)}); it and the ${dirs} directories above it are writable only by root` };
}

/** Why someone other than root could replace this file or directory's entry, or undefined. */
function writableByOthers(st: BigIntStats, child: BigIntStats | undefined): string | undefined {
  const mode = Number(st.mode & 0o7777n);
  const octal = `mode ${mode.toString(8).padStart(4, '0')}`;
  if (st.uid !== 0n) return `is owned by uid ${st.uid}`;
  const groupWrite = (mode & 0o020) !== 0 && st.gid !== 0n;
  const otherWrite = (mode & 0o002) !== 0;
  if (!groupWrite && !otherWrite) return undefined;
  // A sticky directory: only the entry's owner (or the directory's, root) may rename or unlink it.
  if (child !== undefined && (mode & 0o1000) !== 0 && child.uid === 0n) return undefined;
  return otherWrite ? `is writable by others (${octal})` : `is writable by group ${st.gid} (${octal})`;
}

function sameFile(a: BigIntStats, b: BigIntStats): boolean {
  return a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeNs === b.mtimeNs;
}

function lstatOrNull(path: string): BigIntStats | null {
  try {
    return lstatSync(path, { bigint: true });
  } catch {
    return null;
  }
}

function fileId(st: BigIntStats): string {
  return `dev ${devToKernel(st.dev)} inode ${st.ino}`;
}

/**
 * Tells `onChange` when the executable's directory reports a change to its name (replaced,
 * renamed, removed, its mode or owner changed): inotify on the directory, as the agent reaches it.
 * Nothing is watched when the name no longer reaches the exec'd file (the check fails anyway).
 * A change to a directory further up is seen at the next exec, entry change or SVID rotation.
 */
export function watchExe(procRoot: string, record: ProcessRecord, onChange: () => void): () => void {
  const where = locateExe(procRoot, record);
  if ('ok' in where) return () => undefined;
  const name = basename(where.path);
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(dirname(where.path), { persistent: false }, (_event, file) => {
      if (file === null || file === name) onChange();
    });
    watcher.on('error', () => watcher?.close());
  } catch {
    return () => undefined;
  }
  return () => watcher?.close();
}
