import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { AdminClient, AdminError } from '../admin/index.js';
import { UsageError } from './exit-codes.js';

const DEFAULT_STATE_DIR = '/var/lib/tether';

/** The flags every command on the admin API takes. */
export interface AdminConnectOptions {
  readonly adminSocket?: string;
  readonly stateDir?: string;
}

/** `--admin-socket` and `--state-dir`, on every command that asks the running agent. */
export function withAdminOptions(command: Command): Command {
  return command
    .option('--admin-socket <path>', 'the agent\'s admin socket (env TETHER_ADMIN_SOCKET; default <state-dir>/admin.sock)')
    .option('--state-dir <dir>', `the agent's state dir (env TETHER_STATE_DIR; default ${DEFAULT_STATE_DIR})`);
}

/** --admin-socket, --state-dir, TETHER_ADMIN_SOCKET, TETHER_STATE_DIR, the default: flags before
 * env, as `tether api` finds its socket; an environment variable set to "" counts as unset. */
export function adminSocketPath(opts: AdminConnectOptions, env: NodeJS.ProcessEnv = process.env): string {
  if (opts.adminSocket !== undefined) return resolve(opts.adminSocket);
  if (opts.stateDir !== undefined) return join(resolve(opts.stateDir), 'admin.sock');
  if (env.TETHER_ADMIN_SOCKET) return resolve(env.TETHER_ADMIN_SOCKET);
  return join(resolve(env.TETHER_STATE_DIR || DEFAULT_STATE_DIR), 'admin.sock');
}

/** Runs `use` with a client on the admin socket, then closes it. A request the agent refused as
 * malformed (BAD_REQUEST) is the caller's usage error: exit 2, with the agent's words. */
export async function withAdminClient(opts: AdminConnectOptions, use: (client: AdminClient) => Promise<void>): Promise<void> {
  const client = new AdminClient(adminSocketPath(opts));
  try {
    await use(client);
  } catch (err) {
    if (err instanceof AdminError && err.code === 'BAD_REQUEST') throw new UsageError(err.message, { cause: err });
    throw err;
  } finally {
    client.close();
  }
}
