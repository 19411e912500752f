import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../agent/kernel/index.js';
import { AgentProcess } from '../support/agent-process.js';
import { TestCgroup } from '../support/test-cgroup.js';
import { exited, waitFor } from '../support/wait.js';

// Behaviour profiles with the real agent, CLI and kernel, in a child cgroup: an identity learned
// from a worker that only makes its usual connection; monitored (an exec of /bin/sh and a new
// destination are one event each); enforced (the exec is killed before it runs, the worker is
// quarantined: its SVID stream ends PermissionDenied, its connects fail EPERM, another worker of
// the same identity keeps working); released; and a bad profile file refused by line.
const PY = realpathSync('/usr/bin/python3');
const SH = realpathSync('/bin/sh');
const ID = 'spiffe://example.org/worker';

const WORKER = `import errno, json, socket, subprocess, sys, threading
sys.path.insert(0, sys.argv[1])
import grpc, workload_pb2 as pb, workload_pb2_grpc as rpc
def watch():
    stub = rpc.SpiffeWorkloadAPIStub(grpc.insecure_channel("unix:" + sys.argv[2]))
    try:
        for m in stub.FetchX509SVID(pb.X509SVIDRequest(), metadata=[("workload.spiffe.io", "true")]):
            print("svid", m.svids[0].spiffe_id if m.svids else "-", flush=True)
        print("stream-end OK", flush=True)
    except grpc.RpcError as e:
        print("stream-end", e.code().name, flush=True)
for line in sys.stdin:
    cmd, _, arg = line.strip().partition(" ")
    if cmd == "watch":
        threading.Thread(target=watch, daemon=True).start()
    elif cmd == "run":
        print("rc", subprocess.run(json.loads(arg)).returncode, flush=True)
    elif cmd == "connect":
        s = socket.socket()
        s.settimeout(5)
        try:
            s.connect(("127.0.0.1", int(arg)))
            print("conn ok", flush=True)
        except OSError as e:
            print("conn", errno.errorcode.get(e.errno, str(e.errno)), flush=True)
        s.close()
`;

class Worker {
  readonly #child: ReturnType<TestCgroup['spawn']>;
  #lines: string[] = [];
  #taken = 0;

  constructor(cg: TestCgroup, work: string, socket: string) {
    this.#child = cg.spawn([PY, join(work, 'worker.py'), work, socket], 'pipe');
    let buf = '';
    this.#child.stdout?.on('data', (b: Buffer) => {
      buf += b.toString();
      const parts = buf.split('\n');
      buf = parts.pop() ?? '';
      this.#lines.push(...parts);
    });
  }

  get pid(): number {
    return this.#child.pid as number;
  }

  /** The next line starting with `prefix` after the last one taken. */
  async next(prefix: string): Promise<string> {
    const i = await waitFor(`"${prefix}" from the worker`, () => {
      const at = this.#lines.findIndex((l, j) => j >= this.#taken && l.startsWith(prefix));
      return at === -1 ? undefined : at;
    }, 20_000);
    this.#taken = i + 1;
    return this.#lines[i] as string;
  }

  has(prefix: string): boolean {
    return this.#lines.some((l) => l.startsWith(prefix));
  }

  async ask(command: string, answerPrefix: string): Promise<string> {
    this.#child.stdin?.write(`${command}\n`);
    return this.next(answerPrefix);
  }

  async stop(): Promise<void> {
    this.#child.kill('SIGKILL');
    await exited(this.#child);
  }
}

