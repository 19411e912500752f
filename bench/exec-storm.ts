/**
 * bench/exec-storm: what tracking every process costs a host that forks and execs hard.
 * Two shells (one per core here) fork+exec /bin/true in a loop: with no tracker, with this
 * process's ProcessTracker consuming the events, and with no tracker again; the ratio is to the
 * mean of the two baselines, measured in this run. Then idle processes (10,000, fewer if pid_max
 * says so) are held in a child cgroup of the v2 mount to weigh the table: RSS and heap growth per
 * tracked process, after a full GC. Root only; attaches tracepoints only, never a cgroup program.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, release } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { hostTracker, type ProcessTracker, type TrackerStats } from '../agent/attest/index.js';
import { findCgroupV2Mount } from '../agent/kernel/index.js';

const SHELLS = 2;
const EXECS_PER_SHELL = 5000; // about 3 s a phase on the 2-core build machines
const HELD = 10_000;
const PID_HEADROOM = 2000; // pids left for the rest of the host while the held processes live
const MiB = 1024 * 1024;

interface Phase { readonly execs: number; readonly seconds: number; readonly cpuUs: number }
interface TrackedPhase { readonly phase: Phase; readonly before: TrackerStats; readonly after: TrackerStats; readonly rssBefore: number; readonly rss: number }
interface Weight { readonly held: number; readonly tracked: number; readonly rssBytes: number; readonly heapBytes: number; readonly stats: TrackerStats }
interface Memory { readonly rss: number; readonly heap: number }

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => (code === 0 ? resolve() : reject(new Error(`${child.spawnfile} exited with ${code ?? signal}`))));
  });
}

async function until(done: () => boolean, what: string, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

/** SHELLS shells fork+exec /bin/true perShell times each. The wall time ends when they exit;
 * this process's CPU time also covers `settle` (the tracker draining what is left). */
async function storm(perShell: number, settle: () => void = () => {}): Promise<Phase> {
  const script = `i=0; while [ $i -lt ${perShell} ]; do /bin/true; i=$((i+1)); done`;
  const cpu = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const shells = Array.from({ length: SHELLS }, () => spawn('/bin/sh', ['-c', script], { stdio: 'ignore' }));
  try {
    await Promise.all(shells.map(exited));
  } finally {
    for (const s of shells) if (s.exitCode === null && s.signalCode === null) s.kill('SIGKILL');
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  settle();
  const used = process.cpuUsage(cpu);
  return { execs: SHELLS * perShell, seconds, cpuUs: used.user + used.system };
}

async function trackedStorm(): Promise<TrackedPhase> {
  const { tracker } = hostTracker();
  const rssBefore = process.memoryUsage().rss;
  tracker.start();
  try {
    tracker.sync();
    const before = tracker.stats();
    const phase = await storm(EXECS_PER_SHELL, () => tracker.sync());
    return { phase, before, after: tracker.stats(), rssBefore, rss: process.memoryUsage().rss };
  } finally {
    tracker.stop();
  }
}

/** Idle processes in their own child cgroup: each `cat` reads the socket this process holds, so
 * even if the bench dies they get EOF and exit; cgroup.kill is the fast way out. */
class HeldProcesses {
  readonly dir: string;
  #shell: ChildProcess | undefined;

  constructor(mount: string) {
    this.dir = join(mount, `tether-bench-${process.pid}`);
    mkdirSync(this.dir);
  }

  start(count: number): void {
    const script = `echo $$ > "$1/cgroup.procs" || exit 1
      i=0; while [ $i -lt ${count} ]; do cat <&3 >/dev/null & i=$((i+1)); done; wait`;
    this.#shell = spawn('/bin/sh', ['-c', script, 'held', this.dir], { stdio: ['ignore', 'ignore', 'inherit', 'pipe'] });
    this.#shell.on('error', () => {}); // seen as members() never growing
  }

  pids(): number[] {
    return readFileSync(join(this.dir, 'cgroup.procs'), 'utf8').split('\n').filter((l) => l !== '').map(Number);
  }

  populated(): boolean {
    return /^populated 1$/m.test(readFileSync(join(this.dir, 'cgroup.events'), 'utf8'));
  }

  /** Kill everything in the cgroup (cgroup.kill, Linux 5.14+, else pid by pid), then remove it. */
  async remove(): Promise<void> {
    const kill = join(this.dir, 'cgroup.kill');
    if (existsSync(kill)) writeFileSync(kill, '1');
    else for (const pid of this.pids()) killQuietly(pid);
    this.#shell?.stdio[3]?.destroy();
    await until(() => !this.populated(), `${this.dir} to empty`, 30_000);
    rmdirSync(this.dir);
  }
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone already
  }
}

/** HELD, or fewer when pid_max or threads-max would leave the host under PID_HEADROOM pids. */
function heldCount(): number {
  const limit = (f: string): number => Number(readFileSync(`/proc/sys/kernel/${f}`, 'utf8').trim());
  const live = readdirSync('/proc').filter((n) => /^\d+$/.test(n)).length;
  return Math.max(0, Math.min(HELD, limit('pid_max') - live - PID_HEADROOM, limit('threads-max') - live - PID_HEADROOM));
}

