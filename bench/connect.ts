/**
 * bench/connect: what the connect hooks cost a host that connects hard, and what they cost an
 * established connection. A C client (connect-loop.c) in a child cgroup of the v2 mount does
 * socket+connect+close to a loopback server (outside the cgroup) in a tight loop, in rounds that
 * interleave: no hooks at all; bpf/sock.bpf.c's hooks on the cgroup (SockPrograms: everything it
 * attaches) with 10,000 rules in force and 10,000 more process identities, the client identified
 * at exec and allowed, the event ring read as the agent reads it; the same with nobody reading
 * the ring; audit mode with no rule for the client (every connect audited); the hooks with no
 * policy loaded. One more round of each policy with the kernel's BPF stats on gives the programs'
 * own run time. Then bytes/s over one established loopback connection, with and without the hooks.
 * Ratios are to the no-hooks rounds of this run; each row is a median.
 *
 * The premise is checked, not assumed: the client gets its identity the way a workload does (its
 * executable in exe_identity, the exec tracepoint fills proc_identity), the enforcing rounds refuse
 * unidentified callers (so a client without its identity would fail on its first connect), and the
 * verdict counters must show exactly one ALLOW (enforce) or AUDIT (audit) per connect the client
 * made. Root only. Hooks attach only on the bench's own cgroup, pins live under their own dir, and
 * both are removed at the end, on failure and on SIGINT/SIGTERM. BENCH_SOCK_OBJECT=path weighs
 * another build of sock.bpf.c (a candidate change) in the same way.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, release } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { devToKernel } from '../agent/attest/index.js';
import { PolicySwitch, type CompiledPolicy, type PolicyTuple } from '../agent/enforce/index.js';
import { SockEventKind, SockPrograms, Verdict, ensureBpffs, findCgroupV2Mount, packageRoot, uninstall, type SockEvent } from '../agent/kernel/index.js';

const ROUNDS = 8; // per condition, interleaved
const SECONDS = 1.5; // one connect round
const STREAM_ROUNDS = 7;
const STREAM_BYTES = 1024 ** 3; // 1 GiB a stream round
const STREAM_CHUNK = 64 * 1024;
const RULES = 10_000;
const EXTRA_PROCESSES = 10_000;
/** Fake tgids for the extra identities: PID_MAX_LIMIT (2^22) and up, which no process can have. */
const FAKE_TGID = 4_194_304;
const A = 16; // the client's identity number (FIRST_IDENTITY_NUMBER)
const B = 17; // the listeners'
const ANY_UID = 0xffffffff; // TETHER_ANY_UID
const PIN_DIR = `/sys/fs/bpf/tether-bench-${process.pid}`;
const LOOP = join(packageRoot(), 'build', 'bench', 'connect-loop');
/** Another build of bpf/sock.bpf.c to weigh (a candidate change); default build/bpf/sock.bpf.o. */
const OBJECT = process.env.BENCH_SOCK_OBJECT || undefined;
const BPFTOOL = process.env.BPFTOOL ?? (existsSync('/usr/sbin/bpftool') ? '/usr/sbin/bpftool' : 'bpftool');

type Condition = 'none' | 'enforce' | 'audit' | 'idle' | 'unread';
const CONDITIONS: readonly Condition[] = ['none', 'enforce', 'unread', 'audit', 'idle'];
const LABEL: Record<Condition, string> = {
  none: 'no hooks (baseline)',
  enforce: `hooks, enforce: ${num(RULES)} rules, ${num(EXTRA_PROCESSES)} more identities; client identified, allowed`,
  audit: `hooks, audit: no rule for the client (${num(RULES - 2)} others in force), every connect audited`,
  idle: 'hooks attached, no policy loaded',
  unread: 'as enforce, but nobody reads the event ring (it fills; events lost)',
};

interface Run { readonly count: number; readonly wallNs: number; readonly cpuNs: number }
interface Verdicts { allow: bigint; deny: bigint; audit: bigint }
/** The event ring as the bench's reader saw it (counted, nothing more), and what the kernel lost. */
interface Events { verdict: number; open: number; close: number; lost: bigint }
/** One attached program's run time while BPF stats were on: bpftool's run_cnt and run_time_ns. */
interface ProgramTime { readonly hook: string; readonly runs: number; readonly ns: number }

function num(n: number, digits = 0): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}
const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

