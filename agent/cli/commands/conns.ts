import type { Command } from 'commander';
import { withAdminClient, withAdminOptions, type AdminConnectOptions } from '../admin-connection.js';
import { outputOption, toJson, toTable, type OutputFormat } from '../output.js';

const COLUMNS = ['since', 'role', 'local', 'peer', 'localId', 'peerId'] as const;
const TUNNEL_COLUMNS = ['since', 'age', 'side', 'sourceId', 'destId', 'original', 'peer', 'mode', 'toDestination', 'fromDestination'] as const;

/** `tether conns`: the live TCP connections in the enforcement cgroup, from the running agent. */
export function register(program: Command): void {
  withAdminOptions(program.command('conns'))
    .description('the live TCP connections in the enforcement cgroup, each side with its identity')
    .addOption(outputOption())
    .addHelpText('after', '\nA connection between two local workloads shows twice: once as client, once as server.\n'
      + 'With the mesh on, the tunnels relaying now follow: each end\'s side (client: a local workload\'s connection out;\n'
      + 'server: in, to a local workload), both identities, the address the workload dialled, the other agent, the data\n'
      + 'path (ktls or userspace), bytes each way and age. JSON: {"connections": [...], "tunnels": [...]}.\n'
      + '\nExamples:\n  tether conns\n  tether conns -o json | jq \'.connections[] | select(.peerId == null)\'')
    .action((opts: AdminConnectOptions & { output: OutputFormat }) => withAdminClient(opts, async (client) => {
      const { connections, tunnels } = await client.connectionsAndTunnels();
      const now = Date.now();
      const withAge = tunnels.map((t) => ({ ...t, ageSeconds: Math.max(0, Math.round((now - Date.parse(t.since)) / 1000)) }));
      if (opts.output === 'json') {
        process.stdout.write(`${toJson({ connections, tunnels: withAge })}\n`);
        return;
      }
      process.stdout.write(`${toTable(connections.map((c) => ({ ...c })), COLUMNS)}\n`);
      if (tunnels.length > 0) {
        process.stdout.write(`\ntunnels:\n${toTable(withAge.map((t) => ({
          ...t, age: `${t.ageSeconds}s`, toDestination: t.bytesToDestination, fromDestination: t.bytesFromDestination,
        })), TUNNEL_COLUMNS)}\n`);
      }
    }));
}