function memory(gc: () => void): Memory {
  gc();
  gc();
  const m = process.memoryUsage();
  return { rss: m.rss, heap: m.heapUsed };
}

function tracked(tracker: ProcessTracker): number {
  tracker.sync();
  return tracker.stats().processes;
}

async function weighTable(gc: () => void): Promise<Weight> {
  const count = heldCount();
  const { tracker } = hostTracker();
  tracker.start();
  try {
    const held = new HeldProcesses(findCgroupV2Mount());
    try {
      const base = tracked(tracker);
      const m0 = memory(gc);
      held.start(count);
      await until(() => held.pids().length > count, `${count} held processes to start`);
      await until(() => tracked(tracker) >= base + count, 'the tracker to see the held processes');
      const m1 = memory(gc);
      const grown = tracked(tracker) - base;
      await held.remove();
      await until(() => tracked(tracker) <= base + count / 100, 'the table to shrink back');
      return { held: count, tracked: grown, rssBytes: m1.rss - m0.rss, heapBytes: m1.heap - m0.heap, stats: tracker.stats() };
    } finally {
      if (existsSync(held.dir)) await held.remove().catch((err: unknown) => console.error(`cleanup of ${held.dir}: ${String(err)}`));
    }
  } finally {
    tracker.stop();
  }
}

const num = (n: number, digits = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const rate = (p: Phase): number => p.execs / p.seconds;
const corePct = (p: Phase): string => `${num((100 * p.cpuUs) / 1e6 / p.seconds, 1)}% of a core`;

function report(baselines: readonly [Phase, Phase], t: TrackedPhase, w: Weight): string[] {
  const a = rate(baselines[0]);
  const b = rate(baselines[1]);
  const mean = (a + b) / 2;
  const spread = (100 * Math.abs(a - b)) / 2 / mean;
  const execs = t.phase.execs;
  const applied = t.after.eventsApplied - t.before.eventsApplied;
  const lost = t.after.eventsDropped - t.before.eventsDropped;
  const resyncs = t.after.resyncs - t.before.resyncs;
  const perTracked = (bytes: number): number => bytes / Math.max(1, w.tracked);
  const weighed = w.held === HELD ? '' : ` (measured with ${num(w.held)}: pid_max)`;
  return [
    '| measure | value | baseline | ratio |',
    '|---|---|---|---|',
    `| fork+exec/s, no tracker (mean of 2 runs, spread ±${num(spread, 1)}%) | ${num(mean)} (${num(a)}, ${num(b)}) | | |`,
    `| fork+exec/s, tracker running | ${num(rate(t.phase))} | ${num(mean)} | ${num(rate(t.phase) / mean, 2)}× |`,
    `| tracker CPU during the storm (this process, incl. final drain) | ${corePct(t.phase)}, ${num(t.phase.cpuUs / execs, 1)} µs/exec | ${corePct(baselines[0])}, ${corePct(baselines[1])} | |`,
    `| events applied / lost / resyncs | ${num(applied)} (${num(applied / execs, 2)} per exec) / ${lost} / ${resyncs} | | |`,
    `| tracker RSS at the end of the storm | ${num(t.rss / MiB, 1)} MiB | ${num(t.rssBefore / MiB, 1)} MiB before start() | ${num(t.rss / t.rssBefore, 2)}× |`,
    `| RSS per 10,000 tracked processes${weighed} | ${num((perTracked(w.rssBytes) * HELD) / MiB, 1)} MiB (${num(perTracked(w.rssBytes))} bytes each; heap ${num(perTracked(w.heapBytes))} bytes each) | | |`,
    '',
    `${num(execs)} fork+execs a phase (${SHELLS} shells × ${num(EXECS_PER_SHELL)}), after an unreported warm-up; ` +
      `table weighed with ${num(w.tracked)} tracked of ${num(w.held)} held (lost ${w.stats.eventsDropped}, resyncs ${w.stats.resyncs}).`,
    `Machine: nproc ${availableParallelism()}, Linux ${release()}, Node ${process.version}; ${new Date().toISOString()}.`,
  ];
}

async function main(gc: () => void): Promise<void> {
  await storm(Math.ceil(EXECS_PER_SHELL / 10)); // warm caches; not reported
  const first = await storm(EXECS_PER_SHELL);
  const withTracker = await trackedStorm();
  const second = await storm(EXECS_PER_SHELL);
  const weight = await weighTable(gc);
  console.log(report([first, second], withTracker, weight).join('\n'));
}

// The table is weighed after a full GC: without --expose-gc, run again with it.
if (globalThis.gc === undefined) {
  const r = spawnSync(process.execPath, ['--expose-gc', ...process.execArgv, ...process.argv.slice(1)], { stdio: 'inherit' });
  process.exitCode = r.status ?? 1;
} else {
  await main(globalThis.gc);
}
