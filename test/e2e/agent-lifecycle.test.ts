import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { TETHER_BIN } from '../support/agent-process.js';
import { waitFor } from '../support/wait.js';

// The real agent under a wrapper shell (as npx or a script runs it): it stops when the wrapper is
// killed, unless told not to; SIGHUP re-reads the config file, applying the log level and
// refusing a bad file while the agent keeps serving.
describe('tether agent run: its parent and SIGHUP', () => {
  const dirs: Array<{ dir: string; pinDir: string }> = [];
  const pids: number[] = [];
  afterEach(() => {
    for (const p of pids.splice(0)) { try { process.kill(p, 'SIGKILL'); } catch { /* gone */ } }
    for (const d of dirs.splice(0)) {
      spawnSync(process.execPath, [TETHER_BIN, 'uninstall', '--pin-dir', d.pinDir]);
      rmSync(d.dir, { recursive: true, force: true });
    }
  });

  /** `sh -c 'node tether agent run ...; :'`: the trailing `:` keeps sh as the agent's parent. */
  function underWrapper(extra: string[] = [], configYaml = 'logLevel: info\n', nested = false) {
    const dir = mkdtempSync(join(tmpdir(), 'tether-life-'));
    const pinDir = `/sys/fs/bpf/tether-test-life-${process.pid}-${dirs.length}`;
    dirs.push({ dir, pinDir });
    writeFileSync(join(dir, 'config.yaml'), configYaml);
    const args = [TETHER_BIN, 'agent', 'run', '--config', join(dir, 'config.yaml'), '--trust-domain', 'example.org', '--state-dir', join(dir, 'state'),
      '--socket', join(dir, 'agent.sock'), '--admin-socket', join(dir, 'admin.sock'), '--pin-dir', pinDir, '--metrics-addr', 'off', ...extra];
    const agentLine = `"${process.execPath}" ${args.map((a) => `'${a}'`).join(' ')} 2>"$0"; :`;
    // nested: what npx does (npm exec → sh -c → node); a SIGKILL of the outer one leaves the shell alive
    const wrapper = nested
      ? spawn('/bin/sh', ['-c', `/bin/sh -c "$1" "$0"; :`, join(dir, 'stderr'), agentLine], { stdio: 'ignore' })
      : spawn('/bin/sh', ['-c', agentLine, join(dir, 'stderr')], { stdio: 'ignore' });
    pids.push(wrapper.pid as number);
    return { dir, wrapper, socket: join(dir, 'agent.sock'), stderr: () => (existsSync(join(dir, 'stderr')) ? spawnSync('cat', [join(dir, 'stderr')], { encoding: 'utf8' }).stdout : '') };
  }
  const agentPid = (dir: string): number | undefined => {
    const r = spawnSync('pgrep', ['-f', '--', `--state-dir ${join(dir, 'state')}`], { encoding: 'utf8' });
    return r.stdout.split('\n').map(Number).find((n) => n > 0);
  };

  it('stops when the wrapper that started it is killed, and keeps running with --no-exit-with-parent', async () => {
    const a = underWrapper();
    await waitFor('the agent to serve', () => existsSync(a.socket) || undefined, 30_000);
    const pid = agentPid(a.dir) as number;
    pids.push(pid);
    a.wrapper.kill('SIGKILL');
    await waitFor('the agent to stop after its parent', () => agentPid(a.dir) === undefined || undefined, 10_000);
    expect(a.stderr()).toContain('"signal":"parent exited"');
    expect(existsSync(a.socket)).toBe(false); // stopped cleanly: the socket is gone

    // npx's shape: the outer wrapper killed, the shell between it and the agent still alive
    const n = underWrapper([], 'logLevel: info\n', true);
    await waitFor('the nested agent to serve', () => existsSync(n.socket) || undefined, 30_000);
    pids.push(agentPid(n.dir) as number);
    n.wrapper.kill('SIGKILL');
    await waitFor('the nested agent to stop after its grandparent', () => agentPid(n.dir) === undefined || undefined, 10_000);
    expect(n.stderr()).toContain('"signal":"parent exited"');

    const b = underWrapper(['--no-exit-with-parent']);
    await waitFor('the second agent to serve', () => existsSync(b.socket) || undefined, 30_000);
    const pidB = agentPid(b.dir) as number;
    pids.push(pidB);
    b.wrapper.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 1000));
    expect(agentPid(b.dir)).toBe(pidB);
    process.kill(pidB, 'SIGTERM');
    await waitFor('the second agent to stop on SIGTERM', () => agentPid(b.dir) === undefined || undefined, 10_000);
  });

  it('re-reads the config on SIGHUP: a new log level applies, a bad file is refused and the agent keeps serving', async () => {
    const a = underWrapper();
    await waitFor('the agent to start', () => a.stderr().includes('"msg":"agent started"') || undefined, 30_000);
    const pid = agentPid(a.dir) as number;
    pids.push(pid);
    writeFileSync(join(a.dir, 'config.yaml'), 'logLevel: debug\n');
    process.kill(pid, 'SIGHUP');
    await waitFor('the new level', () => a.stderr().includes('SIGHUP: log level changed') || undefined);
    writeFileSync(join(a.dir, 'config.yaml'), 'logLevel: loud\n');
    process.kill(pid, 'SIGHUP');
    await waitFor('the refusal', () => a.stderr().includes('SIGHUP: config refused; the running config stays') || undefined);
    expect(a.stderr()).toMatch(/logLevel/);
    expect(agentPid(a.dir)).toBe(pid);
    expect(existsSync(a.socket)).toBe(true);
    // it still answers the Workload API (this caller has no entry: refused, by a live agent)
    const r = spawnSync(process.execPath, [TETHER_BIN, 'api', 'fetch', 'bundle', '--socket', a.socket], { encoding: 'utf8' });
    expect(r.stderr).toContain('PERMISSION_DENIED: no identity issued');
  });

  it('says how the /proc scan went on a terminal, and nothing of it when stderr is not one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tether-life-tty-'));
    const pinDir = `/sys/fs/bpf/tether-test-life-tty-${process.pid}`;
    dirs.push({ dir, pinDir });
    const cmd = [process.execPath, TETHER_BIN, 'agent', 'run', '--trust-domain', 'example.org', '--state-dir', join(dir, 'state'),
      '--socket', join(dir, 'agent.sock'), '--admin-socket', join(dir, 'admin.sock'), '--pin-dir', pinDir, '--metrics-addr', 'off',
      '--log-level', 'error'].map((a) => `'${a}'`).join(' ');
    // script(1) gives the agent a terminal; its output is the terminal's
    const tty = spawn('script', ['-qec', cmd, '/dev/null'], { stdio: ['ignore', 'pipe', 'ignore'] });
    pids.push(tty.pid as number);
    let out = '';
    tty.stdout.on('data', (b: Buffer) => { out += b.toString(); });
    await waitFor('the scan line', () => /scanning \/proc for running processes\.\.\. \d+ processes in \d+ ms/.test(out) || undefined, 30_000);
    const plain = underWrapper();
    await waitFor('the agent to start', () => plain.stderr().includes('"msg":"agent started"') || undefined, 30_000);
    expect(plain.stderr()).not.toContain('scanning /proc');
  });
});
