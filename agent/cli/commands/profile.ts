import type { Command } from 'commander';
import { PROFILE_MODES, type ProfileMode } from '../../admin/index.js';
import { withAdminClient, withAdminOptions, type AdminConnectOptions } from '../admin-connection.js';
import { UsageError } from '../exit-codes.js';
import { outputOption, toJson, toTable, type OutputFormat } from '../output.js';

const DIFF_COLUMNS = ['seq', 'time', 'mode', 'what', 'pid', 'lineage', 'quarantined'] as const;

type Opts = AdminConnectOptions & { output: OutputFormat };

/** `tether profile show|diff|mode|accept`: behaviour profiles, from the running agent. */
export function register(program: Command): void {
  const group = program.command('profile')
    .description('behaviour profiles: what each identity\'s processes exec, where they connect, the ports they listen on')
    .addHelpText('after', '\nProfiles are YAML files in <state-dir>/profiles (profiles.dir), one per identity: review and commit them.\n'
      + 'Modes: learn (build the profile over profiles.learnWindow, 24 h by default), monitor (each deviation is an event:\n'
      + '`tether events`, tether_profile_deviations_total, a log line), enforce (an exec outside the profile is killed before it\n'
      + 'runs and its parent quarantined: `tether quarantine list|release`). Only in the enforcement cgroup (--cgroup).');
  withAdminOptions(group.command('show <spiffe-id>'))
    .description('the identity\'s profile as its file has it')
    .addOption(outputOption())
    .addHelpText('after', '\nExample:\n  tether profile show spiffe://example.org/web')
    .action((id: string, opts: Opts) => withAdminClient(opts, async (client) => {
      const p = await client.profile(id);
      process.stdout.write(opts.output === 'json' ? `${toJson(p)}\n` : p.yaml);
    }));
  withAdminOptions(group.command('diff <spiffe-id>'))
    .description('what happened outside the profile since the agent started: each deviation with its number (for accept)')
    .addOption(outputOption())
    .addHelpText('after', '\nExample:\n  tether profile diff spiffe://example.org/web')
    .action((id: string, opts: Opts) => withAdminClient(opts, async (client) => {
      const deviations = await client.profileDiff(id);
      process.stdout.write(opts.output === 'json' ? `${toJson(deviations)}\n` : `${toTable(deviations.map((d) => ({ ...d })), DIFF_COLUMNS)}\n`);
    }));
  withAdminOptions(group.command('mode <spiffe-id> <mode>'))
    .description('switch the identity to learn, monitor or enforce (learn starts a new window, and makes a profile for an identity without one)')
    .addOption(outputOption())
    .addHelpText('after', '\nExamples:\n  tether profile mode spiffe://example.org/web learn\n  tether profile mode spiffe://example.org/web enforce')
    .action((id: string, mode: string, opts: Opts) => withAdminClient(opts, async (client) => {
      const p = await client.setProfileMode(id, modeOf(mode));
      process.stdout.write(opts.output === 'json' ? `${toJson(p)}\n` : `${p.spiffeId}: ${p.mode}\n`);
    }));
  withAdminOptions(group.command('accept <spiffe-id> <event>'))
    .description('add one deviation (its number in `tether profile diff`) to the profile')
    .addOption(outputOption())
    .addHelpText('after', '\nExample:\n  tether profile accept spiffe://example.org/web 3')
    .action((id: string, event: string, opts: Opts) => withAdminClient(opts, async (client) => {
      const seq = Number(event);
      if (!Number.isSafeInteger(seq) || seq < 1) throw new UsageError(`event: ${event} is not a deviation number (see \`tether profile diff\`)`);
      const p = await client.acceptDeviation(id, seq);
      process.stdout.write(opts.output === 'json' ? `${toJson(p)}\n` : `${p.spiffeId}: deviation ${seq} added to the profile\n`);
    }));
}

function modeOf(text: string): ProfileMode {
  const mode = PROFILE_MODES.find((m) => m === text);
  if (mode === undefined) throw new UsageError(`mode: ${JSON.stringify(text)} is not learn, monitor or enforce`);
  return mode;
}
