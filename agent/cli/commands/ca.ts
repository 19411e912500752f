import { performance } from 'node:perf_hooks';
import type { Command } from 'commander';
import type { CaStatus, RotationReport } from '../../admin/index.js';
import { adminSocketPath, withAdminClient, withAdminOptions, type AdminConnectOptions } from '../admin-connection.js';
import { outputOption, toJson, toTable, type OutputFormat } from '../output.js';
import { progress } from '../progress.js';

type CaOptions = AdminConnectOptions & { output: OutputFormat };

/**
 * `tether ca show|rotate`: the running agent's local CA. The agent holds the state (ca.lock), so
 * a rotation happens in the agent, which serves the new CA at once; the old ones stay in the
 * bundle until what they signed has expired.
 */
export function register(program: Command): void {
  const ca = program.command('ca').description('the running agent\'s signing authority (its own root, or its intermediate under ca.upstream)');
  withAdminOptions(ca.command('show'))
    .description('the CAs and JWT keys, their states and lifetimes (no key material)')
    .addOption(outputOption())
    .addHelpText('after', '\nExamples:\n  tether ca show\n  tether ca show -o json | jq \'.x509[] | select(.state == "active")\'')
    .action((opts: CaOptions) => withAdminClient(opts, async (client) => {
      const status = await client.caStatus();
      process.stdout.write(`${opts.output === 'json' ? toJson(status) : describe(status)}\n`);
    }));
  withAdminOptions(ca.command('rotate'))
    .description('prepare and activate a new CA and JWT key now; the old ones stay in the bundle until their SVIDs expire')
    .addOption(outputOption())
    .addHelpText('after', '\nOn a terminal, the steps are shown on stderr as they happen.\n\nExample:\n  tether ca rotate')
    .action((opts: CaOptions) => withAdminClient(opts, async (client) => {
      const step = progress();
      step(`asking the agent at ${adminSocketPath(opts)} to rotate its CA`);
      const before = await client.caStatus();
      step(`signing now: X.509 CA ${activeOf(before.x509)}, JWT key ${activeOf(before.jwt)}`);
      step('preparing and activating a new X.509 CA and JWT key');
      const started = performance.now();
      const report = await client.rotateCa();
      step(`done in ${Math.round(performance.now() - started)} ms; the old ones stay in the bundle until what they signed has expired`);
      process.stdout.write(`${opts.output === 'json' ? toJson(report) : describeRotation(report)}\n`);
    }));
}

function activeOf(slots: ReadonlyArray<{ readonly state: string; readonly id?: string; readonly kid?: string }>): string {
  const active = slots.find((s) => s.state === 'active');
  return active?.id ?? active?.kid ?? '-';
}

function describeRotation(r: RotationReport): string {
  return `X.509 CA: ${r.x509.previous ?? '-'} -> ${r.x509.active}\nJWT key:  ${r.jwt.previous ?? '-'} -> ${r.jwt.active}`;
}

function describe(s: CaStatus): string {
  const x509 = s.x509.map((a) => ({
    id: a.id, state: a.state, keyType: a.keyType, notAfter: a.notAfter.toISOString(),
    retireAt: a.retireAt?.toISOString() ?? null, root: a.root.fingerprintSha256.slice(0, 23),
    intermediate: a.intermediate ? a.intermediate.fingerprintSha256.slice(0, 23) : null,
  }));
  const jwt = s.jwt.map((k) => ({ kid: k.kid, state: k.state, alg: k.alg, notAfter: k.notAfter.toISOString(), retireAt: k.retireAt?.toISOString() ?? null }));
  const active = s.x509.find((a) => a.state === 'active');
  const mode = s.upstream === undefined
    ? ['Mode:         local (this agent\'s own root is its bundle)']
    : ['Mode:         upstream (the shared root is the bundle; this agent signs with its own intermediate)',
      `Upstream:     ${s.upstream.subject}`,
      `  sha256:     ${s.upstream.fingerprintSha256}`,
      `  expires:    ${s.upstream.notAfter.toISOString()}`,
      `Intermediate: ${active?.intermediate === undefined ? '-' : `${active.id}, expires ${active.intermediate.notAfter.toISOString()}`}`];
  return [`Trust domain: ${s.trustDomain}`, ...mode, '', 'X.509 CAs:',
    toTable(x509, ['id', 'state', 'keyType', 'notAfter', 'retireAt', 'root', 'intermediate']), '', 'JWT keys:',
    toTable(jwt, ['kid', 'state', 'alg', 'notAfter', 'retireAt'])].join('\n');
}
