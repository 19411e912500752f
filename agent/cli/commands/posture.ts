import type { Command } from 'commander';
import type { PostureReport } from '../../admin/index.js';
import { withAdminClient, withAdminOptions, type AdminConnectOptions } from '../admin-connection.js';
import { outputOption, toJson, toTable, type OutputFormat } from '../output.js';
import { parsePid } from './entry.js';

const COLUMNS = ['spiffeId', 'check', 'verdict', 'evidence'] as const;

/**
 * `tether posture PID`: the running agent's posture checks on one process, for each entry its
 * selectors match that asks for any: every check with its verdict and what was seen. A report,
 * not a gate: it exits 0 whatever the verdicts (`tether entry match` shows them beside selectors).
 */
export function register(program: Command): void {
  withAdminOptions(program.command('posture'))
    .description('every posture check of the entries a process matches, with its verdict and the evidence')
    .argument('<pid>', 'a process id on this host')
    .addOption(outputOption())
    .addHelpText('after', '\nExamples:\n  tether posture 4242\n  tether posture --output json $(pidof nginx | cut -d" " -f1)')
    .action((pidText: string, opts: AdminConnectOptions & { output: OutputFormat }) => {
      const pid = parsePid(pidText);
      return withAdminClient(opts, async (client) => {
        const report = await client.posture(pid);
        process.stdout.write(`${opts.output === 'json' ? toJson(postureJson(report)) : postureTable(report)}\n`);
      });
    });
}

/** On the wire and in JSON a verdict is "pass" or "fail". */
function postureJson(r: PostureReport): unknown {
  return {
    pid: r.pid,
    entries: r.entries.map((e) => ({
      id: e.id, spiffeId: e.spiffeId, checks: e.checks.map((c) => ({ check: c.check, verdict: c.ok ? 'pass' : 'fail', evidence: c.evidence })),
    })),
  };
}

function postureTable(r: PostureReport): string {
  if (r.entries.length === 0) return `Process ${r.pid} matches no entry that asks for posture checks.`;
  const rows = r.entries.flatMap((e) => e.checks.map((c) => ({ spiffeId: e.spiffeId, check: c.check, verdict: c.ok ? 'pass' : 'FAIL', evidence: c.evidence })));
  return toTable(rows, COLUMNS);
}
