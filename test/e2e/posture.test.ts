import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../agent/kernel/index.js';
import { AgentProcess, TETHER_BIN } from '../support/agent-process.js';
import { exited, waitFor } from '../support/wait.js';

// Posture gates with the real agent: real files, real flags (setpriv --no-new-privs), a real
// chroot into a minimal root filesystem made of a static busybox. Workloads speak gRPC with
// Debian's python3-grpcio, or raw HTTP/2 over a connection another process made (the chroot).
const PY = realpathSync('/usr/bin/python3');
const NODE = realpathSync(process.execPath);
const BUSYBOX = realpathSync('/bin/busybox'); // Debian's busybox-static: runs in a root with nothing else
const FORBID = '[sh, bash, curl, wget, apt, apk, pip]';

let work: string;
let agent: AgentProcess;
const paths = {
  userDir: '', userPy: '', rootDir: '', rootPy: '', watchedDir: '', watchedPy: '', image: '', imageBusybox: '',
};

function entries(): string {
  return `entries:
  - spiffeId: spiffe://example.org/copied-user-dir
    selectors: ["unix:path:${paths.userPy}"]
    posture: { exeImmutable: true }
  - spiffeId: spiffe://example.org/copied-root-dir
    selectors: ["unix:path:${paths.rootPy}"]
    posture: { exeImmutable: true }
  - spiffeId: spiffe://example.org/watched
    selectors: ["unix:path:${paths.watchedPy}"]
    posture: { exeImmutable: true }
  - spiffeId: spiffe://example.org/nnp
    selectors: ["unix:uid:1001", "unix:path:${PY}"]
    posture: { noNewPrivs: true }
  - spiffeId: spiffe://example.org/minimal
    selectors: ["unix:path:${paths.imageBusybox}"]
    posture:
      forbidExecutables: ${FORBID}
      maxExecutables: 64
`;
}

const PY_FETCH = `
import sys, grpc
sys.path.insert(0, sys.argv[2])
import workload_pb2 as pb, workload_pb2_grpc as rpc
stub = rpc.SpiffeWorkloadAPIStub(grpc.insecure_channel('unix:' + sys.argv[1]))
try:
    for r in stub.FetchX509SVID(pb.X509SVIDRequest(), metadata=[('workload.spiffe.io', 'true')], timeout=60):
        print('X509', ' '.join(s.spiffe_id for s in r.svids), flush=True)
        if sys.argv[3] == 'once': break
except grpc.RpcError as e:
    print('ERR', e.code().name, e.details(), flush=True)
`;

// FetchX509SVID over a connection this process inherited: the Workload API answers for the
// process that made it (SO_PEERCRED), here one that then chroot()s and runs busybox.
const RAW_CALL = `
import http2 from 'node:http2'; import net from 'node:net'; import { existsSync } from 'node:fs';
const [fd, goFile, mode] = process.argv.slice(2);
while (!existsSync(goFile)) await new Promise((r) => setTimeout(r, 20));
const sock = new net.Socket({ fd: Number(fd), readable: true, writable: true });
const session = http2.connect('http://tether', { createConnection: () => sock });
const req = session.request({ ':method': 'POST', ':path': '/SpiffeWorkloadAPI/FetchX509SVID', 'content-type': 'application/grpc', te: 'trailers', 'workload.spiffe.io': 'true' });
req.end(Buffer.alloc(5));
const done = (what) => { console.log(what); process.exit(0); };
const status = (h) => 'STATUS ' + h['grpc-status'] + ' ' + decodeURIComponent(h['grpc-message'] ?? '');
const ids = (d) => 'DATA ' + (d.toString('latin1').match(/spiffe:\\/\\/[a-z0-9.\\/-]+/g) ?? []).join(' ');
// 'stream': every message, until the stream's status; else the first answer only
req.on('data', (d) => (mode === 'stream' ? console.log(ids(d)) : done(ids(d))));
req.on('response', (h) => { if (h['grpc-status'] !== undefined) done(status(h)); });
req.on('trailers', (t) => done(status(t)));
setTimeout(() => done('TIMEOUT'), 30000);
`;

