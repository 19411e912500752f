import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { vi } from 'vitest';
import { AdminClient, AdminServer, type AdminServerOptions } from '../../agent/admin/index.js';
import { run } from '../../agent/cli/program.js';
import { FakeAdminBackend } from '../fakes/fake-admin-backend.js';
import { RecordingLog } from './workload-server.js';

export interface AdminHarness {
  readonly dir: string;
  readonly socketPath: string;
  readonly backend: FakeAdminBackend;
  readonly log: RecordingLog;
  readonly server: AdminServer;
  client(): AdminClient;
  close(): Promise<void>;
}

/** A real AdminServer on a real Unix socket in a fresh temp dir (state/admin.sock), over the fake. */
export async function startAdminServer(options: Partial<Pick<AdminServerOptions, 'maxBacklog'>> = {}): Promise<AdminHarness> {
  const dir = mkdtempSync(join(tmpdir(), 'tether-admin-'));
  const socketPath = join(dir, 'state', 'admin.sock');
  const backend = new FakeAdminBackend();
  const log = new RecordingLog();
  const server = new AdminServer({ socketPath, backend, log, ...options });
  await server.start();
  const clients: AdminClient[] = [];
  return {
    dir, socketPath, backend, log, server,
    client: () => {
      const c = new AdminClient(socketPath, { timeoutMs: 5000 });
      clients.push(c);
      return c;
    },
    close: async () => {
      for (const c of clients) c.close();
      await server.close(1000);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `tether ...args` in this process (the CLI's run(), stdout and stderr captured). */
export async function runCli(args: readonly string[]): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => { stdout += String(chunk); return true; });
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => { stderr += String(chunk); return true; });
  try {
    const code = await run(['node', 'tether', ...args]);
    return { code, stdout, stderr };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}

/** `tether ...args --admin-socket <the harness's socket>`. */
export function tetherAdmin(h: AdminHarness, ...args: string[]): Promise<CliResult> {
  return runCli([...args, '--admin-socket', h.socketPath]);
}
