import type { Command } from 'commander';
import { withAdminClient, withAdminOptions, type AdminConnectOptions } from '../admin-connection.js';
import { UsageError } from '../exit-codes.js';
import { outputOption, toJson, toTable, type OutputFormat } from '../output.js';

const COLUMNS = ['pid', 'comm', 'spiffeId', 'reason', 'since'] as const;

type Opts = AdminConnectOptions & { output: OutputFormat };

/** `tether quarantine list|release`: processes quarantined for deviating from their profile. */
export function register(program: Command): void {
  const group = program.command('quarantine')
    .description('processes quarantined for deviating from their identity\'s behaviour profile: their connects are refused in the\n'
      + 'kernel and the Workload API issues them nothing; other processes of the identity keep working');
  withAdminOptions(group.command('list'))
    .description('the quarantined processes')
    .addOption(outputOption())
    .addHelpText('after', '\nreason: exec (the kernel killed a child\'s exec outside the profile), connect (it connected outside the profile:\nrefused) or agent.\n\nExample:\n  tether quarantine list')
    .action((opts: Opts) => withAdminClient(opts, async (client) => {
      const list = await client.quarantined();
      process.stdout.write(opts.output === 'json' ? `${toJson(list)}\n` : `${toTable(list.map((q) => ({ ...q })), COLUMNS)}\n`);
    }));
  withAdminOptions(group.command('release <pid>'))
    .description('end a process\'s quarantine: its connects and Workload API calls work again')
    .addOption(outputOption())
    .addHelpText('after', '\nExample:\n  tether quarantine release 4242')
    .action((pidText: string, opts: Opts) => withAdminClient(opts, async (client) => {
      const pid = Number(pidText);
      if (!Number.isInteger(pid) || pid < 1) throw new UsageError(`pid: ${pidText} is not a process id`);
      const q = await client.releaseQuarantine(pid);
      process.stdout.write(opts.output === 'json' ? `${toJson(q)}\n` : `released ${q.pid} (${q.comm || '?'}, ${q.spiffeId ?? '-'})\n`);
    }));
}
