import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { appendFileSync, chmodSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../agent/kernel/index.js';
import { TrustDomain, X509Bundle } from '../../agent/spiffe/index.js';
import { WorkloadClient } from '../../agent/workload/index.js';
import { AgentProcess } from '../support/agent-process.js';
import { exited, waitFor } from '../support/wait.js';

// A real agent, real processes of several uids and binaries, an independent gRPC stack (Debian's
// python3-grpcio with stubs compiled from our proto by grpc_tools), openssl on what they get.
const PY = realpathSync('/usr/bin/python3');
const NODE = realpathSync(process.execPath);
const NOBODY = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];

const ENTRIES = `entries:
  - spiffeId: spiffe://example.org/python-nobody
    selectors: ["unix:uid:65534", "unix:path:${PY}"]
  - spiffeId: spiffe://example.org/python-root
    selectors: ["unix:uid:0", "unix:path:${PY}"]
    hint: root
  - spiffeId: spiffe://example.org/tests
    selectors: ["unix:uid:0", "unix:path:${NODE}"]
    x509SvidTtl: 8s
`;

// The Workload API over a raw HTTP/2 connection made of a socket fd this process inherited (or
// opened itself): what a process gets on a connection another process made.
const RAW_CALL = `
import http2 from 'node:http2'; import net from 'node:net';
import { existsSync } from 'node:fs';
const [mode, arg, goFile] = process.argv.slice(2);
// 'fd' mode waits for the test to say go (a file appears): the process that made the connection goes first
while (mode === 'fd' && !existsSync(goFile)) await new Promise((r) => setTimeout(r, 20));
const sock = mode === 'fd' ? new net.Socket({ fd: Number(arg), readable: true, writable: true }) : net.connect(arg);
const session = http2.connect('http://tether', { createConnection: () => sock });
const req = session.request({ ':method': 'POST', ':path': '/SpiffeWorkloadAPI/FetchX509SVID', 'content-type': 'application/grpc', te: 'trailers', 'workload.spiffe.io': 'true' });
req.end(Buffer.alloc(5));
const done = (what) => { console.log(what); process.exit(0); };
req.on('data', (d) => done('DATA ' + (d.toString('latin1').match(/spiffe:\\/\\/[a-z0-9.\\/-]+/g) ?? []).join(' ')));
req.on('response', (h) => { if (h['grpc-status'] !== undefined) done('STATUS ' + h['grpc-status']); });
req.on('trailers', (t) => done('STATUS ' + t['grpc-status']));
setTimeout(() => done('TIMEOUT'), 15000);
`;

const PY_FETCH = `
import sys, grpc
sys.path.insert(0, sys.argv[2])
import workload_pb2 as pb, workload_pb2_grpc as rpc
stub = rpc.SpiffeWorkloadAPIStub(grpc.insecure_channel('unix:' + sys.argv[1]))
md = [('workload.spiffe.io', 'true')]
try:
    r = next(stub.FetchX509SVID(pb.X509SVIDRequest(), metadata=md, timeout=20))
    open(sys.argv[3] + '/chain.der', 'wb').write(r.svids[0].x509_svid)
    open(sys.argv[3] + '/bundle.der', 'wb').write(r.svids[0].bundle)
    print('X509', ' '.join(s.spiffe_id for s in r.svids))
    j = stub.FetchJWTSVID(pb.JWTSVIDRequest(audience=['py-aud']), metadata=md, timeout=20)
    print('JWT', j.svids[0].spiffe_id, j.svids[0].svid)
except grpc.RpcError as e:
    print('ERR', e.code().name, e.details())
`;

let agent: AgentProcess;
let work: string;
const pem = (der: Buffer): string => new X509Certificate(der).toString();

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'tether-e2e-wl-'));
  chmodSync(work, 0o777);
  writeFileSync(join(work, 'raw-call.mjs'), RAW_CALL);
  writeFileSync(join(work, 'fetch.py'), PY_FETCH);
  const wkt = execFileSync(PY, ['-c', 'import grpc_tools, os; print(os.path.join(os.path.dirname(grpc_tools.__file__), "_proto"))'], { encoding: 'utf8' }).trim();
  execFileSync(PY, ['-m', 'grpc_tools.protoc', `-I${join(packageRoot(), 'proto')}`, `-I${wkt}`, `--python_out=${work}`, `--grpc_python_out=${work}`, 'workload.proto']);
  for (const f of ['raw-call.mjs', 'fetch.py', 'workload_pb2.py', 'workload_pb2_grpc.py']) chmodSync(join(work, f), 0o644);
  agent = await AgentProcess.start(ENTRIES);
});
afterAll(async () => {
  await agent?.stop();
  rmSync(work, { recursive: true, force: true });
});

