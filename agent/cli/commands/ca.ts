import type { Command } from 'commander';
import { LocalAuthority, type CaStatus } from '../../ca/index.js';
import { TrustDomain } from '../../spiffe/index.js';
import { UsageError } from '../exit-codes.js';
import { outputOption, toJson, toTable, type OutputFormat } from '../output.js';

const DEFAULT_STATE_DIR = '/var/lib/tether';
const stateDirOf = (flag: string | undefined): string => flag ?? process.env.TETHER_STATE_DIR ?? DEFAULT_STATE_DIR;

/**
 * `tether ca show|rotate`: the local CA in the agent's state dir. Until the admin API exists they
 * read the state dir directly; rotate refuses while an agent holds the state (ca.lock).
 */
export function register(program: Command): void {
  const ca = program.command('ca').description('the local signing authority');
  ca.command('show')
    .description('the CAs and JWT keys, their states and lifetimes (read only)')
    .option('--state-dir <dir>', `the agent's state dir (env TETHER_STATE_DIR; default ${DEFAULT_STATE_DIR})`)
    .addOption(outputOption())
    .action(async (opts: { stateDir?: string; output: OutputFormat }) => {
      const dir = stateDirOf(opts.stateDir);
      const status = await LocalAuthority.inspect(dir);
      if (status === undefined) throw new UsageError(`no CA in ${dir}: the agent creates one when it first starts`);
      process.stdout.write(`${opts.output === 'json' ? toJson(status) : describe(status)}\n`);
    });
  ca.command('rotate')
    .description('prepare and activate a new CA and JWT key now; the old ones stay in the bundle until their SVIDs expire')
    .option('--state-dir <dir>', `the agent's state dir (env TETHER_STATE_DIR; default ${DEFAULT_STATE_DIR})`)
    .addOption(outputOption())
    .addHelpText('after', '\nThe agent must be stopped (it holds <state-dir>/ca.lock while it runs).')
    .action(async (opts: { stateDir?: string; output: OutputFormat }) => {
      const dir = stateDirOf(opts.stateDir);
      const current = await LocalAuthority.inspect(dir);
      if (current === undefined) throw new UsageError(`no CA in ${dir}: the agent creates one when it first starts`);
      const authority = await LocalAuthority.open({ stateDir: dir, trustDomain: TrustDomain.parse(current.trustDomain), now: () => new Date() });
      try {
        const report = await authority.rotate();
        process.stdout.write(opts.output === 'json' ? `${toJson(report)}\n`
          : `X.509 CA: ${report.x509.previous ?? '-'} -> ${report.x509.active}\nJWT key:  ${report.jwt.previous ?? '-'} -> ${report.jwt.active}\n`);
      } finally {
        await authority.close();
      }
    });
}

function describe(s: CaStatus): string {
  const x509 = s.x509.map((a) => ({
    id: a.id, state: a.state, keyType: a.keyType, notAfter: a.notAfter.toISOString(),
    retireAt: a.retireAt?.toISOString() ?? null, root: a.root.fingerprintSha256.slice(0, 23),
    intermediate: a.intermediate ? a.intermediate.fingerprintSha256.slice(0, 23) : null,
  }));
  const jwt = s.jwt.map((k) => ({ kid: k.kid, state: k.state, alg: k.alg, notAfter: k.notAfter.toISOString(), retireAt: k.retireAt?.toISOString() ?? null }));
  return [`Trust domain: ${s.trustDomain}`, '', 'X.509 CAs:',
    toTable(x509, ['id', 'state', 'keyType', 'notAfter', 'retireAt', 'root', 'intermediate']), '', 'JWT keys:',
    toTable(jwt, ['kid', 'state', 'alg', 'notAfter', 'retireAt'])].join('\n');
}
