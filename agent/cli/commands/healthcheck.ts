import type { Command } from 'commander';
import { AdminClient } from '../../admin/index.js';
import { adminSocketPath, withAdminOptions, type AdminConnectOptions } from '../admin-connection.js';
import { describeError } from '../exit-codes.js';
import { outputOption, toJson, type OutputFormat } from '../output.js';

/** How long the agent has to answer: a liveness probe's own timeout is usually a few seconds more. */
export const HEALTHCHECK_DEADLINE_MS = 2000;

/**
 * `tether healthcheck`: for liveness probes. Exit 0 when the agent answers Status on its admin
 * socket within HEALTHCHECK_DEADLINE_MS (quiet, unless -o json), else exit 1 with one line saying
 * why. Only the answer counts: what the agent reports in it (a missing kernel feature) does not.
 */
export function register(program: Command): void {
  withAdminOptions(program.command('healthcheck'))
    .description(`exit 0 when the agent answers on its admin socket within ${HEALTHCHECK_DEADLINE_MS / 1000} s, else 1 with one line why (liveness probes)`)
    .addOption(outputOption())
    .addHelpText('after', '\nQuiet on success unless -o json.\n\nExamples:\n  tether healthcheck\n  tether healthcheck --admin-socket /var/lib/tether/admin.sock -o json')
    .action(async (opts: AdminConnectOptions & { output: OutputFormat }) => {
      const socket = adminSocketPath(opts);
      const client = new AdminClient(socket, { timeoutMs: HEALTHCHECK_DEADLINE_MS });
      try {
        const s = await client.status();
        if (opts.output === 'json') {
          process.stdout.write(`${toJson({ healthy: true, socket, version: s.version, pid: s.pid, uptimeSeconds: s.uptimeSeconds })}\n`);
        }
      } catch (err) {
        const why = describeError(err).replace(/\s*\n\s*/g, ' ');
        if (opts.output === 'json') process.stdout.write(`${toJson({ healthy: false, socket, error: why })}\n`);
        throw new Error(`unhealthy: ${why}`, { cause: err });
      } finally {
        client.close();
      }
    });
}