/** The bench's child of the v2 mount (never the root): only the client runs in it. */
class BenchCgroup {
  readonly path: string;
  constructor() {
    this.path = join(findCgroupV2Mount(), `tether-bench-${process.pid}`);
    mkdirSync(this.path);
  }

  /** argv inside the cgroup: a shell moves itself in, then execs it (the exec gives the identity). */
  spawn(argv: readonly string[]): ChildProcess {
    return spawn('/bin/sh', ['-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', this.path, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
  }

  async remove(): Promise<void> {
    if (!existsSync(this.path)) return;
    const kill = join(this.path, 'cgroup.kill');
    for (let i = 0; i < 100; i++) {
      if (existsSync(kill)) writeFileSync(kill, '1');
      else for (const pid of readFileSync(join(this.path, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) killQuietly(Number(pid));
      try {
        rmdirSync(this.path);
        return;
      } catch {
        await sleep(50);
      }
    }
    throw new Error(`cannot remove ${this.path}`);
  }
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone already
  }
}

/** Runs a child to its end; its stdout's numbers, or an error with its stderr. */
function finish(child: ChildProcess, what: string): Promise<number[]> {
  let out = '';
  let err = '';
  child.stdout?.on('data', (b: Buffer) => { out += b.toString(); });
  child.stderr?.on('data', (b: Buffer) => { err += b.toString(); });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => {
      if (code === 0) resolve(out.trim().split(/\s+/).map(Number));
      else reject(new Error(`${what} exited with ${code ?? signal}: ${err.trim() || out.trim()}`));
    });
  });
}

/** A server of connect-loop outside the cgroup: its port once it listens. */
function startServer(mode: 'accept' | 'sink'): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(LOOP, [mode], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => reject(new Error(`connect-loop ${mode} exited with ${code ?? signal}`)));
    child.stdout?.once('data', (b: Buffer) => resolve({ child, port: Number(b.toString().trim()) }));
  });
}

class Bench {
  readonly cgroup = new BenchCgroup();
  readonly children = new Set<ChildProcess>();
  sock: SockPrograms | undefined;
  accept = 0;
  sink = 0;
  /** The hooks SockPrograms attached (its pinned links), as seen in the first hooked round. */
  hooks: string[] = [];
  /** Verdicts of the measured connect rounds, and the connects they were for, by condition. */
  readonly verdicts = new Map<Condition, Verdicts & { connects: bigint }>();
  /** Events of the measured connect rounds, by condition. */
  readonly events = new Map<Condition, Events>();
  #round: Events = { verdict: 0, open: 0, close: 0, lost: 0n };
  #cleaned: Promise<void> | undefined;

  async start(): Promise<void> {
    for (const mode of ['accept', 'sink'] as const) {
      const s = await startServer(mode);
      this.children.add(s.child);
      this[mode] = s.port;
    }
  }