// Connects, forks the caller (node, with the socket), then becomes busybox: chrooted into the
// image when asked, else on the host's root; or ('exec:<file>'), once told, execs that file.
// Prints its pid once the caller is on its way.
const MAKER = `
import os, socket, sys, time
sock_path, node, raw, go, image, where = sys.argv[1:7]
s = socket.socket(socket.AF_UNIX); s.connect(sock_path); os.set_inheritable(s.fileno(), True)
if os.fork() == 0:
    os.execv(node, [node, raw, str(s.fileno()), go, 'stream' if where.startswith('exec:') else 'once'])
print(os.getpid(), flush=True)
if where.startswith('exec:'):
    while not os.path.exists(go + '.exec'): time.sleep(0.02)
    os.execv(where[5:], [where[5:], '-c', 'import time; time.sleep(60)'])
if where == 'chroot':
    os.chroot(image); os.chdir('/')
    os.execv('/bin/busybox', ['sleep', '60'])
os.execv(image + '/bin/busybox', ['sleep', '60'])
`;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'tether-e2e-posture-'));
  chmodSync(work, 0o755); // root's, not writable by others: exeImmutable walks through it
  writeFileSync(join(work, 'fetch.py'), PY_FETCH, { mode: 0o644 });
  writeFileSync(join(work, 'raw-call.mjs'), RAW_CALL, { mode: 0o644 });
  writeFileSync(join(work, 'maker.py'), MAKER, { mode: 0o644 });
  const wkt = execFileSync(PY, ['-c', 'import grpc_tools, os; print(os.path.join(os.path.dirname(grpc_tools.__file__), "_proto"))'], { encoding: 'utf8' }).trim();
  execFileSync(PY, ['-m', 'grpc_tools.protoc', `-I${join(packageRoot(), 'proto')}`, `-I${wkt}`, `--python_out=${work}`, `--grpc_python_out=${work}`, 'workload.proto']);
  for (const f of ['workload_pb2.py', 'workload_pb2_grpc.py']) chmodSync(join(work, f), 0o644);
  // a copy of python in a directory uid 1000 owns, one in root's, one to replace while it runs
  paths.userDir = join(work, 'user');
  paths.rootDir = join(work, 'root-owned');
  paths.watchedDir = join(work, 'watched');
  for (const d of [paths.userDir, paths.rootDir, paths.watchedDir]) mkdirSync(d, { mode: 0o755 });
  chownSync(paths.userDir, 1000, 1000);
  paths.userPy = join(paths.userDir, 'python3');
  paths.rootPy = join(paths.rootDir, 'python3');
  paths.watchedPy = join(paths.watchedDir, 'python3');
  for (const p of [paths.userPy, paths.rootPy, paths.watchedPy]) copyFileSync(PY, p);
  // the minimal image: busybox and the names it is allowed, nothing the entry forbids
  paths.image = join(work, 'image');
  mkdirSync(join(paths.image, 'bin'), { recursive: true, mode: 0o755 });
  paths.imageBusybox = join(paths.image, 'bin', 'busybox');
  copyFileSync(BUSYBOX, paths.imageBusybox);
  for (const name of ['sleep', 'ls', 'cat']) symlinkSync('busybox', join(paths.image, 'bin', name));
  agent = await AgentProcess.start(entries());
});

afterAll(async () => {
  await agent?.stop();
  if (work !== undefined) rmSync(work, { recursive: true, force: true });
});

function pyFetch(argv: readonly string[]): string {
  const r = spawnSync(argv[0] as string, [...argv.slice(1), join(work, 'fetch.py'), agent.socket, work, 'once'], { encoding: 'utf8', cwd: '/tmp', timeout: 60_000 });
  return r.stdout.trim();
}

