import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Option, type Command } from 'commander';
import type { X509Bundle } from '../../spiffe/index.js';
import { WorkloadClient, WorkloadError, type X509Context } from '../../workload/index.js';
import { ReportedFailure, UsageError } from '../exit-codes.js';
import { outputOption, toJson, type OutputFormat } from '../output.js';

const DEFAULT_STATE_DIR = '/var/lib/tether';

interface ConnectOptions {
  readonly socket?: string;
  readonly stateDir?: string;
  readonly timeout: string;
  readonly output: OutputFormat;
}

/**
 * `tether api fetch|validate|watch`: the Workload API as any workload sees it (spire-agent api's
 * counterpart), from this process, which the agent attests like any other caller.
 */
export function register(program: Command): void {
  const api = program.command('api').description('call the SPIFFE Workload API as this process');
  const fetch = api.command('fetch').description('fetch SVIDs or bundles (default: x509)');
  registerFetchX509(fetch);
  registerFetchJwt(fetch);
  registerFetchBundle(fetch);
  registerValidate(api);
  registerWatch(api);
}

function registerFetchX509(fetch: Command): void {
  withConnect(fetch.command('x509', { isDefault: true }))
    .description('fetch this process\'s X509-SVIDs, keys and bundles')
    .option('--write <dir>', 'write svid.N.pem, svid.N.key (0600), bundle.N.pem, federated_bundle.N.M.pem into DIR')
    .addHelpText('after', '\nExamples:\n  tether api fetch x509\n  tether api fetch x509 --write /tmp/svids --socket /run/tether/public/agent.sock')
    .action((opts: ConnectOptions & { write?: string }) => withClient(opts, async (client) => {
      const started = performance.now();
      const context = await client.fetchX509();
      const elapsedMs = performance.now() - started;
      if (opts.write !== undefined) writeX509(resolve(opts.write), context);
      print(opts, { elapsedMs, ...x509Json(context) }, () => describeX509(context, elapsedMs));
    }));
}

function registerFetchJwt(fetch: Command): void {
  withConnect(fetch.command('jwt'))
    .description('fetch JWT-SVIDs for an audience')
    .requiredOption('--audience <a,b>', 'the audiences, comma-separated')
    .option('--spiffe-id <id>', 'only the JWT-SVID of this SPIFFE ID')
    .addHelpText('after', '\nExamples:\n  tether api fetch jwt --audience db\n  tether api fetch jwt --audience db,cache --spiffe-id spiffe://example.org/web -o json')
    .action((opts: ConnectOptions & { audience: string; spiffeId?: string }) => withClient(opts, async (client) => {
      const svids = await client.fetchJwt(opts.audience.split(',').map((a) => a.trim()), opts.spiffeId);
      const rows = svids.map((s) => ({ spiffeId: s.spiffeId.toString(), hint: s.hint, token: s.token }));
      print(opts, rows, () => rows.map((r) => `token(${r.spiffeId})${r.hint ? ` hint ${r.hint}` : ''}:\n\t${r.token}`).join('\n'));
    }));
}

function registerFetchBundle(fetch: Command): void {
  withConnect(fetch.command('bundle'))
    .description('fetch the X.509 and JWT bundles')
    .action((opts: ConnectOptions) => withClient(opts, async (client) => {
      const [x509, jwt] = await Promise.all([client.fetchX509Bundles(), client.fetchJwtBundles()]);
      const json = {
        x509: Object.fromEntries([...x509].map(([td, b]) => [td, b.toPem()])),
        jwt: Object.fromEntries([...jwt].map(([td, b]) => [td, JSON.parse(b.toJwks()) as unknown])),
      };
      print(opts, json, () => [
        ...[...x509].flatMap(([td, b]) => [`X.509 bundle ${td}: ${b.size} authorit${b.size === 1 ? 'y' : 'ies'}`, ...validity(b, '  CA')]),
        ...[...jwt].map(([td, b]) => `JWT bundle ${td}: keys ${b.kids().join(', ') || '(none)'}`),
      ].join('\n'));
    }));
}

function registerValidate(api: Command): void {
  withConnect(api.command('validate'))
    .description('validate a JWT-SVID for an audience; exits 1 when it is not valid')
    .argument('<token>', 'the JWT-SVID (compact JWS)')
    .requiredOption('--audience <aud>', 'the audience the token must carry')
    .addHelpText('after', '\nExample:\n  tether api validate --audience db "$(cat token.jwt)"')
    .action((token: string, opts: ConnectOptions & { audience: string }) => withClient(opts, async (client) => {
      try {
        const { spiffeId, claims } = await client.validate(token, opts.audience);
        print(opts, { valid: true, spiffeId: spiffeId.toString(), claims },
          () => `SVID is valid.\nSPIFFE ID : ${spiffeId}\nClaims    : ${JSON.stringify(claims)}`);
      } catch (err) {
        if (!(err instanceof WorkloadError && err.status === 'INVALID_ARGUMENT')) throw err;
        print(opts, { valid: false, error: err.details }, () => `SVID is not valid: ${err.details ?? err.message}`);
        throw new ReportedFailure('invalid JWT-SVID');
      }
    }));
}

/** Until interrupted: Ctrl-C ends the process (signals are the daemon's to handle, not a command's). */
function registerWatch(api: Command): void {
  withConnect(api.command('watch'))
    .description('print every X509-SVID update until interrupted')
    .addHelpText('after', '\nExample:\n  tether api watch -o json')
    .action((opts: ConnectOptions) => withClient(opts, async (client) => {
      let last = performance.now();
      await client.watchX509((context) => {
        const now = performance.now();
        print(opts, { elapsedMs: now - last, ...x509Json(context) }, () => describeX509(context, now - last));
        last = now;
      }, new AbortController().signal);
    }));
}

