/**
 * bench/workload-api: a real agent (bench-agent.ts) answering 1, 100 and 1,000 concurrent
 * connections. Per level: the first FetchX509SVID response on each new connection, then one
 * FetchJWTSVID on each, beside a baseline of the same calls on as many new connections without
 * the security header (refused INVALID_ARGUMENT before attestation: gRPC and the connection's
 * SO_PEERCRED/pidfd tag, no attestation, no SVID). Then exec of a new workload (python3 with
 * grpcio) to its first X509-SVID, beside the same script refused. Root only (the agent loads BPF).
 */
import { spawn } from 'node:child_process';
import { readFileSync, realpathSync } from 'node:fs';
import { availableParallelism, cpus, release } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { Metadata, credentials, status as Status } from '@grpc/grpc-js';
import { WorkloadClient, loadWorkloadApi, type WorkloadApi } from '../agent/workload/index.js';
import { BenchAgent } from './bench-agent.js';

const LEVELS = [1, 100, 1000] as const;
const SAMPLES_AT_ONE = 50; // level 1 is sequential rounds of one connection
const EXEC_RUNS = 20;
const AUDIENCE = ['bench'];
const TIMEOUT_MS = 60_000;
const PYTHON = realpathSync('/usr/bin/python3'); // Debian's, with python3-grpcio
// argv: socket, "1" to send the security header. Prints: result, seconds in the call, seconds since start.
const SCRIPT = `import time; t0 = time.monotonic()
import sys, grpc
t1 = time.monotonic()
ch = grpc.insecure_channel("unix:" + sys.argv[1])
fetch = ch.unary_stream("/SpiffeWorkloadAPI/FetchX509SVID", request_serializer=lambda b: b, response_deserializer=lambda b: b)
try:
    r = "ok" if len(next(fetch(b"", metadata=[("workload.spiffe.io", "true")] if sys.argv[2] == "1" else [], timeout=30))) > 0 else "empty"
except grpc.RpcError as e:
    r = e.code().name
t2 = time.monotonic()
print(r, t2 - t1, t2 - t0, flush=True)
ch.close()`;

type RawClient = InstanceType<WorkloadApi['Client']>;
interface Timed { readonly asked: number; readonly ms: number[]; readonly failures: Map<string, number>; readonly wallMs: number; readonly agentCpuMs: number; readonly benchCpuMs: number }
interface Pair { readonly real: Timed; readonly base: Timed }
interface Level { readonly c: number; readonly x509: Pair; readonly jwt: Pair }

/** Starts every call at once; each is timed from its own start. Failures are counted by message. */
async function concurrently(agent: BenchAgent, calls: ReadonlyArray<() => Promise<unknown>>): Promise<Timed> {
  const failures = new Map<string, number>();
  const [cpu, agentCpu, t0] = [process.cpuUsage(), agent.cpuMs(), performance.now()];
  const results = await Promise.all(calls.map(async (call) => {
    const t = performance.now();
    try {
      await call();
      return performance.now() - t;
    } catch (err) {
      const key = String(err instanceof Error ? err.message : err).slice(0, 120);
      failures.set(key, (failures.get(key) ?? 0) + 1);
      return undefined;
    }
  }));
  const used = process.cpuUsage(cpu);
  return { asked: calls.length, ms: results.filter((r) => r !== undefined), failures, wallMs: performance.now() - t0,
    agentCpuMs: agent.cpuMs() - agentCpu, benchCpuMs: (used.user + used.system) / 1000 };
}

/** A call without the security header, which the agent must refuse INVALID_ARGUMENT. */
function refused(err: { code?: number; message: string } | null, resolve: () => void, reject: (e: Error) => void): void {
  if (err?.code === Status.INVALID_ARGUMENT) resolve();
  else reject(new Error(err === null ? 'answered without the security header' : err.message));
}

function refusedX509(client: RawClient): Promise<void> {
  return new Promise((resolve, reject) => {
    const call = client.FetchX509SVID({}, new Metadata(), { deadline: Date.now() + TIMEOUT_MS });
    call.on('data', () => { call.cancel(); refused(null, resolve, reject); });
    call.on('error', (err) => refused(err, resolve, reject));
  });
}

function refusedJwt(client: RawClient): Promise<void> {
  return new Promise((resolve, reject) => {
    client.FetchJWTSVID({ audience: AUDIENCE }, new Metadata(), { deadline: Date.now() + TIMEOUT_MS }, (err) => refused(err, resolve, reject));
  });
}

/** c new connections: the first call on each (X509), then one more on each that answered (JWT).
 * Clients are built before the clock starts (grpc-js connects at the first call). */
