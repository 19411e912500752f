import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { devToKernel } from '../../agent/attest/index.js';
import {
  ProfileEventKind, ProfileMode, QuarantineReason, SockPrograms, cidrKey, ensureBpffs, uninstall, type ProfileEvent,
} from '../../agent/kernel/index.js';
import { TestCgroup } from '../support/test-cgroup.js';
import { exited, waitFor } from '../support/wait.js';

// Exec allow-lists and quarantine in the kernel (bpf/lib/sock_profile.h): a process of a profiled
// identity that execs a file outside its profile is reported (monitor) or killed before the new
// program runs (enforce), its parent of the same identity quarantined: connects get EPERM, forks
// inherit it. The exec tracepoint is host-wide; all of it acts only inside the test cgroup.
const PIN_DIR = `/sys/fs/bpf/tether-test-profile-${process.pid}`;
const PY = realpathSync('/usr/bin/python3');
const SH = realpathSync('/bin/sh');
const TRUE = realpathSync('/bin/true');
const ID = 611;
const ANY_UID = 0xffffffff;

/** A python of identity ID that runs what it is told, one JSON argv per line, and connects. */
const WORKER = `import errno, json, socket, subprocess, sys
for line in sys.stdin:
    cmd, _, arg = line.strip().partition(" ")
    if cmd == "run":
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

function fileKey(path: string): { dev: number; ino: bigint } {
  const st = statSync(path, { bigint: true });
  return { dev: devToKernel(st.dev), ino: st.ino };
}

class Worker {
  readonly child: ChildProcess;
  #out = '';
  #seen = 0;

  constructor(child: ChildProcess) {
    this.child = child;
    child.stdout?.on('data', (b: Buffer) => { this.#out += b.toString(); });
  }

  get pid(): number {
    return this.child.pid as number;
  }

  /** Sends one command and returns the first line it prints. */
  async ask(line: string): Promise<string> {
    this.child.stdin?.write(`${line}\n`);
    return this.next(`the answer to ${line}`);
  }

  /** The next line printed (a child shares the worker's stdout). */
  async next(what = 'a line'): Promise<string> {
    const want = this.#seen + 1;
    const answer = await waitFor(what, () => this.#out.split('\n').slice(0, -1)[want - 1]);
    this.#seen = want;
    return answer;
  }

  async stop(): Promise<void> {
    this.child.kill('SIGKILL');
    await exited(this.child);
  }
}

describe('exec allow-lists and quarantine in the kernel', () => {
  let cg: TestCgroup;
  let sock: SockPrograms;
  let server: Server;
  let port: number;
  let dir: string;
  const events: ProfileEvent[] = [];

  beforeAll(async () => {
    ensureBpffs(PIN_DIR);
    cg = TestCgroup.create('tether-kt-profile');
    dir = mkdtempSync(join(tmpdir(), 'tether-profile-'));
    sock = SockPrograms.open({ pinDir: PIN_DIR, cgroup: cg.path, onProfileEvents: (batch) => events.push(...batch) });
    server = createServer((c) => c.destroy());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as { port: number }).port;
  });
  afterAll(async () => {
    server?.close();
    sock?.release();
    try { uninstall(PIN_DIR); } finally {
      await cg?.destroy();
      if (dir) rmSync(dir, { recursive: true, force: true });
    }
  });
  beforeEach(() => {
    events.length = 0;
    for (const k of [...sock.maps.profileExes.keys()]) sock.maps.profileExes.delete(k);
    for (const k of [...sock.maps.quarantined.keys()]) sock.maps.quarantined.delete(k);
    for (const k of [...sock.maps.profileCidrs.keys()]) sock.maps.profileCidrs.delete(k);
    sock.maps.executables.update({ ...fileKey(PY), uid: ANY_UID }, ID);
  });

  const worker = (inCgroup = true): Worker =>
    new Worker(inCgroup ? cg.spawn([PY, '-c', WORKER], 'pipe') : spawn(PY, ['-c', WORKER], { stdio: 'pipe' }));
  const allow = (path: string): void => sock.maps.profileExes.update({ id: ID, ...fileKey(path) }, 1);
  /** The test server (unidentified, so by address) in the profile: 127.0.0.1/32 on its port. */
  const allowServer = (): void => sock.maps.profileCidrs.update(cidrKey({
    src: ID, port, generation: 0, family: 4, address: Buffer.from([127, 0, 0, 1]), prefixLength: 32,
  }), 1);
  const ofKind = (kind: number): ProfileEvent[] => events.filter((e) => e.kind === kind && e.id === ID);

  it('learn: reports each exec of the identity\'s processes with its file', async () => {
    sock.maps.profileModes.update(ID, ProfileMode.LEARN);
    const w = worker();
    try {
      expect(await w.ask(`run ${JSON.stringify([TRUE])}`)).toBe('rc 0');
      const seen = await waitFor('the exec of true', () => ofKind(ProfileEventKind.EXEC_SEEN).find((e) => e.filename === TRUE));
      expect({ dev: seen.exeDev, ino: seen.exeIno }).toEqual(fileKey(TRUE));
      expect(seen.ppid).toBe(w.pid);
      expect(seen.mode).toBe(ProfileMode.LEARN);
      // once learned (user space adds it at once), the same file is not reported again; a new one is
      allow(TRUE);
      expect(await w.ask(`run ${JSON.stringify([TRUE])}`)).toBe('rc 0');
      expect(await w.ask(`run ${JSON.stringify([SH, '-c', 'exit 0'])}`)).toBe('rc 0');
      await waitFor('the exec of sh', () => ofKind(ProfileEventKind.EXEC_SEEN).find((e) => e.filename === SH));
      sock.drainEvents();
      expect(ofKind(ProfileEventKind.EXEC_SEEN).filter((e) => e.filename === TRUE)).toHaveLength(1);
    } finally {
      await w.stop();
    }
  });

  it('monitor: an exec outside the profile is reported once and runs', async () => {
    sock.maps.profileModes.update(ID, ProfileMode.MONITOR);
    allow(PY);
    const target = join(dir, 'monitored');
    const w = worker();
    try {
      expect(await w.ask(`run ${JSON.stringify([SH, '-c', `touch ${target}`])}`)).toBe('rc 0');
      expect(existsSync(target)).toBe(true);
      await waitFor('the deviation', () => ofKind(ProfileEventKind.EXEC_DEVIATION).length > 0 || undefined);
      sock.drainEvents();
      expect(ofKind(ProfileEventKind.EXEC_DEVIATION).map((e) => [e.filename, e.ppid, e.parentQuarantined])).toEqual([[SH, w.pid, 0]]);
      expect(sock.maps.quarantined.lookup(w.pid)).toBeUndefined();
      expect(await w.ask(`connect ${port}`)).toBe('conn ok');
    } finally {
      await w.stop();
    }
  });

  it('enforce: the exec is killed before it runs, the parent quarantined; release restores its connects', async () => {
    sock.maps.profileModes.update(ID, ProfileMode.ENFORCE);
    allow(PY);
    allowServer();
    const target = join(dir, 'never');
    const killedBefore = sock.profileCounts().execsKilled;
    const w = worker();
    try {
      expect(await w.ask(`connect ${port}`)).toBe('conn ok');
      expect(await w.ask(`run ${JSON.stringify([SH, '-c', `touch ${target}`])}`)).toBe('rc -9');
      expect(existsSync(target)).toBe(false);
      const killed = await waitFor('the kill event', () => ofKind(ProfileEventKind.EXEC_KILLED)[0]);
      expect([killed.filename, killed.ppid, killed.parentQuarantined]).toEqual([SH, w.pid, 1]);
      expect(sock.profileCounts().execsKilled - killedBefore).toBe(1n);
      expect(sock.maps.quarantined.lookup(w.pid)).toMatchObject({ id: ID, reason: QuarantineReason.EXEC, startNs: killed.parentStartNs });
      expect(await w.ask(`connect ${port}`)).toBe('conn EPERM');
      // a fork of a quarantined process is quarantined too (python is in the profile: it runs)
      const connectPy = `import socket\ntry:\n    socket.create_connection(("127.0.0.1", ${port}), 5).close(); print("ok")\nexcept PermissionError:\n    print("EPERM")`;
      expect(await w.ask(`run ${JSON.stringify([PY, '-c', connectPy])}`)).toBe('EPERM');
      expect(await w.next()).toBe('rc 0');
      sock.maps.quarantined.delete(w.pid); // what `tether quarantine release` does in the kernel
      expect(await w.ask(`connect ${port}`)).toBe('conn ok');
    } finally {
      await w.stop();
    }
  });

  it('enforce: a connect outside the profile is refused and quarantines its process; the same process in the profile would have connected', async () => {
    sock.maps.profileModes.update(ID, ProfileMode.ENFORCE);
    allow(PY);
    const other = createServer((c) => c.destroy());
    await new Promise<void>((r) => other.listen(0, '127.0.0.1', r));
    const otherPort = (other.address() as { port: number }).port;
    const w = worker();
    try {
      allowServer();
      expect(await w.ask(`connect ${port}`)).toBe('conn ok');
      expect(await w.ask(`connect ${otherPort}`)).toBe('conn EPERM');
      const refused = await waitFor('the refusal event', () => ofKind(ProfileEventKind.CONNECT_REFUSED)[0]);
      expect([refused.tgid, refused.port, refused.family, [...refused.addr.subarray(0, 4)], refused.peerId]).toEqual([w.pid, otherPort, 4, [127, 0, 0, 1], 0]);
      expect(sock.maps.quarantined.lookup(w.pid)).toMatchObject({ id: ID, reason: QuarantineReason.CONNECT, startNs: refused.startNs });
      expect(await w.ask(`connect ${port}`)).toBe('conn EPERM'); // quarantined: the profile's own destination too
      sock.maps.quarantined.delete(w.pid);
      expect(await w.ask(`connect ${port}`)).toBe('conn ok');
      // in monitor, the kernel does not refuse (user space reports new destinations from the flow table)
      sock.maps.profileModes.update(ID, ProfileMode.MONITOR);
      expect(await w.ask(`connect ${otherPort}`)).toBe('conn ok');
    } finally {
      other.close();
      await w.stop();
    }
  });

  it('enforce: the allow-list is by file identity (a copy is outside it); a script is its interpreter', async () => {
    sock.maps.profileModes.update(ID, ProfileMode.ENFORCE);
    allow(PY);
    allow(TRUE);
    const copy = join(dir, 'true-copy');
    copyFileSync(TRUE, copy);
    const script = join(dir, 'script.py');
    writeFileSync(script, `#!${PY}\nopen("${join(dir, 'script-ran')}", "w").close()\n`, { mode: 0o755 });
    const w = worker();
    try {
      expect(await w.ask(`run ${JSON.stringify([TRUE])}`)).toBe('rc 0');
      expect(await w.ask(`run ${JSON.stringify([copy])}`)).toBe('rc -9');
      expect(await w.ask(`run ${JSON.stringify([script])}`)).toBe('rc 0');
      expect(existsSync(join(dir, 'script-ran'))).toBe(true);
      await waitFor('the kill event', () => ofKind(ProfileEventKind.EXEC_KILLED)[0]);
      expect(ofKind(ProfileEventKind.EXEC_KILLED).map((e) => e.filename)).toEqual([copy]);
    } finally {
      await w.stop();
    }
  });

  it('never acts outside the enforcement cgroup: the same identity and exec there run, unreported', async () => {
    sock.maps.profileModes.update(ID, ProfileMode.ENFORCE);
    allow(PY);
    const target = join(dir, 'outside');
    const w = worker(false);
    try {
      // the identity is given host-wide (exe_identity): only the profile's actions are confined
      await waitFor('the identity', () => sock.maps.identities.lookup(w.pid)?.id === ID || undefined);
      expect(await w.ask(`run ${JSON.stringify([SH, '-c', `touch ${target}`])}`)).toBe('rc 0');
      expect(existsSync(target)).toBe(true);
      expect(sock.maps.quarantined.lookup(w.pid)).toBeUndefined();
      sock.drainEvents();
      expect(events.filter((e) => e.ppid === w.pid)).toEqual([]);
    } finally {
      await w.stop();
    }
  });
});
