import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../agent/kernel/index.js';
import { exited, waitFor } from './wait.js';

export const TETHER_BIN = join(packageRoot(), 'build', 'agent', 'cli', 'bin.js');
let started = 0; // agents started together get pin dirs of their own

/** Where and how an agent runs, beyond its flags. */
export interface AgentStartOptions {
  /** A network namespace under /run/netns (NetnsHosts' host.name): the agent runs inside it
   * (nsenter --net, which execs: the child's pid is the agent's). Its metrics port is then on that
   * namespace's loopback; its Unix sockets are reachable from anywhere. */
  readonly netns?: string;
}

/**
 * A real `tether agent run` for a test: its own state dir, socket, entries file and pin dir; no
 * policy and no --cgroup unless given in extraArgs, so it denies nothing. stop() ends it and
 * removes what it pinned.
 */
export class AgentProcess {
  readonly dir: string;
  readonly socket: string;
  readonly entries: string;
  readonly pinDir: string;
  /** Root-only admin API socket (the CLI's --admin-socket). */
  readonly adminSocket: string;
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';

  private constructor(dir: string, child: ChildProcess, pinDir: string) {
    this.dir = dir;
    this.socket = join(dir, 'agent.sock');
    this.entries = join(dir, 'entries.yaml');
    this.pinDir = pinDir;
    this.adminSocket = join(dir, 'admin.sock');
    this.child = child;
    child.stdout?.on('data', (b: Buffer) => { this.stdout += b.toString(); });
    child.stderr?.on('data', (b: Buffer) => { this.stderr += b.toString(); });
  }

  /** Starts an agent on `entriesYaml` and resolves once it serves. */
  static async start(
    entriesYaml: string, extraArgs: readonly string[] = [], startTimeoutMs = 30_000, options: AgentStartOptions = {},
  ): Promise<AgentProcess> {
    const dir = mkdtempSync(join(tmpdir(), 'tether-agent-'));
    chmodSync(dir, 0o755); // other uids reach the socket inside
    const { writeFileSync } = await import('node:fs');
    writeFileSync(join(dir, 'entries.yaml'), entriesYaml);
    const pinDir = `/sys/fs/bpf/tether-test-${process.pid}-${Date.now() % 100000}-${++started}`;
    const argv = [process.execPath, TETHER_BIN, 'agent', 'run', '--trust-domain', 'example.org', '--state-dir', join(dir, 'state'),
      '--socket', join(dir, 'agent.sock'), '--entries', join(dir, 'entries.yaml'), '--pin-dir', pinDir,
      '--admin-socket', join(dir, 'admin.sock'), '--metrics-addr', '127.0.0.1:0', ...extraArgs];
    const command = options.netns === undefined ? argv : ['nsenter', `--net=/run/netns/${options.netns}`, '--', ...argv];
    const child = spawn(command[0] as string, command.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    const agent = new AgentProcess(dir, child, pinDir);
    try {
      await waitFor('the agent to serve', () => agent.stdout.includes('serving the Workload API') || (child.exitCode !== null && (() => {
        throw new Error(`the agent exited: ${agent.stderr.slice(-500)}`);
      })()) || undefined, startTimeoutMs);
    } catch (err) {
      await agent.stop();
      throw err;
    }
    return agent;
  }

  /** The port /metrics is served on (the agent picks one: tests run agents side by side). */
  get metricsPort(): number {
    const m = /metrics port (\d+)/.exec(this.stdout);
    if (m === null) throw new Error(`the agent printed no metrics port: ${this.stdout}`);
    return Number(m[1]);
  }

  /** Runs the built CLI against this agent's admin socket. */
  cli(args: readonly string[]): { status: number | null; stdout: string; stderr: string } {
    const r = spawnSync(process.execPath, [TETHER_BIN, ...args, '--admin-socket', this.adminSocket], { encoding: 'utf8' });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  get address(): string {
    return `unix://${this.socket}`;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null) {
      this.child.kill('SIGTERM');
      await exited(this.child);
    }
    spawnSync(process.execPath, [TETHER_BIN, 'uninstall', '--pin-dir', this.pinDir]);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
