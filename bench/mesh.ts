/**
 * bench/mesh: what a cross-host tunnel (../shared/MESH.md) costs against plain TCP between the same
 * two hosts, in one run. Two network namespaces joined by a veth play hosts A and B; a real agent
 * runs in each (`tether agent run` inside the namespace, its own cgroup, pins, state, one upstream
 * root made by openssl), mesh on for B's network and port 8000 only. A python client in A's cgroup
 * (identified at exec) talks to python servers on B: port 8000 in B's cgroup (identified, so
 * tunnelled: connect redirected to A's agent, TLS 1.3 to B's agent, B dials it locally), port 9000
 * outside it and not meshed (an "external" rule lets A's client reach it directly): the baseline.
 *
 * Measured, interleaved: connection set-up (connect + a 1-byte request and its 1-byte answer: the
 * tunnel's handshake, CONNECT/OK and relay are all in it), p50/p99; one stream B → A, median of
 * STREAM_RUNS runs with min–max; both agents' CPU (utime + stime from /proc) per GiB tunnelled and
 * per tunnel set up. The premise is checked: A's agent must count exactly one opened tunnel per
 * meshed connection the client made, and none for the direct ones.
 *
 * HOOK(kTLS rows): the data path is whatever the agents probed (`tether status`: mesh.mode), named
 * in each tunnel row. On these hosts that is userspace; kTLS rows come from running this same
 * bench in the VM (../shared/vm/vm-run) once the lead decides how (MESH_BENCH_EXPECT_MODE=ktls
 * makes a run fail unless the agents are in that mode, so a VM row can never be a userspace one).
 * Sizes: MESH_BENCH_SETUP_ROUNDS (6), MESH_BENCH_SETUP_PER_ROUND (50), MESH_BENCH_STREAM_RUNS (8),
 * MESH_BENCH_STREAM_MIB (128); MESH_BENCH_HANDSHAKE_MS sets the agents' mesh.handshakeTimeoutMs
 * (default 10 s: too short under TCG). Under vm-run (VM_RUN=1) or on a QEMU CPU every figure is
 * marked emulated: TCG times emulated crypto, not the data path (MESH.md §6).
 *
 * Root only. Everything it made (agents and their pins, cgroups, namespaces, files) is removed at
 * the end, on failure and on SIGINT/SIGTERM.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { findCgroupV2Mount } from '../agent/kernel/index.js';

/** Sizes, smaller through env for slow machines (the VM: TCG emulates every instruction). */
const knob = (name: string, fallback: number): number => {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name}=${raw}: want a positive integer`);
  return n;
};
const SETUP_ROUNDS = knob('MESH_BENCH_SETUP_ROUNDS', 6);
const SETUP_PER_ROUND = knob('MESH_BENCH_SETUP_PER_ROUND', 50);
const STREAM_RUNS = knob('MESH_BENCH_STREAM_RUNS', 8);
const STREAM_BYTES = knob('MESH_BENCH_STREAM_MIB', 128) * 1024 ** 2;
/** The agents' mesh.handshakeTimeoutMs (unset: the agent's default, 10 s); TCG needs far more. */
const HANDSHAKE_MS = process.env.MESH_BENCH_HANDSHAKE_MS === undefined ? undefined : knob('MESH_BENCH_HANDSHAKE_MS', 10_000);
/**
 * How the agents identify the workloads: `exe` (unix:uid:0 + unix:path of python3, the default) or
 * `cgroup` (cgroup:path of each host's cgroup). The VM needs `cgroup`: its root is an overlayfs,
 * where stat() gives the lower layer's st_dev and the exec hook the overlay's, so unix:path never
 * matches at exec there and every tunnel would be refused SOURCE_UNIDENTIFIED.
 */
const IDENTIFY = process.env.MESH_BENCH_IDENTIFY ?? 'exe';
if (IDENTIFY !== 'exe' && IDENTIFY !== 'cgroup') throw new Error(`MESH_BENCH_IDENTIFY=${IDENTIFY}: want exe or cgroup`);
/** Under vm-run (QEMU TCG): AES-GCM runs ~490x slower than natively, copies and TCP 10-20x (MESH.md §6). */
const EMULATED = process.env.VM_RUN === '1' || /QEMU/i.test(cpus()[0]?.model ?? '');
const MESHED = 8000;
const DIRECT = 9000;
const TUNNEL_PORT = 15008;
const OUTBOUND_PORT = 15001;
const TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
const BIN = new URL('../agent/cli/bin.js', import.meta.url).pathname;
const PY = realpathSync('/usr/bin/python3');
const CLIENT = 'spiffe://example.org/bench-client';
const SERVER = 'spiffe://example.org/bench-server';
const TAG = String(process.pid);
const NET = `10.232.${process.pid % 250}`;
const EXPECT_MODE = process.env.MESH_BENCH_EXPECT_MODE;

/** Per connection: one byte "p" answered "P"; or "s" + u64 n answered with n bytes. Then FIN, wait for the client's. */
const SERVER_PY = `import socket, socketserver, struct, sys
CHUNK = memoryview(bytes(4 << 20))
class H(socketserver.BaseRequestHandler):
    def handle(self):
        s, cmd = self.request, b""
        while len(cmd) < (9 if cmd[:1] == b"s" else 1):
            more = s.recv(9 - len(cmd))
            if not more: return
            cmd += more
        if cmd[:1] == b"p": s.sendall(b"P")
        elif cmd[:1] == b"s":
            left = struct.unpack("!Q", cmd[1:9])[0]
            while left:
                n = min(left, len(CHUNK)); s.sendall(CHUNK[:n]); left -= n
        s.shutdown(socket.SHUT_WR)
        while s.recv(65536): pass
