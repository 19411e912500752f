import { Command, CommanderError } from 'commander';
import { tetherVersion } from '../admin/index.js';
import { EXIT, ReportedFailure, UsageError, describeError } from './exit-codes.js';
import * as agent from './commands/agent.js';
import * as api from './commands/api.js';
import * as ca from './commands/ca.js';
import * as conns from './commands/conns.js';
import * as entry from './commands/entry.js';
import * as events from './commands/events.js';
import * as healthcheck from './commands/healthcheck.js';
import * as id from './commands/id.js';
import * as policy from './commands/policy.js';
import * as profile from './commands/profile.js';
import * as quarantine from './commands/quarantine.js';
import * as posture from './commands/posture.js';
import * as ps from './commands/ps.js';
import * as status from './commands/status.js';
import * as svid from './commands/svid.js';
import * as uninstall from './commands/uninstall.js';

/** The `tether` command tree; each group registers itself from cli/commands/. */
export function buildProgram(): Command {
  const program = new Command('tether')
    .description('Tether: kernel-attested SPIFFE workload identities, bound to every connection')
    .version(tetherVersion())
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)');
  agent.register(program);
  api.register(program);
  ca.register(program);
  conns.register(program);
  entry.register(program);
  events.register(program);
  healthcheck.register(program);
  id.register(program);
  policy.register(program);
  profile.register(program);
  quarantine.register(program);
  posture.register(program);
  ps.register(program);
  status.register(program);
  svid.register(program);
  uninstall.register(program);
  return program;
}

/** Runs the CLI and returns the exit code: 0 done, 1 failed, 2 bad usage. */
export async function run(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync([...argv]);
    return EXIT.OK;
  } catch (err) {
    if (err instanceof CommanderError) {
      // help and version exit through here with code 0; commander already printed the usage error
      return err.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
    }
    if (err instanceof ReportedFailure) return EXIT.FAILED;
    process.stderr.write(`tether: ${describeError(err)}\n`);
    return err instanceof UsageError ? EXIT.USAGE : EXIT.FAILED;
  }
}