/** A busybox (chrooted into the image, or on the host root) whose connection another process calls on. */
async function busyboxCall(where: 'chroot' | 'host'): Promise<{ answer: string; pid: number; maker: ChildProcess }> {
  const go = join(work, `go-${where}`);
  const maker = spawn(PY, [join(work, 'maker.py'), agent.socket, NODE, join(work, 'raw-call.mjs'), go, paths.image, where], { stdio: ['ignore', 'pipe', 'inherit'], cwd: '/tmp' });
  let out = '';
  maker.stdout?.on('data', (b: Buffer) => { out += b.toString(); });
  const pid = Number(await waitFor('the maker\'s pid', () => (out.includes('\n') ? out.split('\n')[0] : undefined)));
  await waitFor('busybox to run', () => readFileSync(`/proc/${pid}/cmdline`, 'latin1').startsWith('sleep') || undefined);
  writeFileSync(go, '');
  const answer = await waitFor('the call\'s answer', () => (out.split('\n').length > 2 ? out.split('\n')[1] : undefined), 30_000);
  return { answer: answer as string, pid, maker };
}

describe('exeImmutable', () => {
  it('refuses a binary copied into a directory writable by uid 1000, naming the check, and serves the same copy in root\'s', () => {
    expect(pyFetch([paths.userPy])).toBe(`ERR PERMISSION_DENIED posture check exeImmutable failed for spiffe://example.org/copied-user-dir: ${paths.userDir} is owned by uid 1000`);
    expect(pyFetch([paths.rootPy])).toBe('X509 spiffe://example.org/copied-root-dir');
  });

  it('revokes: replacing the file after exec ends the stream PermissionDenied', async () => {
    const child = spawn(paths.watchedPy, [join(work, 'fetch.py'), agent.socket, work, 'stream'], { stdio: ['ignore', 'pipe', 'inherit'], cwd: '/tmp' });
    let out = '';
    child.stdout?.on('data', (b: Buffer) => { out += b.toString(); });
    try {
      await waitFor('the first SVID', () => out.includes('X509 spiffe://example.org/watched') || undefined, 30_000);
      const next = join(paths.watchedDir, 'python3.new');
      copyFileSync(PY, next);
      renameSync(next, paths.watchedPy); // an upgrade's way: a new inode under the old name
      await waitFor('the stream to end', () => out.includes('ERR') || undefined, 30_000);
      expect(out.trim().split('\n').at(-1)).toBe(`ERR PERMISSION_DENIED posture check exeImmutable failed for spiffe://example.org/watched: ${paths.watchedPy} was deleted or replaced since it was exec'd`);
    } finally {
      child.kill('SIGKILL');
      await exited(child);
    }
  });
});

describe('an exec judges the process again', () => {
  it('ends a stream PermissionDenied when its process execs a binary that fails exeImmutable', async () => {
    const go = join(work, 'go-exec');
    const maker = spawn(paths.rootPy, [join(work, 'maker.py'), agent.socket, NODE, join(work, 'raw-call.mjs'), go, paths.image, `exec:${paths.userPy}`],
      { stdio: ['ignore', 'pipe', 'inherit'], cwd: '/tmp' });
    let out = '';
    maker.stdout?.on('data', (b: Buffer) => { out += b.toString(); });
    try {
      await waitFor('the maker\'s pid', () => out.includes('\n') || undefined);
      writeFileSync(go, '');
      await waitFor('the first SVID', () => out.includes('DATA spiffe://example.org/copied-root-dir') || undefined, 30_000);
      writeFileSync(`${go}.exec`, '');
      await waitFor('the stream\'s end', () => out.includes('STATUS') || undefined, 30_000);
      expect(out.trim().split('\n').at(-1)).toBe(`STATUS 7 posture check exeImmutable failed for spiffe://example.org/copied-user-dir: ${paths.userDir} is owned by uid 1000`);
    } finally {
      maker.kill('SIGKILL');
      await exited(maker);
    }
  });
});

