/**
 * bench/workload-api: a real agent (bench-agent.ts) answering 1, 100 and 1,000 concurrent
 * connections. Per level, c new connections: the first FetchX509SVID response on each, then one
 * FetchJWTSVID on each; baseline: the same calls on c other new connections without the security
 * header (refused INVALID_ARGUMENT before attestation: gRPC and the connection's SO_PEERCRED and
 * pidfd tag only). Both through the same raw grpc-js client, so the ratio is attestation and the
 * SVID answer; WorkloadClient (which also parses and checks the response) in a row of its own.
 * Then exec of a new workload (python-workload.ts) to its first X509-SVID. Root only.
 */
import { readFileSync, realpathSync } from 'node:fs';
import { availableParallelism, cpus, release } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { Metadata, credentials, status as Status, type ServiceError } from '@grpc/grpc-js';
import { SECURITY_HEADER, WorkloadClient, loadWorkloadApi, type WorkloadApi } from '../agent/workload/index.js';
import { BenchAgent } from './bench-agent.js';
import { PYTHON, execToSvid, type ExecRun, type ExecRuns } from './python-workload.js';

const LEVELS = [1, 100, 1000] as const;
/** Rounds a level: its c connections are opened again each round (level 1: one after another). */
const ROUNDS: Record<(typeof LEVELS)[number], number> = { 1: 50, 100: 4, 1000: 2 };
const EXEC_RUNS = 20;
const AUDIENCE = ['bench'];
const BENCH_ID = 'spiffe://bench.example/bench';
const TIMEOUT_MS = 60_000;

type RawClient = InstanceType<WorkloadApi['Client']>;
type Step<C> = (client: C) => Promise<unknown>;
interface Timed { readonly asked: number; readonly ms: number[]; readonly failures: Map<string, number>; readonly wallMs: number; readonly agentCpuMs: number; readonly benchCpuMs: number }
interface Pair { readonly real: Timed; readonly base: Timed }
interface Level { readonly c: number; readonly rounds: number; readonly x509: Pair; readonly jwt: Pair; readonly ours: Timed }

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
      const key = (err instanceof Error ? err.message : String(err)).slice(0, 120);
      failures.set(key, (failures.get(key) ?? 0) + 1);
      return undefined;
    }
  }));
  const used = process.cpuUsage(cpu);
  return { asked: calls.length, ms: results.filter((r) => r !== undefined), failures, wallMs: performance.now() - t0,
    agentCpuMs: agent.cpuMs() - agentCpu, benchCpuMs: (used.user + used.system) / 1000 };
}

/** With the header: an answer for BENCH_ID. Without: refused INVALID_ARGUMENT. */
function settle(attest: boolean, err: ServiceError | null, id: string | undefined, resolve: () => void, reject: (e: Error) => void): void {
  if (attest ? err === null && id === BENCH_ID : err?.code === Status.INVALID_ARGUMENT) resolve();
  else reject(new Error(err?.message ?? `answered for ${id}${attest ? '' : ' without the security header'}`));
}

function options(attest: boolean): [Metadata, { deadline: number }] {
  const metadata = new Metadata();
  if (attest) metadata.set(SECURITY_HEADER, 'true');
  return [metadata, { deadline: Date.now() + TIMEOUT_MS }];
}

function firstX509(attest: boolean): Step<RawClient> {
  return (client) => new Promise<void>((resolve, reject) => {
    let done = false;
    const call = client.FetchX509SVID({}, ...options(attest));
    call.on('data', (m: { svids: Array<{ spiffe_id: string }> }) => {
      done = true;
      call.cancel();
      settle(attest, null, m.svids[0]?.spiffe_id, resolve, reject);
    });
    call.on('error', (err: ServiceError) => { if (!done) settle(attest, err, undefined, resolve, reject); });
    call.on('end', () => { if (!done) reject(new Error('the stream ended before its first message')); });
  });
}

function jwt(attest: boolean): Step<RawClient> {
  return (client) => new Promise<void>((resolve, reject) => {
    client.FetchJWTSVID({ audience: AUDIENCE }, ...options(attest), (err, m) => settle(attest, err, m?.svids[0]?.spiffe_id, resolve, reject));
  });
}

/** c new connections (built before the clock starts: grpc-js connects at the first call); each
 * step runs on every connection that answered the steps before it; then all are closed. */
async function connections<C extends { close(): void }>(agent: BenchAgent, c: number, open: () => C, steps: ReadonlyArray<Step<C>>): Promise<Timed[]> {
  const all = Array.from({ length: c }, open);
  let clients = all;
  const out: Timed[] = [];
  try {
    for (const step of steps) {
      const answered: C[] = [];
      out.push(await concurrently(agent, clients.map((client) => async () => { await step(client); answered.push(client); })));
      clients = answered;
    }
    return out;
  } finally {
    for (const client of all) client.close();
    await sleep(c === 1 ? 10 : 1000); // the agent drops the closed connections
  }
}

function merge(runs: readonly Timed[]): Timed {
  const failures = new Map<string, number>();
  for (const r of runs) for (const [k, n] of r.failures) failures.set(k, (failures.get(k) ?? 0) + n);
  const sum = (f: (t: Timed) => number): number => runs.reduce((s, r) => s + f(r), 0);
  return { asked: sum((r) => r.asked), ms: runs.flatMap((r) => r.ms), failures, wallMs: sum((r) => r.wallMs), agentCpuMs: sum((r) => r.agentCpuMs), benchCpuMs: sum((r) => r.benchCpuMs) };
}

