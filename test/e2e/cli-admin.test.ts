import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { packageRoot } from '../../agent/kernel/index.js';
import { policyEvent } from '../fakes/fake-admin-backend.js';
import { startAdminServer, type AdminHarness } from '../support/admin-server.js';
import { exited, waitFor } from '../support/wait.js';

// The real `tether` binary (tsc's build/agent), run as a separate process against an AdminServer
// over the fake backend in this process: what an operator's shell sees.
const BIN = join(packageRoot(), 'build', 'agent', 'cli', 'bin.js');
const NOBODY = 65534;

interface Running {
  readonly child: ChildProcess;
  stdout: string;
  stderr: string;
}

function start(args: readonly string[], options: { uid?: number; gid?: number } = {}): Running {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  const r: Running = { child, stdout: '', stderr: '' };
  child.stdout?.on('data', (b: Buffer) => { r.stdout += b.toString(); });
  child.stderr?.on('data', (b: Buffer) => { r.stderr += b.toString(); });
  return r;
}

/** Runs `tether ...args` to its end: exit code, signal and output. Async, so the server in this
 * process keeps answering while the CLI runs. */
async function tether(args: readonly string[], options: { uid?: number; gid?: number } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const r = start(args, options);
  const code = await exited(r.child);
  return { code, stdout: r.stdout, stderr: r.stderr };
}

let h: AdminHarness;

beforeEach(async () => {
  h = await startAdminServer();
  h.backend.publish(policyEvent(1));
});

afterEach(async () => {
  await h.close();
});

describe('tether events|conns|policy against an admin socket', () => {
  it('events --follow -o json prints the recent event, then new ones as they come, until SIGINT', async () => {
    const r = start(['events', '--follow', '-o', 'json', '--admin-socket', h.socketPath]);
    await waitFor('the recent event', () => r.stdout.includes('\n'));
    expect(h.backend.subscribers).toBe(1);
    h.backend.publish(policyEvent(2, { verdict: 'audit', mode: 'audit', to: null }));
    await waitFor('the new event', () => r.stdout.split('\n').length === 3);
    expect(r.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as unknown)).toEqual(h.backend.events);
    r.child.kill('SIGINT');
    await exited(r.child);
    expect(r.child.signalCode).toBe('SIGINT');
    await waitFor('the server to drop the subscription', () => h.backend.subscribers === 0);
  });

  it('events --follow ends quietly (exit 0) when the reader of its stdout goes away', async () => {
    const r = start(['events', '--follow', '--admin-socket', h.socketPath]);
    await waitFor('the recent event', () => r.stdout.includes('\n'));
    r.child.stdout?.destroy(); // as `| head -1` exiting does
    for (let n = 2; n < 5 && r.child.exitCode === null; n++) {
      h.backend.publish(policyEvent(n));
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(await exited(r.child)).toBe(0);
    expect(r.stderr).toBe('');
    await waitFor('the server to drop the subscription', () => h.backend.subscribers === 0);
  });

  it('finds the socket from TETHER_STATE_DIR like the agent puts it', async () => {
    const child = spawn(process.execPath, [BIN, 'conns', '-o', 'json'], {
      env: { ...process.env, TETHER_STATE_DIR: join(h.dir, 'state'), TETHER_ADMIN_SOCKET: '' }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout.on('data', (b: Buffer) => { stdout += b.toString(); });
    expect(await exited(child)).toBe(0);
    expect(JSON.parse(stdout)).toEqual({ connections: [], tunnels: [] });
  });

  it('policy check exits 2 on bad arguments, 1 on a denial', async () => {
    const bad = await tether(['policy', 'check', '--from', 'spiffe://example.org/web', '--to', 'nowhere', '--port', '80', '--admin-socket', h.socketPath]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe('tether: --to must be a SPIFFE ID or an IP address: got "nowhere"\n');
    h.backend.decision = { verdict: 'deny', mode: 'enforce', reason: 'no rule allows it' };
    const denied = await tether(['policy', 'check', '--from', 'spiffe://example.org/web', '--to', '10.1.2.3', '--port', '80', '--admin-socket', h.socketPath]);
    expect(denied.code).toBe(1);
    expect(denied.stdout).toContain('verdict: deny');
  });

  it('exits 1 with what to check when nothing listens on the socket', async () => {
    const missing = join(h.dir, 'state', 'nope.sock');
    const r = await tether(['events', '--admin-socket', missing]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`tether: cannot reach the agent's admin socket ${missing}: ENOENT (is \`tether agent run\` running?) (UNREACHABLE)\n`);
  });

  it('is refused to another user by the socket\'s mode: EACCES, "root-only"', async () => {
    // The directories are opened up so that only the socket's own 0600 stands in the way.
    chmodSync(h.dir, 0o755);
    chmodSync(join(h.dir, 'state'), 0o755);
    const r = await tether(['conns', '--admin-socket', h.socketPath], { uid: NOBODY, gid: NOBODY });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`tether: cannot reach the agent's admin socket ${h.socketPath}: EACCES (the admin socket is root-only) (UNREACHABLE)\n`);
  });
});