async function connections<C extends { close(): void }>(
  agent: BenchAgent, c: number, open: () => C, x509: (client: C) => Promise<unknown>, jwt: (client: C) => Promise<unknown>,
): Promise<[Timed, Timed]> {
  const clients = Array.from({ length: c }, open);
  const answered: C[] = [];
  try {
    const first = await concurrently(agent, clients.map((client) => async () => { await x509(client); answered.push(client); }));
    return [first, await concurrently(agent, answered.map((client) => () => jwt(client)))];
  } finally {
    for (const client of clients) client.close();
  }
}

function merge(runs: readonly Timed[]): Timed {
  const failures = new Map<string, number>();
  for (const r of runs) for (const [k, n] of r.failures) failures.set(k, (failures.get(k) ?? 0) + n);
  const sum = (f: (t: Timed) => number): number => runs.reduce((s, r) => s + f(r), 0);
  return { asked: sum((r) => r.asked), ms: runs.flatMap((r) => r.ms), failures, wallMs: sum((r) => r.wallMs), agentCpuMs: sum((r) => r.agentCpuMs), benchCpuMs: sum((r) => r.benchCpuMs) };
}

async function level(agent: BenchAgent, api: WorkloadApi, c: number, rounds = c === 1 ? SAMPLES_AT_ONE : 1): Promise<Level> {
  const runs: Array<[Timed, Timed, Timed, Timed]> = [];
  const address = `unix://${agent.socket}`;
  for (let round = 0; round < rounds; round++) {
    const base = await connections(agent, c, () => new api.Client(`unix:${agent.socket}`, credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 }), refusedX509, refusedJwt);
    const real = await connections(agent, c, () => new WorkloadClient({ address, timeoutMs: TIMEOUT_MS }), (w) => w.fetchX509(), (w) => w.fetchJwt(AUDIENCE));
    runs.push([...real, ...base]);
    await sleep(c === 1 ? 20 : 1000); // let the agent drop the closed connections
  }
  const pick = (i: number): Timed => merge(runs.map((r) => r[i] as Timed));
  return { c, x509: { real: pick(0), base: pick(2) }, jwt: { real: pick(1), base: pick(3) } };
}

interface ExecRun { readonly result: string; readonly spawnToLineMs: number; readonly callMs: number }

/** One fresh python3 process: from spawn() to its first line, and its own timing of the call. */
function execOnce(socket: string, attest: boolean): Promise<ExecRun> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(PYTHON, ['-c', SCRIPT, socket, attest ? '1' : '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    let line: ExecRun | undefined;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      if (line !== undefined || !out.includes('\n')) return;
      const [result = '', call = 'NaN'] = out.split(/\s+/);
      line = { result, spawnToLineMs: performance.now() - t0, callMs: Number(call) * 1000 };
    });
    child.once('error', reject);
    child.once('exit', (code) => (line !== undefined ? resolve(line) : reject(new Error(`python3 exited with ${code} and no line`))));
  });
}

async function execToSvid(socket: string): Promise<{ real: ExecRun[]; base: ExecRun[] }> {
  await execOnce(socket, true); // warm the page cache: not reported
  const real: ExecRun[] = [];
  const base: ExecRun[] = [];
  for (let i = 0; i < EXEC_RUNS; i++) {
    real.push(await execOnce(socket, true));
    base.push(await execOnce(socket, false));
  }
  return { real, base };
}