function pyFetch(asNobody: boolean): { lines: string[]; out: string } {
  const out = mkdtempSync(join(work, 'out-'));
  chmodSync(out, 0o777);
  const argv = [...(asNobody ? NOBODY : []), PY, join(work, 'fetch.py'), agent.socket, work, out];
  const r = spawnSync(argv[0] as string, argv.slice(1), { encoding: 'utf8', cwd: '/tmp', timeout: 60_000 });
  return { lines: r.stdout.trim().split('\n'), out };
}

describe('an independent gRPC stack (python3-grpcio) against the real agent', () => {
  it('gets its X509-SVID, which openssl verifies against the bundle, and a JWT-SVID that validates for its audience', async () => {
    const { lines, out } = pyFetch(false);
    expect(lines[0]).toBe('X509 spiffe://example.org/python-root');
    const td = TrustDomain.parse('example.org');
    const chain = X509Bundle.parseDer(td, readFileSync(join(out, 'chain.der'))).authorities();
    writeFileSync(join(out, 'leaf.pem'), pem(chain[0] as Buffer));
    writeFileSync(join(out, 'bundle.pem'), X509Bundle.parseDer(td, readFileSync(join(out, 'bundle.der'))).toPem());
    expect(execFileSync('openssl', ['verify', '-CAfile', join(out, 'bundle.pem'), join(out, 'leaf.pem')], { encoding: 'utf8' })).toContain(': OK');
    const [, id, token] = (lines[1] ?? '').split(' ');
    expect(id).toBe('spiffe://example.org/python-root');
    const client = new WorkloadClient({ address: agent.address, timeoutMs: 10_000 });
    try {
      expect((await client.validate(token as string, 'py-aud')).spiffeId.toString()).toBe('spiffe://example.org/python-root');
      await expect(client.validate(token as string, 'other-aud')).rejects.toMatchObject({ code: expect.any(String) });
    } finally {
      client.close();
    }
  });

  it('gives a process of uid 65534 its own identity, never root\'s, and one with no entry PermissionDenied', () => {
    expect(pyFetch(true).lines[0]).toBe('X509 spiffe://example.org/python-nobody');
    const r = spawnSync('setpriv', ['--reuid=1000', '--regid=1000', '--clear-groups', PY, join(work, 'fetch.py'), agent.socket, work, work],
      { encoding: 'utf8', cwd: '/tmp' });
    expect(r.stdout.trim()).toMatch(/^ERR PERMISSION_DENIED no identity issued/);
  });
});

