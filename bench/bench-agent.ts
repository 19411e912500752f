/**
 * A real agent for the benches: `tether agent run` in a child process on a temp state dir, its
 * own socket, entries file and pin dir (tracepoints only, no --cgroup: it denies nothing), ready
 * when it prints its serving line. stop() sends SIGTERM, then `tether uninstall` of the pin dir.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const BIN = new URL('../agent/cli/bin.js', import.meta.url).pathname;
const READY = 'tether agent: serving the Workload API';
const TICKS_PER_SECOND = 100; // USER_HZ

export interface BenchEntry { readonly spiffeId: string; readonly selectors: readonly string[] }
interface LogLine { readonly level?: number; readonly msg?: string; readonly code?: string; readonly err?: { readonly message?: string } }

export class BenchAgent {
  readonly dir = mkdtempSync(join(tmpdir(), 'tether-bench-'));
  readonly socket = join(this.dir, 'agent.sock');
  readonly pinDir = `/sys/fs/bpf/tether-bench-${process.pid}`;
  readonly #log = join(this.dir, 'agent.log');
  #child: ChildProcess | undefined;

  get pid(): number {
    if (this.#child?.pid === undefined) throw new Error('the agent is not running');
    return this.#child.pid;
  }

  async start(trustDomain: string, entries: readonly BenchEntry[], timeoutMs = 30_000): Promise<void> {
    writeFileSync(join(this.dir, 'entries.yaml'), `entries:\n${entries.map((e) => `  - spiffeId: ${e.spiffeId}\n    selectors: ${JSON.stringify(e.selectors)}\n`).join('')}`);
    const log = openSync(this.#log, 'w');
    const args = ['agent', 'run', '--trust-domain', trustDomain, '--state-dir', join(this.dir, 'state'), '--socket', this.socket,
      '--entries', join(this.dir, 'entries.yaml'), '--pin-dir', this.pinDir];
    try {
      this.#child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', log] });
    } finally {
      closeSync(log);
    }
    await ready(this.#child, timeoutMs).catch((err: unknown) => {
      throw new Error(`${String(err)}\n${readFileSync(this.#log, 'utf8').slice(-2000)}`);
    });
  }

  /** The agent's user+system CPU time so far, in ms (clock ticks). */
  cpuMs(): number {
    const fields = readFileSync(`/proc/${this.pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND; // utime, stime
  }

  openFilesLimit(): string {
    return /^Max open files\s+(\S+)/m.exec(readFileSync(`/proc/${this.pid}/limits`, 'utf8'))?.[1] ?? '?';
  }

  /** The agent's warnings and errors so far, by message (numbers as N). */
  complaints(): Map<string, number> {
    const out = new Map<string, number>();
    for (const line of readFileSync(this.#log, 'utf8').split('\n')) {
      if (!line.startsWith('{')) continue;
      const { level, msg, code, err } = JSON.parse(line) as LogLine;
      const key = [msg ?? line, code, err?.message?.replace(/\d+/g, 'N')].filter((p) => p !== undefined).join(': ');
      if ((level ?? 0) >= 40) out.set(key, (out.get(key) ?? 0) + 1);
    }
    return out;
  }

  async stop(): Promise<void> {
    const child = this.#child;
    if (child !== undefined && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    const r = spawnSync(process.execPath, [BIN, 'uninstall', '--pin-dir', this.pinDir], { encoding: 'utf8' });
    if (r.status !== 0) console.error(`tether uninstall --pin-dir ${this.pinDir}: ${r.stderr}`);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function ready(child: ChildProcess, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`the agent was not serving after ${timeoutMs} ms`)), timeoutMs);
    const done = (err?: Error): void => {
      clearTimeout(timer);
      child.stdout?.removeAllListeners('data').resume(); // keep draining what it prints later
      if (err === undefined) resolve();
      else reject(err);
    };
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      if (out.split('\n').some((l) => l.startsWith(READY))) done();
    });
    child.once('exit', (code, signal) => done(new Error(`the agent exited with ${code ?? signal} before serving`)));
    child.once('error', (err) => done(err));
  });
}
