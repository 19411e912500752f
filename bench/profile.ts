/**
 * bench/profile: what behaviour profiles cost (agent/profile/, bpf/lib/sock_profile.h), and how
 * fast a quarantine takes effect. All in a child cgroup of the v2 mount with bpf/sock.bpf.c's
 * hooks on it and pins under their own dir; no policy is loaded (connects are never refused but
 * for a quarantine), the shells and clients get identity X at exec (exe_identity).
 *  - exec rate: two shells (one per core) fork+exec /bin/true in a loop; "none": X has no profile;
 *    "enforce": X is enforced with /bin/sh and /bin/true allowed, beside 99 other enforced
 *    identities of 20 executables and 10 destinations each (so the maps are not empty). Rounds
 *    interleave.
 *  - connect() rate: connect-loop (C) socket+connect+close to a loopback server outside the
 *    cgroup, the same two conditions plus 1,000 quarantined pids of others; enforced, X's
 *    destination (127.0.0.1/32 on the server's port) is in its profile, so each connect is
 *    checked against it. The quarantine lookup runs on every connect in both.
 *  - memory per profiled identity: the kernel's maps are preallocated hashes (memlock fixed at
 *    load, whatever is profiled); user space: heap per parsed profile (10 executables, 10
 *    destinations, 3 ports) over 1,000, after a full GC, and its file's size.
 *  - deviating exec → quarantine in effect: a python of identity X (enforced) forks; the child
 *    reads CLOCK_BOOTTIME, writes it to a pipe and execs /bin/echo (outside the profile: killed);
 *    the parent connects in a loop until EPERM. Latency = the parent's first EPERM − the child's
 *    time before execve. Also: until the kernel's event was written (ktime in it), and until this
 *    process's ring reader had it (where the agent ends the process's Workload API streams).
 * Root only. Needs `make bench` (build/bench/connect-loop).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { devToKernel } from '../agent/attest/index.js';
import {
  ProfileEventKind, ProfileMode, SockPrograms, bootTimeNs, cidrKey, ensureBpffs, findCgroupV2Mount, packageRoot, uninstall, type ProfileEvent,
} from '../agent/kernel/index.js';
import { ProfileStore, formatProfile, type Profile } from '../agent/profile/index.js';
import { SpiffeId } from '../agent/spiffe/index.js';

const PIN_DIR = `/sys/fs/bpf/tether-bench-profile-${process.pid}`;
const LOOP = join(packageRoot(), 'build', 'bench', 'connect-loop');
const SH = realpathSync('/bin/sh');
const TRUE = realpathSync('/bin/true');
const PY = realpathSync('/usr/bin/python3');
const ECHO = realpathSync('/bin/echo'); // outside the profile: the deviating exec
const X = 700;
const ANY_UID = 0xffffffff;
const EXECS_PER_SHELL = 3000;
const ROUNDS = 3;
const CONNECT_SECONDS = 2;
const LATENCY_SAMPLES = 400;

type Condition = 'none' | 'enforce';

function fileKey(path: string): { dev: number; ino: bigint } {
  const st = statSync(path, { bigint: true });
  return { dev: devToKernel(st.dev), ino: st.ino };
}

class BenchCgroup {
  readonly path = join(findCgroupV2Mount(), `tether-bench-profile-${process.pid}`);
  constructor() { mkdirSync(this.path); }
  spawn(argv: readonly string[]): ChildProcess {
    return spawn('/bin/sh', ['-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', this.path, ...argv], { stdio: ['pipe', 'pipe', 'pipe'] });
  }
  async remove(): Promise<void> {
    for (let i = 0; i < 100 && existsSync(this.path); i++) {
      writeFileSync(join(this.path, 'cgroup.kill'), '1');
      try { rmdirSync(this.path); return; } catch { await sleep(50); }
    }
  }
}

function output(child: ChildProcess): Promise<string> {
  let out = '';
  let err = '';
  child.stdout?.on('data', (b: Buffer) => { out += b.toString(); });
  child.stderr?.on('data', (b: Buffer) => { err += b.toString(); });
  return new Promise((resolve, reject) => child.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${child.spawnfile}: ${code} ${err}`)))));
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const pct = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))] as number;

class Bench {
  readonly cg = new BenchCgroup();
  readonly events: Array<{ event: ProfileEvent; seenNs: bigint }> = [];
  readonly sock: SockPrograms;

  constructor(port: number) {
    ensureBpffs(PIN_DIR);
    this.sock = SockPrograms.open({
      pinDir: PIN_DIR, cgroup: this.cg.path, wakeupBytes: 0,
      onEvents: () => {}, onProfileEvents: (batch) => { const seenNs = bootTimeNs(); for (const event of batch) this.events.push({ event, seenNs }); },
    });
    for (const path of [SH, LOOP, PY]) this.sock.maps.executables.update({ ...fileKey(path), uid: ANY_UID }, X);
    // 99 other enforced identities of 20 executables each, and 1,000 quarantined pids of others
    for (let id = 1000; id < 1099; id++) {
      this.sock.maps.profileModes.update(id, ProfileMode.ENFORCE);
      for (let i = 0; i < 20; i++) this.sock.maps.profileExes.update({ id, dev: 1, ino: BigInt(id * 100 + i) }, 1);
    }
    for (const path of [SH, TRUE, LOOP, PY]) this.sock.maps.profileExes.update({ id: X, ...fileKey(path) }, 1);
    // X's one destination (the loopback server, unidentified: by address), beside 99 × 10 of others'
    const loopback = (src: number, p: number): ReturnType<typeof cidrKey> =>
      cidrKey({ src, port: p, generation: 0, family: 4, address: Buffer.from([127, 0, 0, 1]), prefixLength: 32 });
    this.sock.maps.profileCidrs.update(loopback(X, port), 1);
    for (let id = 1000; id < 1099; id++) for (let i = 0; i < 10; i++) this.sock.maps.profileCidrs.update(loopback(id, 10_000 + i), 1);
  }

  set(condition: Condition): void {
    if (condition === 'enforce') this.sock.maps.profileModes.update(X, ProfileMode.ENFORCE);
    else this.sock.maps.profileModes.delete(X);
    for (let tgid = 4_000_000; tgid < 4_001_000; tgid++) {
      if (condition === 'enforce') this.sock.maps.quarantined.update(tgid, { startNs: 1n, sinceNs: 1n, id: 1000, reason: 2, coarse: 0 });
      else this.sock.maps.quarantined.delete(tgid);
    }
  }

  async execRate(): Promise<number> {
    const script = `i=0; while [ $i -lt ${EXECS_PER_SHELL} ]; do ${TRUE}; i=$((i+1)); done`;
    const t0 = process.hrtime.bigint();
    await Promise.all([0, 1].map(() => output(this.cg.spawn([SH, '-c', script]))));
    return (2 * EXECS_PER_SHELL) / (Number(process.hrtime.bigint() - t0) / 1e9);
  }

  async connectRate(port: number): Promise<number> {
    const [count, wallNs] = (await output(this.cg.spawn([LOOP, 'connect', String(port), String(CONNECT_SECONDS)]))).trim().split(/\s+/).map(Number);
    return (count as number) / ((wallNs as number) / 1e9);
  }

  /** One python parent, LATENCY_SAMPLES deviating children; each quarantine released for the next. */
  async latency(port: number): Promise<{ effect: number[]; kernel: number[]; reader: number[] }> {
    const script = `import errno, os, socket, sys, time
port = int(sys.argv[1])
for line in sys.stdin:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        os.write(w, str(time.clock_gettime_ns(time.CLOCK_BOOTTIME)).encode())
        os.execv("${ECHO}", ["echo"])
    os.close(w)
    while True:
        s = socket.socket()
        try:
            s.connect(("127.0.0.1", port))
            s.close()
        except PermissionError:
            failed = time.clock_gettime_ns(time.CLOCK_BOOTTIME)
            s.close()
            break
    before = int(os.read(r, 64))
    os.close(r)
    os.waitpid(pid, 0)
    print(pid, before, failed, flush=True)
`;
    const child = this.cg.spawn([PY, '-c', script, String(port)]);
    let buf = '';
    const lines: string[] = [];
    child.stdout?.on('data', (b: Buffer) => { buf += b.toString(); const parts = buf.split('\n'); buf = parts.pop() ?? ''; lines.push(...parts); });
    const effect: number[] = [];
    const kernel: number[] = [];
    const reader: number[] = [];
    try {
      for (let i = 0; i < LATENCY_SAMPLES; i++) {
        child.stdin?.write('go\n');
        const deadline = Date.now() + 10_000;
        while (lines.length <= i) {
          if (Date.now() > deadline) throw new Error('latency sample: no answer');
          await sleep(0);
        }
        const [pid, before, failed] = (lines[i] as string).split(' ').map(BigInt) as [bigint, bigint, bigint];
        this.sock.drainEvents();
        const seen = this.events.find((e) => e.event.kind === ProfileEventKind.EXEC_KILLED && BigInt(e.event.tgid) === pid);
        if (seen === undefined) throw new Error(`no kill event for child ${pid}`);
        effect.push(Number(failed - before) / 1e3);
        kernel.push(Number(seen.event.ktimeNs - before) / 1e3);
        reader.push(Number(seen.seenNs - before) / 1e3);
        this.sock.maps.quarantined.delete(child.pid as number); // `tether quarantine release`
      }
    } finally {
      child.kill('SIGKILL');
    }
    return { effect, kernel, reader };
  }

  async close(): Promise<void> {
    this.sock.release();
    await this.cg.remove();
    uninstall(PIN_DIR);
  }
}