  /** The hooks on the cgroup, maps filled for `condition`; the caller runs, then unhook()s. */
  hook(condition: Exclude<Condition, 'none'>): void {
    ensureBpffs(PIN_DIR);
    // The events read as the agent reads them (on the loop, decoded), only counted here.
    this.#round = { verdict: 0, open: 0, close: 0, lost: 0n };
    const seen = this.#round;
    const onEvents = (events: SockEvent[]): void => {
      for (const e of events) {
        if (e.kind === SockEventKind.VERDICT) seen.verdict++;
        else if (e.kind === SockEventKind.OPEN) seen.open++;
        else if (e.kind === SockEventKind.CLOSE) seen.close++;
      }
    };
    const sock = SockPrograms.open({ pinDir: PIN_DIR, cgroup: this.cgroup.path, ...(condition === 'unread' ? {} : { onEvents }),
      ...(OBJECT ? { objectPath: OBJECT } : {}) });
    this.sock = sock;
    if (this.hooks.length === 0) this.hooks = readdirSync(PIN_DIR).filter((n) => n.startsWith('link_')).map((n) => n.slice(5)).sort();
    const st = statSync(LOOP, { bigint: true });
    sock.maps.executables.update({ dev: devToKernel(st.dev), ino: st.ino, uid: ANY_UID }, A);
    const fakeId = (i: number): number => B + 1 + i;
    sock.maps.identities.updateMany(Array.from({ length: EXTRA_PROCESSES }, (_, i) =>
      [FAKE_TGID + i, { id: fakeId(i), coarse: 0, startNs: 1_000_000_000n + BigInt(i) }] as const));
    sock.maps.listeners.update(this.accept, B);
    sock.maps.listeners.update(this.sink, B);
    const others: PolicyTuple[] = Array.from({ length: RULES - 2 }, (_, i) =>
      ({ src: fakeId(i), dst: i % 2 ? B : fakeId((i + 1) % EXTRA_PROCESSES), port: 1024 + (i % 30_000) }));
    const mine: PolicyTuple[] = [{ src: A, dst: B, port: this.accept }, { src: A, dst: B, port: this.sink }];
    const policies = new PolicySwitch(sock.maps);
    const policy = (p: Pick<CompiledPolicy, 'mode' | 'unidentified' | 'tuples'>): CompiledPolicy => ({ ...p, cidrs: [] });
    if (condition === 'enforce' || condition === 'unread') {
      // Unidentified callers refused: a client without its identity fails on its first connect.
      const { rules } = policies.apply(policy({ mode: 'enforce', unidentified: 'deny', tuples: [...others.slice(0, RULES / 2), ...mine, ...others.slice(RULES / 2)] }));
      if (rules !== RULES) throw new Error(`${rules} rules in force, not ${RULES}`);
    } else if (condition === 'audit') {
      // Unidentified callers allowed (ALLOW): only an identified client without a rule is AUDIT.
      policies.apply(policy({ mode: 'audit', unidentified: 'allow', tuples: others }));
    } else {
      policies.disable();
    }
  }

  counts(): Verdicts {
    const sum = (v: number): bigint => (this.sock?.maps.verdicts.lookup(v) ?? []).reduce((a, b) => a + b, 0n);
    return { allow: sum(Verdict.ALLOW), deny: sum(Verdict.DENY), audit: sum(Verdict.AUDIT) };
  }

  unhook(): void {
    this.sock?.release();
    this.sock = undefined;
    uninstall(PIN_DIR);
  }

  async client(argv: readonly string[]): Promise<Run> {
    const child = this.cgroup.spawn([LOOP, ...argv]);
    this.children.add(child);
    try {
      const [count, wallNs, cpuNs] = await finish(child, `connect-loop ${argv[0]}`);
      if (count === undefined || wallNs === undefined || cpuNs === undefined || ![count, wallNs, cpuNs].every(Number.isFinite)) {
        throw new Error(`connect-loop ${argv[0]}: unreadable output`);
      }
      return { count, wallNs, cpuNs };
    } finally {
      this.children.delete(child);
    }
  }

  /** Run counts and times of the programs attached now (bpftool, through their pinned links). */
  programTimes(): ProgramTime[] {
    const json = (args: string[]): Record<string, unknown> => JSON.parse(execFileSync(BPFTOOL, ['-j', ...args], { encoding: 'utf8' })) as Record<string, unknown>;
    return readdirSync(PIN_DIR).filter((n) => n.startsWith('link_')).sort().map((n) => {
      const prog = json(['prog', 'show', 'id', String(json(['link', 'show', 'pinned', join(PIN_DIR, n)]).prog_id)]);
      return { hook: n.slice(5), runs: Number(prog.run_cnt ?? 0), ns: Number(prog.run_time_ns ?? 0) };
    });
  }