describe('noNewPrivs', () => {
  it('passes a process started with setpriv --no-new-privs and fails a plain one, naming the check', () => {
    const as1001 = ['setpriv', '--reuid=1001', '--regid=1001', '--clear-groups'];
    expect(pyFetch([...as1001, '--no-new-privs', PY])).toBe('X509 spiffe://example.org/nnp');
    expect(pyFetch([...as1001, PY])).toBe('ERR PERMISSION_DENIED posture check noNewPrivs failed for spiffe://example.org/nnp: NoNewPrivs is 0');
  });
});

describe('root filesystem checks', () => {
  it('pass busybox chrooted into a minimal image; `tether posture` shows each check with its evidence', async () => {
    const { answer, pid, maker } = await busyboxCall('chroot');
    try {
      expect(answer).toMatch(/^DATA spiffe:\/\/example\.org\/minimal /); // its X509-SVID's URI SAN (the DER around it follows)
      const r = agent.cli(['posture', String(pid), '-o', 'json']);
      expect(r.status, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toEqual({ pid, entries: [{ id: expect.any(String), spiffeId: 'spiffe://example.org/minimal', checks: [
        { check: 'forbidExecutables', verdict: 'pass', evidence: expect.stringMatching(/^none of apk, apt, bash, curl, pip, sh, wget among \d+ entries/) },
        { check: 'maxExecutables', verdict: 'pass', evidence: '1 executable files, at most 64' },
      ] }] });
    } finally {
      maker.kill('SIGKILL');
      await exited(maker);
    }
  });

  it('fail the same program on the host\'s root; `tether entry match` shows the failure beside the selectors', async () => {
    const { answer, pid, maker } = await busyboxCall('host');
    try {
      expect(answer).toMatch(/^STATUS 7 posture check forbidExecutables failed for spiffe:\/\/example\.org\/minimal: .*\/sh.* in the root filesystem$/);
      const r = agent.cli(['entry', 'match', String(pid), '-o', 'json']);
      expect(r.status, r.stderr).toBe(0);
      const row = (JSON.parse(r.stdout) as { entries: Array<{ spiffeId: string; matched: boolean; posture: Array<{ check: string; ok: boolean; evidence: string }> }> })
        .entries.find((e) => e.spiffeId === 'spiffe://example.org/minimal');
      expect(row?.matched).toBe(true);
      expect(row?.posture.map((c) => [c.check, c.ok])).toEqual([['forbidExecutables', false], ['maxExecutables', false]]);
      const table = agent.cli(['entry', 'match', String(pid)]);
      expect(table.stdout).toMatch(/spiffe:\/\/example\.org\/minimal\s+yes\s+-\s+forbidExecutables: .* in the root filesystem; maxExecutables: /);
    } finally {
      maker.kill('SIGKILL');
      await exited(maker);
    }
  });
});

describe('the agent\'s view', () => {
  it('counts every check\'s results in tether_posture_checks_total', async () => {
    const text = await (await fetch(`http://127.0.0.1:${agent.metricsPort}/metrics`)).text();
    const count = (check: string, result: string): number => Number(new RegExp(`^tether_posture_checks_total\\{check="${check}",result="${result}"\\} (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
    expect(count('noNewPrivs', 'pass')).toBeGreaterThanOrEqual(1);
    expect(count('noNewPrivs', 'fail')).toBeGreaterThanOrEqual(1);
    expect(count('exeImmutable', 'fail')).toBeGreaterThanOrEqual(2);
    expect(count('forbidExecutables', 'pass')).toBeGreaterThanOrEqual(1);
    expect(count('forbidExecutables', 'fail')).toBeGreaterThanOrEqual(1);
  });

  it('refuses a bad posture block with its line and reason', () => {
    const bad = join(work, 'bad.yaml');
    writeFileSync(bad, 'entries:\n  - spiffeId: spiffe://example.org/x\n    selectors: ["unix:uid:0"]\n    posture:\n      seccomp: filtered\n');
    const r = spawnSync(process.execPath, [TETHER_BIN, 'entry', 'list', '--entries', bad], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`${bad}:5:16: entries[0].posture.seccomp: expected one of disabled, strict, filter, got "filtered"`);
  });
});