/** Heap per parsed profile and bytes per file, over 1,000 profiles. */
function userSpaceWeight(gc: () => void): { heapPerProfile: number; filePerProfile: number } {
  const dir = mkdtempSync(join(tmpdir(), 'tether-bench-profiles-'));
  try {
    let bytes = 0;
    for (let i = 0; i < 1000; i++) {
      const p: Profile = {
        id: SpiffeId.parse(`spiffe://example.org/ns/bench/sa/w${i}`), mode: 'enforce', learning: { since: new Date(), until: null },
        executables: Array.from({ length: 10 }, (_, j) => ({ path: `/usr/local/bin/tool-${j}`, dev: (8 << 20) | 1, ino: BigInt(100_000 + i * 10 + j) })),
        destinations: Array.from({ length: 10 }, (_, j) => j % 2 === 0
          ? { kind: 'identity' as const, id: SpiffeId.parse(`spiffe://example.org/ns/bench/sa/d${j}`), port: 8000 + j }
          : { kind: 'cidr' as const, cidr: { family: 4 as const, address: Buffer.from([10, 0, j, 0]), prefixLength: 24 }, port: 443 }),
        listens: [8080, 8443, 9090],
      };
      const text = formatProfile(p);
      bytes += text.length;
      writeFileSync(join(dir, `w${i}.yaml`), text);
    }
    gc(); gc();
    const before = process.memoryUsage().heapUsed;
    const store = new ProfileStore({ dir });
    const problems = store.load();
    if (problems.length > 0) throw new Error(problems[0]?.message);
    gc(); gc();
    const heap = process.memoryUsage().heapUsed - before;
    if (store.all().length !== 1000) throw new Error('profiles not all loaded');
    return { heapPerProfile: heap / 1000, filePerProfile: bytes / 1000 };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** memlock of the profile maps, as the kernel accounts them (fixed at load: preallocated hashes). */
function kernelMaps(): Array<[string, number, number]> {
  const out: Array<[string, number, number]> = [];
  for (const name of ['profile_mode', 'profile_exes', 'profile_peers', 'profile_cidrs', 'quarantined', 'profile_events']) {
    const r = spawnSync('bpftool', ['-j', 'map', 'show', 'pinned', join(PIN_DIR, name)], { encoding: 'utf8' });
    const m = JSON.parse(r.stdout) as { bytes_memlock?: number; max_entries?: number };
    out.push([name, m.bytes_memlock ?? 0, m.max_entries ?? 0]);
  }
  return out;
}

async function main(gc: () => void): Promise<void> {
  if (!existsSync(LOOP)) throw new Error(`${LOOP} is missing: run \`make bench\``);
  const server = spawn(LOOP, ['accept'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = Number((await new Promise<string>((r) => server.stdout?.once('data', (b: Buffer) => r(b.toString())))).trim());
  const bench = new Bench(port);
  try {
    const execs: Record<Condition, number[]> = { none: [], enforce: [] };
    const connects: Record<Condition, number[]> = { none: [], enforce: [] };
    for (let round = 0; round < ROUNDS; round++) {
      for (const c of (round % 2 === 0 ? ['none', 'enforce'] : ['enforce', 'none']) as Condition[]) {
        bench.set(c);
        execs[c].push(await bench.execRate());
        connects[c].push(await bench.connectRate(port));
      }
    }
    const killed = bench.sock.profileCounts().execsKilled;
    if (killed !== 0n) throw new Error(`${killed} allowed execs were killed`);
    bench.set('enforce');
    const lat = await bench.latency(port);
    const maps = kernelMaps();
    const weight = userSpaceWeight(gc);
    const f = (n: number, d = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
    const row = (xs: number[]): string => `p50 ${f(pct(xs, 0.5), 1)} µs, p99 ${f(pct(xs, 0.99), 1)} µs, max ${f(Math.max(...xs), 1)} µs`;
    console.log([
      `bench/profile (${ROUNDS} interleaved rounds, medians; kernel ${readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim()})`,
      '',
      '| measure | none | enforce | ratio (aim) |',
      '|---|---|---|---|',
      `| fork+exec /bin/true, 2 shells | ${f(median(execs.none))}/s | ${f(median(execs.enforce))}/s | ${f(median(execs.enforce) / median(execs.none), 3)} (≥ 0.95) |`,
      `| connect()+close, 1 client | ${f(median(connects.none))}/s | ${f(median(connects.enforce))}/s | ${f(median(connects.enforce) / median(connects.none), 3)} (≥ 0.95) |`,
      '',
      `| deviating exec → (${LATENCY_SAMPLES} samples, from the child's clock before execve) | |`,
      '|---|---|',
      `| quarantine in effect (the parent's first EPERM; aim p99 ≤ 10 ms) | ${row(lat.effect)} |`,
      `| the kernel's kill event written | ${row(lat.kernel)} |`,
      `| the agent's ring reader has it (Workload API streams end from here) | ${row(lat.reader)} |`,
      '',
      '| memory | |',
      '|---|---|',
      ...maps.map(([name, bytes, max]) => (name === 'profile_events'
        ? `| kernel ring ${name} (${f(max / 1024)} KiB) | ${f(bytes / 1024)} KiB |`
        : name === 'profile_cidrs'
          ? `| kernel map ${name} (LPM trie of at most ${f(max)}, allocated per entry; 991 entries here) | ${f(bytes / 1024)} KiB as bpftool reports it |`
          : `| kernel map ${name} (${f(max)} entries, preallocated: fixed, whatever is profiled) | ${f(bytes / 1024)} KiB |`)),
      `| user space, per parsed profile (10 executables, 10 destinations, 3 ports) | ${f(weight.heapPerProfile)} bytes of heap |`,
      `| its YAML file | ${f(weight.filePerProfile)} bytes |`,
      '',
      `Raw exec rates: none ${execs.none.map((x) => f(x)).join(', ')}; enforce ${execs.enforce.map((x) => f(x)).join(', ')}.`,
      `Raw connect rates: none ${connects.none.map((x) => f(x)).join(', ')}; enforce ${connects.enforce.map((x) => f(x)).join(', ')}.`,
    ].join('\n'));
  } finally {
    server.kill('SIGKILL');
    await bench.close();
  }
}

if (globalThis.gc === undefined) {
  const r = spawnSync(process.execPath, ['--expose-gc', ...process.execArgv, ...process.argv.slice(1)], { stdio: 'inherit' });
  process.exitCode = r.status ?? 1;
} else {
  await main(globalThis.gc);
}