const num = (n: number, digits = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const ms = (n: number | undefined): string => (n === undefined ? '–' : `${num(n, n < 10 ? 2 : 1)} ms`);

function quantile(sorted: readonly number[], q: number): number | undefined {
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
}

function row(measure: string, values: readonly number[], baseline: readonly number[], asked: number): string {
  const s = [...values].sort((a, b) => a - b);
  if (s.length < asked) measure += ` (**${num(s.length)} of ${num(asked)} answered**)`;
  const p50 = quantile(s, 0.5);
  const b50 = quantile([...baseline].sort((a, b) => a - b), 0.5);
  const ratio = p50 === undefined || b50 === undefined ? '–' : `${num(p50 / b50, 2)}×`;
  return `| ${measure} | ${ms(p50)} | ${ms(quantile(s, 0.99))} | ${ms(s.at(-1))} | ${ms(b50)} | ${ratio} |`;
}

function latencyTable(levels: readonly Level[], exec: { real: ExecRun[]; base: ExecRun[] }): string[] {
  const out = ['| measure | p50 | p99 | max | baseline p50 | ratio |', '|---|---|---|---|---|---|'];
  for (const { c, x509, jwt } of levels) {
    const at = c === 1 ? `1 connection (${SAMPLES_AT_ONE} in turn)` : `${num(c)} connections at once`;
    out.push(row(`first FetchX509SVID response on a new connection, ${at}`, x509.real.ms, x509.base.ms, x509.real.asked));
    out.push(row(`FetchJWTSVID on those connections, ${at}`, jwt.real.ms, jwt.base.ms, jwt.real.asked));
  }
  const ok = (runs: ExecRun[], result: string): ExecRun[] => runs.filter((r) => r.result === result);
  const [real, base] = [ok(exec.real, 'ok'), ok(exec.base, 'INVALID_ARGUMENT')];
  out.push(row(`exec of python3 → its first X509-SVID (spawn to its line; ${EXEC_RUNS} runs)`, real.map((r) => r.spawnToLineMs), base.map((r) => r.spawnToLineMs), EXEC_RUNS));
  out.push(row('… of which connect + FetchX509SVID, timed inside python3', real.map((r) => r.callMs), base.map((r) => r.callMs), EXEC_RUNS));
  return out;
}

function throughputTable(levels: readonly Level[]): string[] {
  const out = ['| concurrency | X509: connections/s | baseline | ratio | CPU per connection (X509 + JWT): agent | bench | baseline: agent | bench |',
    '|---|---|---|---|---|---|---|---|'];
  for (const { c, x509, jwt } of levels) {
    const rate = (t: Timed): number => t.ms.length / (t.wallMs / 1000);
    const perConn = (which: keyof Pair, f: (t: Timed) => number): string => ms((f(x509[which]) + f(jwt[which])) / Math.max(1, x509[which].ms.length));
    const cpu = (which: keyof Pair): string => `${perConn(which, (t) => t.agentCpuMs)} | ${perConn(which, (t) => t.benchCpuMs)}`;
    out.push(`| ${num(c)} | ${num(rate(x509.real))} | ${num(rate(x509.base))} | ${num(rate(x509.real) / rate(x509.base), 2)}× | ${cpu('real')} | ${cpu('base')} |`);
  }
  return out;
}

function failureNotes(levels: readonly Level[], exec: { real: ExecRun[]; base: ExecRun[] }, agent: BenchAgent): string[] {
  const notes: string[] = [];
  for (const { c, x509, jwt } of levels) {
    for (const [what, t] of [['X509', x509.real], ['X509 baseline', x509.base], ['JWT', jwt.real], ['JWT baseline', jwt.base]] as const) {
      for (const [message, n] of t.failures) notes.push(`- ${num(c)} connections, ${what}: ${n} failed: ${message}`);
    }
  }
  const odd = [...exec.real.filter((r) => r.result !== 'ok'), ...exec.base.filter((r) => r.result !== 'INVALID_ARGUMENT')];
  for (const r of odd) notes.push(`- python3 run answered ${r.result}`);
  for (const [message, n] of agent.complaints()) notes.push(`- the agent logged ${n}× (warn or worse): ${message}`);
  return notes.length === 0 ? ['No call failed; the agent logged no warning.'] : ['Failures and agent warnings:', ...notes];
}

function openFilesLimit(): number {
  return Number(/^Max open files\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1] ?? 0);
}

async function main(): Promise<void> {
  const need = 2 * Math.max(...LEVELS) + 100; // each client's socket, both ends in one host; Node raises soft to hard
  if (openFilesLimit() < need) throw new Error(`open files limit ${openFilesLimit()} < ${need}: run under \`prlimit --nofile=65536\``);
  const agent = new BenchAgent();
  try {
    const uid = `unix:uid:${process.getuid?.() ?? 0}`;
    await agent.start('bench.example', [
      { spiffeId: 'spiffe://bench.example/bench', selectors: [uid, `unix:path:${realpathSync(process.execPath)}`] },
      { spiffeId: 'spiffe://bench.example/python', selectors: [uid, `unix:path:${PYTHON}`] },
    ]);
    const api = loadWorkloadApi();
    await level(agent, api, 1, 3); // warm-up: mints the X509-SVID and the JWT-SVID; not reported
    const levels: Level[] = [];
    for (const c of LEVELS) levels.push(await level(agent, api, c));
    const exec = await execToSvid(agent.socket);
    console.log([...latencyTable(levels, exec), '', ...throughputTable(levels), '',
      `All connections from this one process (pid ${process.pid}), each attested on its own: ${LEVELS.map((n) => num(n)).join(', ')} per level, ` +
        'baseline first, then the real calls; SVIDs come from the agent\'s caches (one entry, one audience: minted in the warm-up). ' +
        `X509 rows include the client's parsing of the response. Open files limit: bench ${openFilesLimit()}, agent ${agent.openFilesLimit()}.`,
      ...failureNotes(levels, exec, agent), '',
      `Machine: nproc ${availableParallelism()} (${cpus()[0]?.model ?? '?'}), Linux ${release()}, Node ${process.version}, ${PYTHON}; ${new Date().toISOString()}.`,
    ].join('\n'));
  } finally {
    await agent.stop();
  }
}

await main();
