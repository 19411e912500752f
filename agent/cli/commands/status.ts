import type { Command } from 'commander';
import type { AgentStatus } from '../../admin/index.js';
import { formatDuration } from '../../registry/index.js';
import { withAdminClient, withAdminOptions, type AdminConnectOptions } from '../admin-connection.js';
import { outputOption, toJson, toTable, type OutputFormat } from '../output.js';

/** `tether status`: the running agent (version, uptime, sockets, metrics, kernel features, counts, policy). */
export function register(program: Command): void {
  withAdminOptions(program.command('status'))
    .description('the running agent: version, uptime, sockets, metrics address, kernel features and fallbacks, counts, policy, mesh')
    .addOption(outputOption())
    .addHelpText('after', '\nExamples:\n  tether status\n  tether status -o json | jq \'.features[] | select(.state != "available")\'')
    .action((opts: AdminConnectOptions & { output: OutputFormat }) => withAdminClient(opts, async (client) => {
      const status = await client.status();
      process.stdout.write(`${opts.output === 'json' ? toJson(status) : describeStatus(status)}\n`);
    }));
}

export function describeStatus(s: AgentStatus): string {
  const c = s.counts;
  const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;
  const fields: Array<[string, string]> = [
    ['Version', `${s.version} (pid ${s.pid})`],
    ['Uptime', `${formatDuration(Math.floor(s.uptimeSeconds))} (since ${s.startedAt})`],
    ['Trust domain', s.trustDomain],
    ['Workload API', `${s.workloadSocket}: ${plural(c.workloadConnections, 'connection')}, ${plural(c.workloadStreams, 'stream')} open`],
    ['Admin API', s.adminSocket],
    ['Metrics', s.metricsAddress],
    ['Processes', `${c.processes} tracked`],
    ['Entries', String(c.entries)],
    ['SVIDs cached', `${c.x509Svids} X.509, ${c.jwtSvids} JWT`],
    ['Policy', s.policy === null ? 'none (the agent runs without --policy)'
      : `${s.policy.mode}, ${plural(s.policy.rules, 'rule')} from ${s.policy.path} (${s.policy.kernelRules} in the kernel, generation `
        + `${s.policy.generation}); unidentified processes: ${s.policy.unidentified}; cgroup ${s.policy.cgroup}`],
    ['Mesh', s.mesh === null ? 'off'
      : `${s.mesh.mode} (${s.mesh.detail}); networks ${s.mesh.cidrs.join(', ')}; tunnel port ${s.mesh.port}, outbound ${s.mesh.outboundPort}; `
        + `inbound ${s.mesh.inbound}`],
  ];
  const width = Math.max(...fields.map(([name]) => name.length)) + 2;
  const features = s.features.map((f) => ({ ...f }));
  return [...fields.map(([name, value]) => `${`${name}:`.padEnd(width)}${value}`), '', 'Kernel features:',
    toTable(features, ['name', 'state', 'detail', 'fallback'])].join('\n');
}