class S(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
S(("0.0.0.0", int(sys.argv[1])), H).serve_forever()
`;
/** setup N: N connections, each timed from connect() to the answer's byte (ns); stream N: N bytes, timed. */
const CLIENT_PY = `import json, socket, struct, sys, time
mode, host, port, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
if mode == "setup":
    out = []
    for _ in range(n):
        t0 = time.perf_counter_ns()
        s = socket.create_connection((host, port))
        s.sendall(b"p")
        if s.recv(1) != b"P": sys.exit("no answer")
        out.append(time.perf_counter_ns() - t0)
        s.close()
    print(json.dumps(out))
else:
    s = socket.create_connection((host, port))
    view, got = memoryview(bytearray(1 << 20)), 0
    t0 = time.perf_counter_ns()
    s.sendall(b"s" + struct.pack("!Q", n))
    while got < n:
        r = s.recv_into(view)
        if r == 0: sys.exit(f"ended after {got} of {n} bytes")
        got += r
    print(json.dumps([got, time.perf_counter_ns() - t0]))
    s.close()
`;

const num = (n: number, digits = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const ms = (ns: number): string => `${num(ns / 1e6, 2)} ms`;
function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] as number;
}
const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};
function sample(text: string, name: string, labels: Record<string, string>): number {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  return text.split('\n').filter((l) => l.startsWith(`${name}{`) && want.every((w) => l.includes(w)))
    .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}

interface Host { readonly name: string; readonly veth: string; readonly address: string; readonly cgroup: string }
interface Agent { readonly host: Host; readonly child: ChildProcess; readonly dir: string; readonly pinDir: string; out: string }

/** Both hosts, their agents and workloads; cleanup() undoes all of it, whatever failed. */
class MeshBench {
  readonly dir = mkdtempSync(join(tmpdir(), 'tether-bench-mesh-'));
  readonly a: Host = { name: `tbench-a-${TAG}`, veth: `tba${TAG}`.slice(0, 15), address: `${NET}.1`, cgroup: join(findCgroupV2Mount(), `tether-bench-mesh-a-${TAG}`) };
  readonly b: Host = { name: `tbench-b-${TAG}`, veth: `tbb${TAG}`.slice(0, 15), address: `${NET}.2`, cgroup: join(findCgroupV2Mount(), `tether-bench-mesh-b-${TAG}`) };
  readonly agents: Agent[] = [];
  readonly children = new Set<ChildProcess>();
  #cleaned: Promise<void> | undefined;

  setUp(): void {
    for (const h of [this.a, this.b]) {
      execFileSync('ip', ['netns', 'add', h.name]);
      mkdirSync(h.cgroup);
    }
    execFileSync('ip', ['link', 'add', this.a.veth, 'netns', this.a.name, 'type', 'veth', 'peer', 'name', this.b.veth, 'netns', this.b.name]);
    for (const h of [this.a, this.b]) {
      execFileSync('ip', ['-n', h.name, 'link', 'set', 'lo', 'up']);
      execFileSync('ip', ['-n', h.name, 'addr', 'add', `${h.address}/24`, 'dev', h.veth]);
      execFileSync('ip', ['-n', h.name, 'link', 'set', h.veth, 'up']);
    }
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', this.file('root.key'),
      '-out', this.file('root.pem'), '-subj', '/CN=bench mesh root', '-days', '1', '-addext', 'basicConstraints=critical,CA:TRUE',
      '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-addext', 'subjectAltName=URI:spiffe://example.org'], { stdio: 'ignore' });
    writeFileSync(this.file('server.py'), SERVER_PY);
    writeFileSync(this.file('client.py'), CLIENT_PY);
  }

  file(name: string): string {
    return join(this.dir, name);
  }

  /** argv in the host's namespace; in its cgroup when `inCgroup` (a shell moves itself in, then execs). */
  spawn(host: Host, argv: readonly string[], inCgroup: boolean): ChildProcess {
    const enter = ['nsenter', `--net=/run/netns/${host.name}`, '--', ...argv];
    const child = inCgroup
      ? spawn('/bin/sh', ['-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', host.cgroup, ...enter], { stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn(enter[0] as string, enter.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    return child;
  }

  async run(host: Host, argv: readonly string[], inCgroup = false): Promise<string> {
    const child = this.spawn(host, argv, inCgroup);
    let out = '';
    let err = '';
    child.stdout?.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr?.on('data', (d: Buffer) => { err += d.toString(); });
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    if (code !== 0) throw new Error(`${argv.join(' ')} in ${host.name} exited with ${code}: ${err.trim() || out.trim()}`);
    return out;
  }

  async startAgent(host: Host, id: string, policy: string): Promise<Agent> {
    const n = host === this.a ? 'a' : 'b';
    const dir = this.file(`agent-${n}`);
    mkdirSync(dir);
    const selectors = IDENTIFY === 'cgroup' ? `"cgroup:path:${host.cgroup.slice(findCgroupV2Mount().length)}"` : `"unix:uid:0", "unix:path:${PY}"`;
    writeFileSync(join(dir, 'entries.yaml'), `entries:\n  - spiffeId: ${id}\n    selectors: [${selectors}]\n`);
    writeFileSync(join(dir, 'policy.yaml'), policy);
    writeFileSync(join(dir, 'config.yaml'), `ca:\n  upstream: {certFile: ${this.file('root.pem')}, keyFile: ${this.file('root.key')}}\n`
      + `mesh:\n  cidrs: [${NET}.0/24]\n  ports: [${MESHED}]\n  port: ${TUNNEL_PORT}\n  outboundPort: ${OUTBOUND_PORT}\n  inbound: strict\n`
      + (HANDSHAKE_MS === undefined ? '' : `  handshakeTimeoutMs: ${HANDSHAKE_MS}\n`));
    const pinDir = `/sys/fs/bpf/tether-bench-mesh-${n}-${TAG}`;
    const child = this.spawn(host, [process.execPath, BIN, 'agent', 'run', '--config', join(dir, 'config.yaml'), '--trust-domain', 'example.org',
      '--state-dir', join(dir, 'state'), '--socket', join(dir, 'agent.sock'), '--admin-socket', join(dir, 'admin.sock'),
      '--entries', join(dir, 'entries.yaml'), '--policy', join(dir, 'policy.yaml'), '--cgroup', host.cgroup, '--pin-dir', pinDir,
      '--metrics-addr', '127.0.0.1:0'], false);
    const agent: Agent = { host, child, dir, pinDir, out: '' };
    this.agents.push(agent);
    child.stdout?.on('data', (d: Buffer) => { agent.out += d.toString(); });
    child.stderr?.on('data', (d: Buffer) => { agent.out += d.toString(); });
    await this.until(`the agent on ${host.name}`, async () => agent.out.includes('serving the Workload API') && (await this.listening(host, TUNNEL_PORT))
      && (await this.listening(host, OUTBOUND_PORT)), () => agent.out.slice(-2000), EMULATED ? 600_000 : 60_000);
    return agent;
  }

  async listening(host: Host, port: number): Promise<boolean> {
    return (await this.run(host, ['ss', '-Hltn', `sport = :${port}`])).trim() !== '';
  }

  async until(what: string, probe: () => Promise<boolean> | boolean, detail: () => string = () => '', timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await probe())) {
      const gone = this.agents.find((x) => x.child.exitCode !== null);
      if (gone !== undefined) throw new Error(`the agent on ${gone.host.name} exited (${gone.child.exitCode}) while waiting for ${what}: ${gone.out.slice(-2000)}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${detail()}`);
      await sleep(100);
    }
  }

  /** User + system CPU seconds of an agent so far. */
  cpu(agent: Agent): number {
    const f = readFileSync(`/proc/${agent.child.pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ');
    return (Number(f[11]) + Number(f[12])) / TICKS;
  }

  async metrics(agent: Agent): Promise<string> {
    const port = /metrics port (\d+)/.exec(agent.out)?.[1];
    if (port === undefined) throw new Error(`the agent printed no metrics port: ${agent.out.slice(-500)}`);
    return this.run(agent.host, ['curl', '-sS', '--max-time', '5', `http://127.0.0.1:${port}/metrics`]);
  }

  mode(agent: Agent): { mode: string; detail: string } {
    const r = spawnSync(process.execPath, [BIN, 'status', '--output', 'json', '--admin-socket', join(agent.dir, 'admin.sock')], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`tether status: ${r.stderr}`);
    return (JSON.parse(r.stdout) as { mesh: { mode: string; detail: string } }).mesh;
  }

  cleanup(): Promise<void> {
    this.#cleaned ??= (async () => {
      const problems: string[] = [];
      for (const agent of this.agents) {
        if (agent.child.exitCode === null && agent.child.signalCode === null) {
          const gone = new Promise((resolve) => agent.child.once('exit', resolve));
          agent.child.kill('SIGTERM');
          const force = setTimeout(() => agent.child.kill('SIGKILL'), 10_000);
          await gone;
          clearTimeout(force);
        }
        const r = spawnSync(process.execPath, [BIN, 'uninstall', '--pin-dir', agent.pinDir], { encoding: 'utf8' });
        if (r.status !== 0) problems.push(`tether uninstall --pin-dir ${agent.pinDir}: ${r.stderr.trim()}`);
      }
      for (const c of this.children) c.kill('SIGKILL');
      for (const h of [this.a, this.b]) {
        for (let i = 0; existsSync(h.cgroup); i++) {
          if (existsSync(join(h.cgroup, 'cgroup.kill'))) writeFileSync(join(h.cgroup, 'cgroup.kill'), '1');
          try { rmdirSync(h.cgroup); } catch (err) {
            if (i >= 100) { problems.push(`${h.cgroup}: ${String(err)}`); break; }
            await sleep(50);
          }
        }
        if (spawnSync('ip', ['netns', 'del', h.name]).status !== 0 && execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).includes(h.name)) {
          problems.push(`cannot remove namespace ${h.name}`);
        }
      }
      rmSync(this.dir, { recursive: true, force: true });
      if (problems.length > 0) throw new Error(`cleanup: ${problems.join('; ')}`);
    })();
    return this.#cleaned;
  }
}

