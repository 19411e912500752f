import type { Command } from 'commander';
import type { ProcessInfo } from '../../admin/index.js';
import { withAdminClient, withAdminOptions, type AdminConnectOptions } from '../admin-connection.js';
import { outputOption, toJson, toTable, type OutputFormat } from '../output.js';

const COLUMNS = ['pid', 'ppid', 'uid', 'gid', 'startTime', 'comm', 'exe', 'cgroup', 'containerId', 'podUid'] as const;

/** `tether ps`: every process on the host as the running agent's kernel tracker has it. */
export function register(program: Command): void {
  withAdminOptions(program.command('ps'))
    .description('list the processes the agent\'s kernel tracker sees, with their identity-relevant facts')
    .addOption(outputOption())
    .addHelpText('after', '\nExamples:\n  tether ps\n  tether ps --output json | jq \'.[] | select(.containerId != null)\'')
    .action((opts: AdminConnectOptions & { output: OutputFormat }) => withAdminClient(opts, async (client) => {
      const rows = await client.processes();
      process.stdout.write(`${opts.output === 'json' ? toJson(rows) : toTable(rows.map(tableRow), COLUMNS)}\n`);
    }));
}

function tableRow(p: ProcessInfo): Record<string, unknown> {
  return { ...p, containerId: p.containerId?.slice(0, 12) ?? null };
}