function withConnect(command: Command): Command {
  return command
    .option('--socket <path>', 'the Workload API socket (else SPIFFE_ENDPOINT_SOCKET, else <state-dir>/public/agent.sock)')
    .option('--state-dir <dir>', `the agent's state dir (env TETHER_STATE_DIR; default ${DEFAULT_STATE_DIR})`)
    .addOption(new Option('--timeout <ms>', 'deadline of each call').default('5000'))
    .addOption(outputOption());
}

/** --socket, --state-dir, SPIFFE_ENDPOINT_SOCKET, TETHER_STATE_DIR, the default: flags before env. */
export function endpointAddress(opts: { socket?: string; stateDir?: string }, env: NodeJS.ProcessEnv = process.env): string {
  if (opts.socket !== undefined) return unixAddress(opts.socket);
  if (opts.stateDir !== undefined) return unixAddress(join(opts.stateDir, 'public', 'agent.sock'));
  if (env.SPIFFE_ENDPOINT_SOCKET) return env.SPIFFE_ENDPOINT_SOCKET;
  return unixAddress(join(env.TETHER_STATE_DIR ?? DEFAULT_STATE_DIR, 'public', 'agent.sock'));
}

/** A path as a unix:// URI: absolute, each segment percent-encoded (the parser decodes them). */
function unixAddress(path: string): string {
  return `unix://${resolve(path).split('/').map(encodeURIComponent).join('/')}`;
}

async function withClient(opts: ConnectOptions, use: (client: WorkloadClient) => Promise<void>): Promise<void> {
  const timeoutMs = Number(opts.timeout);
  if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) throw new UsageError(`--timeout must be a positive number of ms: got ${opts.timeout}`);
  let client: WorkloadClient;
  try {
    client = new WorkloadClient({ address: endpointAddress(opts), timeoutMs });
  } catch (err) {
    if (err instanceof WorkloadError && err.code === 'BAD_ADDRESS') throw new UsageError(err.message, { cause: err });
    throw err;
  }
  try {
    await use(client);
  } finally {
    client.close();
  }
}

function print(opts: { output: OutputFormat }, json: unknown, table: () => string): void {
  process.stdout.write(`${opts.output === 'json' ? toJson(json) : table()}\n`);
}

function x509Json(context: X509Context): Record<string, unknown> {
  return {
    svids: context.svids.map((s) => {
      const leaf = new X509Certificate(s.chain[0] as Buffer);
      return { spiffeId: s.spiffeId.toString(), hint: s.hint, notBefore: iso(leaf.validFrom), notAfter: iso(leaf.validTo),
        chain: s.chain.length, bundleAuthorities: s.bundle.size };
    }),
    federatedBundles: Object.fromEntries([...context.federatedBundles].map(([td, b]) => [td, b.size])),
  };
}

function describeX509(context: X509Context, elapsedMs: number): string {
  const n = context.svids.length;
  const lines = [`Received ${n} svid${n === 1 ? '' : 's'} after ${elapsedMs.toFixed(3)}ms`];
  for (const s of context.svids) {
    const [leaf, ...intermediates] = s.chain.map((der) => new X509Certificate(der));
    lines.push('', `SPIFFE ID:\t\t${s.spiffeId}`, `Hint:\t\t\t${s.hint || '-'}`,
      `SVID Valid After:\t${iso(leaf?.validFrom)}`, `SVID Valid Until:\t${iso(leaf?.validTo)}`);
    intermediates.forEach((c, i) => lines.push(`Intermediate #${i + 1} Valid After:\t${iso(c.validFrom)}`, `Intermediate #${i + 1} Valid Until:\t${iso(c.validTo)}`));
    lines.push(...validity(s.bundle, 'CA'));
    for (const [td, b] of context.federatedBundles) lines.push(...validity(b, `[${td}] CA`));
  }
  return lines.join('\n');
}

function validity(bundle: X509Bundle, label: string): string[] {
  return bundle.certificates().flatMap((c, i) => [`${label} #${i + 1} Valid After:\t${iso(c.validFrom)}`, `${label} #${i + 1} Valid Until:\t${iso(c.validTo)}`]);
}

function iso(date: string | undefined): string {
  return date === undefined ? '-' : new Date(date).toISOString();
}

/** spire-agent's layout: per SVID N its chain, key (0600) and bundle; per federated bundle M. */
function writeX509(dir: string, context: X509Context): void {
  mkdirSync(dir, { recursive: true });
  const federated = [...context.federatedBundles.values()];
  context.svids.forEach((s, n) => {
    write(join(dir, `svid.${n}.pem`), s.chain.map(pem).join(''), 0o644);
    const key = createPrivateKey({ key: s.privateKeyPkcs8, format: 'der', type: 'pkcs8' });
    write(join(dir, `svid.${n}.key`), key.export({ type: 'pkcs8', format: 'pem' }).toString(), 0o600);
    write(join(dir, `bundle.${n}.pem`), s.bundle.toPem(), 0o644);
    federated.forEach((b, m) => write(join(dir, `federated_bundle.${n}.${m}.pem`), b.toPem(), 0o644));
  });
}

/** A fresh file: created with its mode, so a key is never readable by others, even briefly. */
function write(path: string, text: string, mode: number): void {
  rmSync(path, { force: true });
  writeFileSync(path, text, { mode, flag: 'wx' });
}

function pem(der: Buffer): string {
  return `-----BEGIN CERTIFICATE-----\n${(der.toString('base64').match(/.{1,64}/g) ?? []).join('\n')}\n-----END CERTIFICATE-----\n`;
}