async function main(bench: MeshBench): Promise<string[]> {
  bench.setUp();
  const { a, b } = bench;
  const rules = `  - from: ${CLIENT}\n    to: ${SERVER}\n    ports: [${MESHED}]\n`;
  const [agentA, agentB] = await Promise.all([
    bench.startAgent(a, CLIENT, `mode: enforce\nunidentified: allow\nrules:\n${rules}  - from: ${CLIENT}\n    to: external\n    cidrs: [${NET}.0/24]\n    ports: [${DIRECT}]\n`),
    bench.startAgent(b, SERVER, `mode: enforce\nunidentified: allow\nrules:\n${rules}`),
  ]) as [Agent, Agent];
  const modes = [bench.mode(agentA), bench.mode(agentB)];
  const mode = modes[0]?.mode ?? '?';
  if (modes.some((m) => m.mode !== mode)) throw new Error(`the agents' data paths differ: ${JSON.stringify(modes)}`);
  if (EXPECT_MODE !== undefined && mode !== EXPECT_MODE) throw new Error(`MESH_BENCH_EXPECT_MODE=${EXPECT_MODE}, but the agents run ${mode}: ${modes[0]?.detail}`);
  bench.spawn(b, [PY, bench.file('server.py'), String(MESHED)], true); // in B's cgroup: identified, its listener meshed
  bench.spawn(b, [PY, bench.file('server.py'), String(DIRECT)], false); // outside it: no identity, plain TCP
  await bench.until('the servers on B', async () => (await bench.listening(b, MESHED)) && bench.listening(b, DIRECT));

  const client = async (what: 'setup' | 'stream', port: number, n: number): Promise<number[]> =>
    JSON.parse(await bench.run(a, [PY, bench.file('client.py'), what, b.address, String(port), String(n)], true)) as number[];
  const opened = async (): Promise<number> => sample(await bench.metrics(agentA), 'tether_mesh_tunnels_total', { side: 'client', result: 'opened' });
  const cpu = (): number => bench.cpu(agentA) + bench.cpu(agentB);
  const openedBefore = await opened();
  let tunnelled = 0;
  await client('setup', DIRECT, 10); // warm-up, not reported: SVIDs minted, caches filled
  await client('setup', MESHED, 10);
  tunnelled += 10;

  const setup = { tunnel: [] as number[], direct: [] as number[], tunnelCpu: 0 };
  for (let r = 0; r < SETUP_ROUNDS; r++) {
    for (const path of r % 2 ? ['direct', 'tunnel'] as const : ['tunnel', 'direct'] as const) {
      const before = cpu();
      setup[path].push(...await client('setup', path === 'tunnel' ? MESHED : DIRECT, SETUP_PER_ROUND));
      if (path === 'tunnel') { setup.tunnelCpu += cpu() - before; tunnelled += SETUP_PER_ROUND; }
    }
  }
  const stream = { tunnel: [] as number[], direct: [] as number[], cpuA: 0, cpuB: 0 };
  for (let r = 0; r < STREAM_RUNS; r++) {
    for (const path of r % 2 ? ['direct', 'tunnel'] as const : ['tunnel', 'direct'] as const) {
      const [ca, cb] = [bench.cpu(agentA), bench.cpu(agentB)];
      const [bytes, ns] = await client('stream', path === 'tunnel' ? MESHED : DIRECT, STREAM_BYTES) as [number, number];
      stream[path].push((bytes / 1024 ** 2) / (ns / 1e9));
      if (path === 'tunnel') { stream.cpuA += bench.cpu(agentA) - ca; stream.cpuB += bench.cpu(agentB) - cb; tunnelled++; }
    }
  }
  await sleep(200);
  const counted = (await opened()) - openedBefore;
  if (counted !== tunnelled) {
    throw new Error(`premise broken: A's agent opened ${counted} tunnels for the ${tunnelled} meshed connections (direct ones must not be tunnelled)`);
  }
  return report(mode, setup, stream, tunnelled);
}

