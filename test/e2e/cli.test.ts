import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, realpathSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../agent/kernel/index.js';
import { AgentProcess } from '../support/agent-process.js';
import { TestCgroup } from '../support/test-cgroup.js';
import { exited, waitFor } from '../support/wait.js';

// The real `tether` binary as `make build` leaves it, run as a separate process.
const BIN = join(packageRoot(), 'build', 'agent', 'cli', 'bin.js');

function tether(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

interface PsRow { pid: number; ppid: number; uid: number; gid: number; exe: string | null; cgroup: string | null; startTime: string; startNs: string; containerId: string | null; podUid: string | null }

describe('tether ps (from a running agent)', () => {
  let cg: TestCgroup;
  let agent: AgentProcess;
  beforeAll(async () => {
    cg = TestCgroup.create('tether-e2e-ps');
    agent = await AgentProcess.start('entries: []\n');
  });
  afterAll(async () => {
    await agent.stop();
    await cg.destroy();
  });

  it('lists a forked sleep with its exe, ids, parent and cgroup as JSON, and drops it once it exits', async () => {
    // a shell in the test cgroup forks a sleep and waits: the sleep's parent is the shell
    const shell = cg.spawn(['/bin/sh', '-c', 'sleep 300 & wait']);
    const sleepPid = await waitFor('the sleep', () => cg.pids().find((p) => p !== shell.pid));
    const r = agent.cli(['ps', '--output', 'json']);
    expect(r.status, r.stderr).toBe(0);
    const rows = JSON.parse(r.stdout) as PsRow[];
    const row = rows.find((x) => x.pid === sleepPid);
    expect(row).toMatchObject({
      ppid: shell.pid, uid: 0, gid: 0, exe: realpathSync('/bin/sleep'), cgroup: cg.relPath, containerId: null, podUid: null,
    });
    expect(row?.startNs).toMatch(/^\d+$/);
    expect(Date.parse(row?.startTime ?? '')).toBeGreaterThan(Date.now() - 120_000);
    expect(rows.length).toBeGreaterThan(10); // every process on the host, not just ours
    expect(rows.some((x) => x.pid === agent.child.pid)).toBe(true);

    process.kill(sleepPid, 'SIGKILL');
    await exited(shell);
    const after = JSON.parse(agent.cli(['ps', '--output', 'json']).stdout) as PsRow[];
    expect(after.some((x) => x.pid === sleepPid)).toBe(false);
  });

  it('prints a table by default', () => {
    const r = agent.cli(['ps']);
    expect(r.status, r.stderr).toBe(0);
    const [header, ...lines] = r.stdout.trim().split('\n');
    expect(header).toMatch(/^PID\s+PPID\s+UID\s+GID\s+STARTTIME\s+COMM\s+EXE\s+CGROUP\s+CONTAINERID\s+PODUID$/);
    expect(lines.some((l) => l.startsWith(`${process.pid} `))).toBe(true);
  });

  it('refuses a bad output format with exit 2 and one line', () => {
    const r = agent.cli(['ps', '--output', 'yaml']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("Allowed choices are table, json");
    expect(r.stdout).toBe('');
  });

  it('exits 1, saying what to check, when no agent answers', () => {
    const r = tether('ps', '--admin-socket', join(tmpdir(), `tether-none-${process.pid}.sock`));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^tether: cannot reach the agent's admin socket .*: ENOENT \(is `tether agent run` running\?\) \(UNREACHABLE\)\n$/);
  });

  it('refuses an unknown command with exit 2', () => {
    expect(tether('frobnicate').code).toBe(2);
  });
});

describe('tether agent run', () => {
  let dir: string;
  let cg: TestCgroup;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'tether-e2e-agent-'));
    cg = TestCgroup.create('tether-e2e-agent');
  });
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await cg.destroy();
  });

  it('starts on its flags, prints one line, and stops cleanly on SIGTERM', async () => {
    const state = join(dir, 'state');
    const pins = `/sys/fs/bpf/tether-e2e-${process.pid}`;
    const agent = spawn(process.execPath, [BIN, 'agent', 'run', '--trust-domain', 'example.org', '--state-dir', state, '--pin-dir', pins, '--cgroup', cg.path],
      { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    agent.stdout.on('data', (b: Buffer) => { out += b.toString(); });
    agent.stderr.on('data', (b: Buffer) => { err += b.toString(); });
    try {
      const line = await waitFor('the serving line', () => out.split('\n').find((l) => l.startsWith('tether agent:')), 30_000);
      expect(line).toMatch(/tracking \d+ processes/);
      expect(line).toContain(cg.path);
      expect(statSync(state).mode & 0o777).toBe(0o711);
      expect(statSync(pins).isDirectory()).toBe(true);
    } finally {
      agent.kill('SIGTERM');
    }
    expect(await exited(agent)).toBe(0);
    expect(err).toContain('"msg":"agent stopped"');
    expect(tether('uninstall', '--pin-dir', pins).code).toBe(0);
  });

  it('refuses a --cgroup outside the cgroup v2 mount, naming it, with exit 1', () => {
    const r = tether('agent', 'run', '--trust-domain', 'example.org', '--state-dir', join(dir, 's2'), '--pin-dir', `/sys/fs/bpf/tether-e2e-bad-${process.pid}`, '--cgroup', '/tmp');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/enforce\.cgroup \/tmp is not inside the cgroup v2 mount/);
    expect(r.stderr.split('\n').filter(Boolean)).toHaveLength(1);
    tether('uninstall', '--pin-dir', `/sys/fs/bpf/tether-e2e-bad-${process.pid}`);
  });

  it('refuses a config file with an unknown key, naming the key', () => {
    const file = join(dir, 'bad.yaml');
    spawnSync('sh', ['-c', `printf 'stateDir: /x\\nsocketz: /y\\n' > ${file}`]);
    const r = tether('agent', 'run', '--config', file);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('socketz');
  });
});
