import type { Command } from 'commander';
import { withAdminClient, withAdminOptions, type AdminConnectOptions } from '../admin-connection.js';
import { outputOption, toJson, toTable, type OutputFormat } from '../output.js';

const COLUMNS = ['since', 'role', 'local', 'peer', 'localId', 'peerId'] as const;

/** `tether conns`: the live TCP connections in the enforcement cgroup, from the running agent. */
export function register(program: Command): void {
  withAdminOptions(program.command('conns'))
    .description('the live TCP connections in the enforcement cgroup, each side with its identity')
    .addOption(outputOption())
    .addHelpText('after', '\nA connection between two local workloads shows twice: once as client, once as server.\n'
      + '\nExamples:\n  tether conns\n  tether conns -o json | jq \'.[] | select(.peerId == null)\'')
    .action((opts: AdminConnectOptions & { output: OutputFormat }) => withAdminClient(opts, async (client) => {
      const conns = await client.connections();
      process.stdout.write(`${opts.output === 'json' ? toJson(conns) : toTable(conns.map((c) => ({ ...c })), COLUMNS)}\n`);
    }));
}