async function level(agent: BenchAgent, api: WorkloadApi, c: number, rounds: number): Promise<Level> {
  const raw = (): RawClient => new api.Client(`unix:${agent.socket}`, credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
  const ours = (): WorkloadClient => new WorkloadClient({ address: `unix://${agent.socket}`, timeoutMs: TIMEOUT_MS });
  const pass = (attest: boolean): Promise<Timed[]> => connections(agent, c, raw, [firstX509(attest), jwt(attest)]);
  const runs: Timed[][] = [];
  for (let round = 0; round < rounds; round++) {
    const realFirst = round % 2 === 1; // alternate, so neither side always runs on a fresher agent
    const first = await pass(realFirst);
    const second = await pass(!realFirst);
    const [real, base] = realFirst ? [first, second] : [second, first];
    runs.push([...real, ...base, ...await connections(agent, c, ours, [(w) => w.fetchX509()])]);
  }
  const pick = (i: number): Timed => merge(runs.map((r) => r[i] as Timed));
  return { c, rounds, x509: { real: pick(0), base: pick(2) }, jwt: { real: pick(1), base: pick(3) }, ours: pick(4) };
}

const num = (n: number, digits = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const ms = (n: number | undefined): string => (n === undefined ? '–' : `${num(n, n < 10 ? 2 : 1)} ms`);
const quantile = (sorted: readonly number[], q: number): number | undefined => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];

function row(measure: string, values: readonly number[], baseline: readonly number[], asked: number): string {
  const s = [...values].sort((a, b) => a - b);
  if (s.length < asked) measure += ` (**${num(s.length)} of ${num(asked)} answered**)`;
  const p50 = quantile(s, 0.5);
  const b50 = quantile([...baseline].sort((a, b) => a - b), 0.5);
  const ratio = p50 === undefined || b50 === undefined ? '–' : `${num(p50 / b50, 2)}×`;
  return `| ${measure} | ${ms(p50)} | ${ms(quantile(s, 0.99))} | ${ms(s.at(-1))} | ${ms(b50)} | ${ratio} |`;
}

function latencyTable(levels: readonly Level[], exec: ExecRuns): string[] {
  const out = ['| measure | p50 | p99 | max | baseline p50 | ratio |', '|---|---|---|---|---|---|'];
  for (const { c, rounds, x509, jwt, ours } of levels) {
    const at = c === 1 ? `1 connection (${rounds} in turn)` : `${num(c)} connections at once (${rounds} rounds)`;
    out.push(row(`first FetchX509SVID response on a new connection, ${at}`, x509.real.ms, x509.base.ms, x509.real.asked));
    out.push(row(`FetchJWTSVID on those connections, ${at}`, jwt.real.ms, jwt.base.ms, jwt.real.asked));
    out.push(row(`… the first X509 through WorkloadClient.fetchX509() (parses the certificates), ${at}`, ours.ms, x509.base.ms, ours.asked));
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

function failureNotes(levels: readonly Level[], exec: ExecRuns, agent: BenchAgent): string[] {
  const notes: string[] = [];
  for (const { c, x509, jwt, ours } of levels) {
    const passes = [['X509', x509.real], ['X509 baseline', x509.base], ['JWT', jwt.real], ['JWT baseline', jwt.base], ['WorkloadClient X509', ours]] as const;
    for (const [what, t] of passes) for (const [message, n] of t.failures) notes.push(`- ${num(c)} connections, ${what}: ${n} failed: ${message}`);
  }
  for (const r of [...exec.real.filter((r) => r.result !== 'ok'), ...exec.base.filter((r) => r.result !== 'INVALID_ARGUMENT')]) notes.push(`- a python3 run answered ${r.result}`);
  for (const [message, n] of agent.complaints()) notes.push(`- the agent logged ${n}× (warn or worse): ${message}`);
  return notes.length === 0 ? ['No call failed; the agent logged no warning.'] : ['Failures and agent warnings:', ...notes];
}

const openFilesLimit = (): number => Number(/^Max open files\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1] ?? 0);

async function main(): Promise<void> {
  const need = 2 * Math.max(...LEVELS) + 100; // both ends of every connection on this host (Node raises soft to hard)
  if (openFilesLimit() < need) throw new Error(`open files limit ${openFilesLimit()} < ${need}: run under \`prlimit --nofile=65536\``);
  const agent = new BenchAgent();
  try {
    const uid = `unix:uid:${process.getuid?.() ?? 0}`;
    await agent.start('bench.example', [
      { spiffeId: BENCH_ID, selectors: [uid, `unix:path:${realpathSync(process.execPath)}`] },
      { spiffeId: 'spiffe://bench.example/python', selectors: [uid, `unix:path:${PYTHON}`] },
    ]);
    const api = loadWorkloadApi();
    await level(agent, api, 1, 3); // warm-up: mints the X509-SVID and the JWT-SVID; not reported
    const levels: Level[] = [];
    for (const c of LEVELS) levels.push(await level(agent, api, c, ROUNDS[c]));
    const exec = await execToSvid(agent.socket, EXEC_RUNS);
    console.log([...latencyTable(levels, exec), '', ...throughputTable(levels), '',
      `Every connection is from this one process (pid ${process.pid}) and attested on its own: ${LEVELS.map((n) => num(n)).join(', ')} a level, ` +
        'baseline and real calls in alternating order, then WorkloadClient. The SVIDs come from the agent\'s caches (one entry, one audience: minted ' +
        'in the warm-up; bench/mint for minting). Agent and bench share the cores: bench CPU is the clients\' side. ' +
        `Open files limit: bench ${openFilesLimit()}, agent ${agent.openFilesLimit()}.`,
      ...failureNotes(levels, exec, agent), '',
      `Machine: nproc ${availableParallelism()} (${cpus()[0]?.model ?? '?'}), Linux ${release()}, Node ${process.version}, ${PYTHON}; ${new Date().toISOString()}.`,
    ].join('\n'));
  } finally {
    await agent.stop();
  }
}

await main();