  /** One round of `condition` around `run`; with hooks, the verdicts must account for every connect.
   * `inspect` sees the hooks before they go. */
  async round(condition: Condition, run: () => Promise<Run>, connects: (r: Run) => number, inspect?: () => void, tally = false): Promise<Run> {
    if (condition === 'none') return run();
    this.hook(condition);
    try {
      const r = await run();
      inspect?.();
      this.sock?.drainEvents();
      this.#round.lost = this.sock?.eventsLost() ?? 0n;
      if (tally) {
        const sum = this.events.get(condition) ?? { verdict: 0, open: 0, close: 0, lost: 0n };
        this.events.set(condition, { verdict: sum.verdict + this.#round.verdict, open: sum.open + this.#round.open,
          close: sum.close + this.#round.close, lost: sum.lost + this.#round.lost });
      }
      const v = this.counts();
      const n = BigInt(connects(r));
      if (condition === 'enforce' || condition === 'unread') {
        if (v.allow !== n || v.deny !== 0n || v.audit !== 0n) {
          throw new Error(`premise broken: ${n} connects, verdicts allow ${v.allow} deny ${v.deny} audit ${v.audit} (want all allow)`);
        }
      } else if (condition === 'audit') {
        if (v.audit !== n || v.allow !== 0n || v.deny !== 0n) {
          throw new Error(`premise broken: ${n} connects in audit mode, verdicts allow ${v.allow} deny ${v.deny} audit ${v.audit} (want all audit: identified, no rule)`);
        }
      } else if (v.allow + v.deny + v.audit !== 0n) {
        throw new Error(`hooks with no policy counted verdicts: ${JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x))}`);
      }
      if (tally) {
        const sum = this.verdicts.get(condition) ?? { allow: 0n, deny: 0n, audit: 0n, connects: 0n };
        this.verdicts.set(condition, { allow: sum.allow + v.allow, deny: sum.deny + v.deny, audit: sum.audit + v.audit, connects: sum.connects + n });
      }
      return r;
    } finally {
      this.unhook();
    }
  }

  /** Idempotent: children killed, hooks detached and pins removed, the cgroup removed. */
  cleanup(): Promise<void> {
    this.#cleaned ??= (async () => {
      for (const c of this.children) if (c.pid !== undefined) killQuietly(c.pid);
      const problems: string[] = [];
      try {
        this.sock?.release();
        this.sock = undefined;
        uninstall(PIN_DIR);
      } catch (err) {
        problems.push(`pins under ${PIN_DIR}: ${String(err)}`);
      }
      try {
        await this.cgroup.remove();
      } catch (err) {
        problems.push(String(err));
      }
      if (problems.length > 0) throw new Error(`cleanup: ${problems.join('; ')}`);
    })();
    return this.#cleaned;
  }
}

function rotate<T>(xs: readonly T[], by: number): T[] {
  return xs.map((_, i) => xs[(i + by) % xs.length] as T);
}

async function main(bench: Bench): Promise<void> {
  await bench.start();
  const connectRun = (): Promise<Run> => bench.client(['connect', String(bench.accept), String(SECONDS)]);
  const streamRun = (): Promise<Run> => bench.client(['stream', String(bench.sink), String(STREAM_BYTES), String(STREAM_CHUNK)]);

  await bench.client(['connect', String(bench.accept), '0.5']); // warm-up, not reported
  const connects = new Map<Condition, Run[]>(CONDITIONS.map((c) => [c, []]));
  for (let r = 0; r < ROUNDS; r++) {
    for (const c of rotate(CONDITIONS, r)) connects.get(c)?.push(await bench.round(c, connectRun, (x) => x.count, undefined, true));
  }
  // The connect hook's own run time, in one more round of each policy (not in the medians: BPF
  // stats, on while that client runs, add their own clock reads to every program run).
  const times = new Map<Condition, { run: Run; programs: ProgramTime[] }>();
  for (const c of ['enforce', 'unread', 'audit'] as const) {
    let programs: ProgramTime[] = [];
    const run = await bench.round(c, () => bench.client(['connect', String(bench.accept), String(SECONDS), 'stats']), (x) => x.count,
      () => { programs = bench.programTimes(); });
    times.set(c, { run, programs });
  }
  const streams = new Map<Condition, Run[]>([['none', []], ['enforce', []]]);
  for (let r = 0; r < STREAM_ROUNDS; r++) {
    for (const c of rotate(['none', 'enforce'] as const, r)) streams.get(c)?.push(await bench.round(c, streamRun, () => 1));
  }
  console.log(report(bench, connects, times, streams).join('\n'));
}