function report(mode: string, setup: { tunnel: number[]; direct: number[]; tunnelCpu: number },
  stream: { tunnel: number[]; direct: number[]; cpuA: number; cpuB: number }, tunnelled: number): string[] {
  const base = quantile(setup.direct, 0.5);
  const emu = EMULATED ? '; **EMULATED (QEMU TCG)**: crypto ~490× slower than native' : '';
  const tunnelRow = `through the tunnel (${mode}; port ${MESHED} meshed${emu})`;
  const directRow = `direct TCP (port ${DIRECT}, not meshed; baseline${EMULATED ? '; EMULATED (QEMU TCG)' : ''})`;
  const lines = [
    `| connection set-up, A → B (connect + 1-byte request → 1-byte answer; ${SETUP_ROUNDS} interleaved rounds × ${SETUP_PER_ROUND}) | p50 | p99 | baseline p50 | ratio | agents' CPU per connection (A + B) |`,
    '|---|---|---|---|---|---|',
    `| ${tunnelRow} | ${ms(quantile(setup.tunnel, 0.5))} | ${ms(quantile(setup.tunnel, 0.99))} | ${ms(base)} | ${num(quantile(setup.tunnel, 0.5) / base, 1)}× | ${num((setup.tunnelCpu * 1000) / setup.tunnel.length, 2)} ms |`,
    `| ${directRow} | ${ms(base)} | ${ms(quantile(setup.direct, 0.99))} | ${ms(base)} | 1.0× | – |`,
    '',
    `| one stream B → A (${num(STREAM_BYTES / 1024 ** 2)} MiB; ${STREAM_RUNS} interleaved runs) | MiB/s (median) | min – max | ratio to direct | agents' CPU per GiB (A + B) |`,
    '|---|---|---|---|---|',
  ];
  const direct = median(stream.direct);
  const gib = (stream.tunnel.length * STREAM_BYTES) / 1024 ** 3;
  for (const [label, xs] of [[tunnelRow, stream.tunnel], [directRow, stream.direct]] as const) {
    const cpuCell = xs === stream.tunnel ? `${num((stream.cpuA + stream.cpuB) / gib, 2)} s (A ${num(stream.cpuA / gib, 2)} s, B ${num(stream.cpuB / gib, 2)} s)` : '–';
    lines.push(`| ${label} | ${num(median(xs))} | ${num(Math.min(...xs))} – ${num(Math.max(...xs))} | ${num(median(xs) / direct, 3)}× | ${cpuCell} |`);
  }
  lines.push(
    '',
    `Hosts: two network namespaces joined by a veth (${NET}.0/24), one agent each (ca.upstream: one shared root; mesh on for ${NET}.0/24, port ${MESHED}), ` +
      `python3 clients in A's cgroup and servers on B (identified by ${IDENTIFY === 'cgroup' ? 'cgroup:path' : 'unix:path'}); A's agent counted exactly ${tunnelled} opened tunnels, one per meshed connection (warm-up included), none for the direct ones. ` +
      `Agent CPU is utime + stime from /proc (${TICKS} ticks/s) over the tunnel rounds only.`,
    `Machine: nproc ${availableParallelism()} (${cpus()[0]?.model.trim() ?? 'unknown cpu'}), Linux ${release()}, Node ${process.version}; ` +
      `load average ${num(loadAtStart, 2)} at the start, ${num(loadavg()[0] ?? 0, 2)} at the end; ${new Date().toISOString()}.`,
  );
  if (EMULATED) {
    lines.push('EMULATED: this ran under QEMU TCG (vm-run, 1 vCPU). Every instruction is emulated; AES-GCM about 490× slower than natively, '
      + 'copies and TCP 10–20× (MESH.md §6). The tunnel rows time emulated crypto: they prove the data path ran, they are not its throughput.');
  }
  return lines;
}

const loadAtStart = loadavg()[0] ?? 0;
const bench = new MeshBench();
const stop = (signal: NodeJS.Signals): void => {
  console.error(`${signal}: cleaning up`);
  bench.cleanup().then(() => process.exit(130), (err: unknown) => { console.error(String(err)); process.exit(1); });
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
try {
  console.log((await main(bench)).join('\n'));
} catch (err) {
  for (const agent of bench.agents) console.error(`--- the agent on ${agent.host.name}, last lines:\n${agent.out.slice(-4000)}`);
  throw err;
} finally {
  await bench.cleanup();
}
