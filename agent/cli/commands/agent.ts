import type { Command } from 'commander';

/**
 * `tether agent run`: hands over to daemon/, the composition root. This is the one place the CLI
 * reaches daemon/, lazily, so other commands never load the agent's modules.
 */
export function register(program: Command): void {
  const agent = program.command('agent').description('the per-host agent');
  agent.command('run')
    .description('run the agent in the foreground until SIGTERM')
    .option('--config <file>', 'YAML config file (env TETHER_CONFIG); flags override it')
    .option('--trust-domain <name>', 'trust domain of every SVID (env TETHER_TRUST_DOMAIN; default example.org, with a warning)')
    .option('--state-dir <dir>', 'keys, registry and the admin socket (env TETHER_STATE_DIR; default /var/lib/tether)')
    .option('--socket <path>', 'the Workload API socket (default <state-dir>/public/agent.sock); clients use SPIFFE_ENDPOINT_SOCKET=unix://<path>')
    .option('--entries <file>', 'registration entries, YAML, watched (env TETHER_ENTRIES; default <state-dir>/entries.yaml)')
    .option('--policy <file>', 'connection policy, YAML, watched (env TETHER_POLICY; default none: nothing enforced)')
    .option('--pin-dir <dir>', 'where BPF programs, links and maps are pinned (env TETHER_PIN_DIR; default /sys/fs/bpf/tether)')
    .option('--cgroup <dir>', 'cgroup v2 directory cgroup programs attach to (env TETHER_CGROUP; default the v2 mount root)')
    .option('--admin-socket <path>', 'the admin API socket, root-only (env TETHER_ADMIN_SOCKET; default <state-dir>/admin.sock)')
    .option('--metrics-addr <host:port>', 'Prometheus metrics at /metrics (env TETHER_METRICS_ADDR; default 127.0.0.1:9811; "off" for none)')
    .option('--log-level <level>', 'fatal|error|warn|info|debug|trace (default info)')
    .option('--no-exit-with-parent', 'keep running when the process that started the agent exits (default: stop with it)')
    .addHelpText('after', '\nExamples:\n  tether agent run --trust-domain prod.example.com --state-dir /var/lib/tether\n  tether agent run --cgroup /sys/fs/cgroup/workloads --pin-dir /sys/fs/bpf/tether-test')
    .action(async (raw: Record<string, string | boolean | undefined>) => {
      const { loadConfig, runAgent } = await import('../../daemon/index.js');
      // commander sets exitWithParent: true unless --no-exit-with-parent: only a "no" is a flag given
      const flags = { ...raw, exitWithParent: raw.exitWithParent === false ? false : undefined };
      await runAgent(loadConfig(flags), () => loadConfig(flags));
    });
}