describe('behaviour profiles with the real agent', () => {
  let dir: string;
  let cg: TestCgroup;
  let agent: AgentProcess | undefined;
  const servers: Server[] = [];
  const ports: number[] = [];
  const workers: Worker[] = [];

  const cli = (...args: string[]): { status: number | null; stdout: string; stderr: string } => (agent as AgentProcess).cli(args);
  const diff = (): Array<{ kind: string; what: string; seq: number; pid: number | null; lineage: string; quarantined: number | null }> =>
    JSON.parse(cli('profile', 'diff', ID, '-o', 'json').stdout) as never;
  const worker = (): Worker => {
    const w = new Worker(cg, dir, (agent as AgentProcess).socket);
    workers.push(w);
    return w;
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tether-e2e-profile-'));
    chmodSync(dir, 0o755);
    writeFileSync(join(dir, 'worker.py'), WORKER);
    const wkt = execFileSync(PY, ['-c', 'import grpc_tools, os; print(os.path.join(os.path.dirname(grpc_tools.__file__), "_proto"))'], { encoding: 'utf8' }).trim();
    execFileSync(PY, ['-m', 'grpc_tools.protoc', `-I${join(packageRoot(), 'proto')}`, `-I${wkt}`, `--python_out=${dir}`, `--grpc_python_out=${dir}`, 'workload.proto']);
    for (let i = 0; i < 3; i++) {
      const s = createServer((c) => c.destroy());
      await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
      servers.push(s);
      ports.push((s.address() as { port: number }).port);
    }
    // Policy lets the worker reach loopback on any port: the profile, not the policy, is what is tested.
    writeFileSync(join(dir, 'policy.yaml'), `mode: enforce\nunidentified: allow\nrules:\n  - from: ${ID}\n    to: external\n    cidrs: [127.0.0.0/8]\n`);
    writeFileSync(join(dir, 'config.yaml'), 'profiles:\n  scanIntervalMs: 200\n');
    cg = TestCgroup.create('tether-e2e-profile');
    agent = await AgentProcess.start(`entries:\n  - spiffeId: ${ID}\n    selectors: ["unix:uid:0", "unix:path:${PY}"]\n`,
      ['--policy', join(dir, 'policy.yaml'), '--cgroup', cg.path, '--config', join(dir, 'config.yaml')]);
  });
  afterAll(async () => {
    for (const w of workers) await w.stop();
    for (const s of servers) s.close();
    await agent?.stop(); // stop() uninstalls its pin dir
    await cg?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('learns the identity from a worker that makes only its usual connection', async () => {
    expect(cli('profile', 'mode', ID, 'learn').stdout).toBe(`${ID}: learn\n`);
    const w = worker();
    expect(await w.ask(`connect ${ports[0]}`, 'conn')).toBe('conn ok');
    const shown = await waitFor('the learned profile', () => {
      const text = cli('profile', 'show', ID).stdout;
      return text.includes(`port: ${ports[0]}`) && text.includes(`path: ${PY}`) ? text : undefined;
    }, 30_000);
    expect(shown).toContain('mode: learn');
    expect(shown).not.toContain(`port: ${ports[1]}`);
    await w.stop();
  });

  it('monitor: an exec of /bin/sh and a connect somewhere new are one event each, with the process and its lineage', async () => {
    expect(cli('profile', 'mode', ID, 'monitor').status).toBe(0);
    const w = worker();
    const touched = join(dir, 'monitored');
    expect(await w.ask(`run ${JSON.stringify([SH, '-c', `touch ${touched}`])}`, 'rc')).toBe('rc 0');
    expect(existsSync(touched)).toBe(true);
    expect(await w.ask(`connect ${ports[1]}`, 'conn')).toBe('conn ok');
    expect(await w.ask(`connect ${ports[1]}`, 'conn')).toBe('conn ok');
    await waitFor('both deviations', () => diff().length >= 2 || undefined, 30_000);
    // a later deviation, seen after several scans: the first two were not reported again
    expect(await w.ask(`connect ${ports[2]}`, 'conn')).toBe('conn ok');
    await waitFor('the third', () => diff().some((d) => d.what.endsWith(`:${ports[2]}`)) || undefined, 30_000);
    const found = diff();
    // the process that exec'd /bin/sh is the worker's child; its lineage goes through the worker
    const execs = found.filter((d) => d.kind === 'exec');
    expect(execs.map((d) => [d.what.startsWith(`exec ${SH} `), d.lineage.split(' < ')[1]])).toEqual([[true, `${w.pid}/${basename(PY)}`]]);
    expect(execs[0]?.lineage.startsWith(`${execs[0]?.pid}/`)).toBe(true);
    expect(found.filter((d) => d.what === `connect to 127.0.0.1/32:${ports[1]}`)).toHaveLength(1);
    const events = cli('events', '-o', 'json').stdout.trim().split('\n').map((l) => JSON.parse(l) as { kind: string; from: string; reason: string });
    expect(events.filter((e) => e.kind === 'profile' && e.from === ID).length).toBe(3);
    // accept the destination: it is in the profile now
    const dest = found.find((d) => d.what.endsWith(`:${ports[1]}`)) as { seq: number };
    expect(cli('profile', 'accept', ID, String(dest.seq)).status).toBe(0);
    expect(cli('profile', 'show', ID).stdout).toContain(`port: ${ports[1]}`);
    await w.stop();
  });

  it('enforce: the exec is killed before it runs, the worker quarantined (stream PermissionDenied, connect EPERM); release restores both', async () => {
    expect(cli('profile', 'mode', ID, 'enforce').status).toBe(0);
    const w = worker();
    const other = worker();
    expect(await w.ask('watch', 'svid')).toBe(`svid ${ID}`);
    expect(await other.ask('watch', 'svid')).toBe(`svid ${ID}`);
    const never = join(dir, 'never');
    expect(await w.ask(`run ${JSON.stringify([SH, '-c', `touch ${never}`])}`, 'rc')).toBe('rc -9');
    expect(existsSync(never)).toBe(false);
    expect(await w.next('stream-end')).toBe('stream-end PERMISSION_DENIED');
    expect(await w.ask(`connect ${ports[0]}`, 'conn')).toBe('conn EPERM');
    // the other worker of the same identity keeps its stream and its connects
    expect(await other.ask(`connect ${ports[0]}`, 'conn')).toBe('conn ok');
    expect(other.has('stream-end')).toBe(false);
    const listed = JSON.parse(cli('quarantine', 'list', '-o', 'json').stdout) as Array<{ pid: number; spiffeId: string; reason: string }>;
    expect(listed.map((q) => [q.pid, q.spiffeId, q.reason])).toEqual([[w.pid, ID, 'exec']]);
    const killed = diff().find((d) => d.what.startsWith(`exec killed ${SH}`));
    expect(killed?.quarantined).toBe(w.pid);
    // a new stream is refused too
    expect(await w.ask('watch', 'stream-end')).toBe('stream-end PERMISSION_DENIED');
    expect(cli('quarantine', 'release', String(w.pid)).status).toBe(0);
    expect(await w.ask(`connect ${ports[0]}`, 'conn')).toBe('conn ok');
    expect(await w.ask('watch', 'svid')).toBe(`svid ${ID}`);
    expect(JSON.parse(cli('quarantine', 'list', '-o', 'json').stdout)).toEqual([]);
  });

  it('enforce: a connect somewhere new is refused in the kernel and quarantines only that process', async () => {
    const w = worker();
    const other = worker();
    expect(await w.ask(`connect ${ports[1]}`, 'conn')).toBe('conn ok'); // accepted in monitor: in the profile
    expect(await w.ask(`connect ${ports[2]}`, 'conn')).toBe('conn EPERM'); // reported in monitor, never accepted
    expect(await w.ask(`connect ${ports[0]}`, 'conn')).toBe('conn EPERM'); // quarantined now
    expect(await other.ask(`connect ${ports[0]}`, 'conn')).toBe('conn ok');
    const listed = JSON.parse(cli('quarantine', 'list', '-o', 'json').stdout) as Array<{ pid: number; reason: string }>;
    expect(listed.map((q) => [q.pid, q.reason])).toEqual([[w.pid, 'connect']]);
    const refused = await waitFor('the refusal', () => diff().find((d) => d.what === `connect refused to 127.0.0.1/32:${ports[2]}`), 30_000);
    expect([refused.pid, refused.quarantined]).toEqual([w.pid, w.pid]);
    expect(cli('quarantine', 'release', String(w.pid)).status).toBe(0);
    expect(await w.ask(`connect ${ports[0]}`, 'conn')).toBe('conn ok');
  });

  it('refuses a profile file with errors by line, and keeps the last good one', async () => {
    const profiles = join(agent?.dir as string, 'state', 'profiles');
    const file = readdirSync(profiles).find((f) => f.endsWith('.yaml')) as string;
    writeFileSync(join(profiles, file), `id: ${ID}\nmode: block\nlearning:\n  since: 2026-01-01T00:00:00Z\n  until: null\n`);
    await waitFor('the refusal', () => (agent?.stderr ?? '').includes('profile refused; its last good version stays') || undefined, 30_000);
    expect(agent?.stderr).toMatch(new RegExp(`${file}:2:7: mode: expected \\\\"learn\\\\", \\\\"monitor\\\\" or \\\\"enforce\\\\"`));
    expect(cli('profile', 'show', ID).stdout).toContain('mode: enforce');
  });
});
