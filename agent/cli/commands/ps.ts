import type { Command } from 'commander';
import { hostTracker, type ProcessInfo } from '../../attest/index.js';
import { outputOption, toJson, toTable, type OutputFormat } from '../output.js';

const COLUMNS = ['pid', 'ppid', 'uid', 'gid', 'startTime', 'comm', 'exe', 'cgroup', 'containerId', 'podUid'] as const;

/**
 * `tether ps`: every process on the host as the kernel tracks it. Until the admin API exists it
 * loads the tracker in-process (root): the tracepoints, a /proc scan, the events since.
 */
export function register(program: Command): void {
  program.command('ps')
    .description('list the processes the kernel tracker sees, with their identity-relevant facts')
    .addOption(outputOption())
    .addHelpText('after', '\nExamples:\n  tether ps\n  tether ps --output json | jq \'.[] | select(.containerId != null)\'')
    .action((opts: { output: OutputFormat }) => {
      const rows = snapshot();
      process.stdout.write(`${opts.output === 'json' ? toJson(rows) : toTable(rows.map(tableRow), COLUMNS)}\n`);
    });
}

function snapshot(): ProcessInfo[] {
  const { tracker, describer } = hostTracker();
  tracker.start();
  try {
    tracker.sync();
    return describer.all();
  } finally {
    tracker.stop();
  }
}

function tableRow(p: ProcessInfo): Record<string, unknown> {
  return { ...p, containerId: p.containerId?.slice(0, 12) ?? null };
}