describe('attacks on the connection', () => {
  it('a process that connects and then execs another binary gets what that binary is entitled to (nothing)', async () => {
    // python (uid 65534, entitled) connects, then execs node (uid 65534, no entry) on the same socket
    const script = `import socket, os, sys; s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); os.set_inheritable(s.fileno(), True); `
      + `os.execv(sys.argv[2], [sys.argv[2], sys.argv[3], 'fd', str(s.fileno()), sys.argv[4]])`;
    const go = join(work, 'go-exec');
    const child = spawn(NOBODY[0] as string, [...NOBODY.slice(1), PY, '-c', script, agent.socket, NODE, join(work, 'raw-call.mjs'), go],
      { stdio: ['ignore', 'pipe', 'inherit'], cwd: '/tmp' });
    let out = '';
    child.stdout.on('data', (b: Buffer) => { out += b.toString(); });
    await waitFor('node to be exec\'d', () => readFileSync(`/proc/${child.pid}/cmdline`, 'latin1').includes('raw-call') || undefined);
    writeFileSync(go, '');
    await exited(child);
    expect(out.trim()).toBe('STATUS 7'); // PERMISSION_DENIED
  });

  it('a connection handed to another process after its maker died, its pid taken by a third, gives nobody an identity', async () => {
    // python E (uid 65534, entitled) connects, forks a child that execs node with the socket, and exits
    const script = `import socket, os, sys; s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); os.set_inheritable(s.fileno(), True)\n`
      + `pid = os.fork()\nif pid == 0:\n    os.execv(sys.argv[2], [sys.argv[2], sys.argv[3], 'fd', str(s.fileno()), sys.argv[4]])\n`
      + `print(os.getpid(), pid, flush=True)\nos._exit(0)\n`;
    const go = join(work, 'go-reuse');
    const maker = spawn(NOBODY[0] as string, [...NOBODY.slice(1), PY, '-c', script, agent.socket, NODE, join(work, 'raw-call.mjs'), go],
      { stdio: ['ignore', 'pipe', 'inherit'], cwd: '/tmp' });
    let out = '';
    maker.stdout.on('data', (b: Buffer) => { out += b.toString(); });
    const [makerPid, childPid] = (await waitFor('the pids', () => (out.includes('\n') ? out.trim().split(/\s+/).map(Number) : undefined))) as number[];
    await exited(maker);
    // the maker's pid goes to a new process (the root pid namespace hands out ns_last_pid + 1)
    writeFileSync('/proc/sys/kernel/ns_last_pid', String((makerPid as number) - 1));
    const squatter = spawn('/bin/sleep', ['30'], { stdio: 'ignore' });
    await new Promise((r) => squatter.once('spawn', r));
    try {
      writeFileSync(go, ''); // now the node child calls on the dead maker's connection
      await waitFor('the child\'s answer', () => out.split('\n').length > 2 || undefined, 20_000);
      expect(out.split('\n')[1]?.trim()).toBe('STATUS 16'); // UNAUTHENTICATED: the original caller is gone
      expect(out).not.toContain('spiffe://');
      expect(childPid).toBeGreaterThan(0);
    } finally {
      squatter.kill('SIGKILL');
    }
  });
});

describe('streams', () => {
  it('1,000 concurrent streams each receive their first SVID, then one rotation', async () => {
    const clients = Array.from({ length: 1000 }, () => new WorkloadClient({ address: agent.address, timeoutMs: 60_000 }));
    const serials: string[][] = clients.map(() => []);
    const stop = new AbortController();
    try {
      const watches = clients.map((c, i) => c.watchX509((ctx) => {
        serials[i]?.push(new X509Certificate(ctx.svids[0]?.chain[0] as Buffer).serialNumber);
      }, stop.signal).catch(() => undefined));
      await waitFor('every first SVID', () => serials.every((s) => s.length >= 1) || undefined, 60_000);
      expect(new Set(serials.map((s) => s[0])).size).toBe(1); // one cached SVID for the one entry
      // the entry's 8 s TTL: re-minted at about half of it and pushed to every stream
      await waitFor('every stream to get the rotated SVID', () => serials.every((s) => s.some((x) => x !== s[0])) || undefined, 60_000);
      stop.abort();
      await Promise.all(watches);
    } finally {
      stop.abort();
      for (const c of clients) c.close();
    }
  });

  it('an entry added to the file reaches an open stream', async () => {
    const client = new WorkloadClient({ address: agent.address, timeoutMs: 30_000 });
    const seen: string[][] = [];
    const stop = new AbortController();
    const watch = client.watchX509((ctx) => seen.push(ctx.svids.map((s) => s.spiffeId.toString())), stop.signal).catch(() => undefined);
    try {
      await waitFor('the first message', () => seen.length >= 1 || undefined);
      appendFileSync(agent.entries, `  - spiffeId: spiffe://example.org/tests-extra\n    selectors: ["unix:uid:0", "unix:path:${NODE}"]\n`);
      await waitFor('the new entry', () => seen.some((ids) => ids.includes('spiffe://example.org/tests-extra')) || undefined, 20_000);
      expect(seen.at(-1)).toEqual(expect.arrayContaining(['spiffe://example.org/tests', 'spiffe://example.org/tests-extra']));
    } finally {
      stop.abort();
      await watch;
      client.close();
    }
  });

  it('serves a brand-new process on its own raw HTTP/2 connection, and this process beside it', async () => {
    const r = spawnSync(process.execPath, [join(work, 'raw-call.mjs'), 'connect', agent.socket], { encoding: 'utf8' });
    expect(r.stdout).toContain('DATA spiffe://example.org/tests');
    const client = new WorkloadClient({ address: agent.address, timeoutMs: 10_000 });
    try {
      expect((await client.fetchX509()).svids.map((s) => s.spiffeId.toString())).toContain('spiffe://example.org/tests');
    } finally {
      client.close();
    }
  });
});