function report(bench: Bench, connects: Map<Condition, Run[]>, times: Map<Condition, { run: Run; programs: ProgramTime[] }>,
  streams: Map<Condition, Run[]>): string[] {
  const rate = (r: Run): number => (r.count * 1e9) / r.wallNs;
  const cpuPer = (r: Run): number => r.cpuNs / r.count;
  const runs = (m: Map<Condition, Run[]>, c: Condition): Run[] => m.get(c) ?? [];
  const base = median(runs(connects, 'none').map(rate));
  const baseCpu = median(runs(connects, 'none').map(cpuPer));
  const lines = [
    `| condition (connect()+close to 127.0.0.1, ${ROUNDS} interleaved rounds × ${SECONDS} s) | connects/s (median) | min – max | client CPU per connect | ratio to no hooks | cost per connect |`,
    '|---|---|---|---|---|---|',
  ];
  for (const c of CONDITIONS) {
    const rs = runs(connects, c);
    const rates = rs.map(rate);
    const m = median(rates);
    const cpu = median(rs.map(cpuPer));
    const cost = c === 'none' ? '' : `${num(1e9 / m - 1e9 / base)} ns wall, ${num(cpu - baseCpu)} ns CPU`;
    lines.push(`| ${LABEL[c]} | ${num(m)} | ${num(Math.min(...rates))} – ${num(Math.max(...rates))} | ${num(cpu / 1000, 2)} µs | ${num(m / base, 3)}× | ${cost} |`);
  }
  lines.push('', '| the programs\' own run time (kernel BPF stats, one more round each) | connects | program runs | ns per run | ns per connect |', '|---|---|---|---|---|');
  for (const [c, t] of times) {
    for (const p of t.programs.filter((x) => x.runs > 0 && !x.hook.startsWith('identity_'))) { // the tracepoints are not on the connect path
      lines.push(`| ${c}: ${p.hook} | ${num(t.run.count)} | ${num(p.runs)} | ${num(p.ns / p.runs)} | ${num(p.ns / t.run.count)} |`);
    }
  }
  const gbps = (r: Run): number => r.count / r.wallNs; // bytes/ns = GB/s
  const sBase = median(runs(streams, 'none').map(gbps));
  lines.push(
    '',
    `| condition (one established loopback connection, ${num(STREAM_BYTES / 1024 ** 3)} GiB in ${num(STREAM_CHUNK / 1024)} KiB writes, ${STREAM_ROUNDS} interleaved rounds) | GB/s (median) | min – max | sender CPU per GiB | ratio to no hooks |`,
    '|---|---|---|---|---|',
  );
  for (const c of ['none', 'enforce'] as const) {
    const rs = runs(streams, c);
    const xs = rs.map(gbps);
    const cpu = median(rs.map((r) => (r.cpuNs / r.count) * 1024 ** 3));
    lines.push(`| ${LABEL[c]} | ${num(median(xs), 2)} | ${num(Math.min(...xs), 2)} – ${num(Math.max(...xs), 2)} | ${num(cpu / 1e6)} ms | ${num(median(xs) / sBase, 3)}× |`);
  }
  lines.push(
    '',
    `Hooks attached on the bench cgroup (SockPrograms): ${bench.hooks.join(', ')}.`,
    `Verdicts counted in the measured rounds (enforce and unread refuse unidentified callers, so a client without its identity would fail; ` +
      `audit allows them, so an AUDIT is an identified client without a rule): ` +
      [...bench.verdicts].map(([c, v]) => `${c}: ${num(Number(v.connects))} connects, allow ${v.allow}, deny ${v.deny}, audit ${v.audit}`).join('; ') + '.',
    `The ${num(EXTRA_PROCESSES)} extra identities use fake tgids from ${num(FAKE_TGID)} up (above PID_MAX_LIMIT: no such processes); ` +
      `the client is identified by its executable at exec (exe_identity → proc_identity, exact start time). ` +
      `Servers run outside the cgroup; the client closes with RST (SO_LINGER 0), so no TIME_WAIT.`,
    `Events read from the ring in the measured rounds (decoded on this process's loop and counted, as the agent would read them): ` +
      [...bench.events].map(([c, e]) => `${c}: ${num(e.open)} open, ${num(e.close)} close, ${num(e.verdict)} verdict, ${e.lost} lost`).join('; ') + '.',
    `Machine: nproc ${availableParallelism()} (${cpus()[0]?.model.trim() ?? 'unknown cpu'}), Linux ${release()}, Node ${process.version}; ` +
      `load average ${num(loadAtStart, 2)} at the start, ${num(loadavg()[0] ?? 0, 2)} at the end (other work on the machine moves the wall-clock rows); ${new Date().toISOString()}.`,
  );
  return lines;
}

const loadAtStart = loadavg()[0] ?? 0;
const bench = new Bench();
const stop = (signal: NodeJS.Signals): void => {
  console.error(`${signal}: cleaning up`);
  bench.cleanup().then(() => process.exit(130), (err: unknown) => { console.error(String(err)); process.exit(1); });
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
try {
  await main(bench);
} finally {
  await bench.cleanup();
}
