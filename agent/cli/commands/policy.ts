import { readFileSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { MAX_POLICY_BYTES, type PolicyApplied, type PolicyDecision } from '../../admin/index.js';
import { SpiffeError, SpiffeId } from '../../spiffe/index.js';
import { withAdminClient, withAdminOptions, type AdminConnectOptions } from '../admin-connection.js';
import { ReportedFailure, UsageError } from '../exit-codes.js';
import { outputOption, toJson, toTable, type OutputFormat } from '../output.js';

interface CheckOptions extends AdminConnectOptions {
  readonly from: string;
  readonly to: string;
  readonly port: string;
  readonly output: OutputFormat;
}

/**
 * `tether policy check|apply|suggest|unused`: the connection policy the running agent enforces
 * (it must run with --policy). Arguments are checked here (exit 2) before the agent is asked.
 */
export function register(program: Command): void {
  const policy = program.command('policy').description('the connection policy the running agent enforces');
  registerCheck(policy);
  registerApply(policy);
  registerSuggest(policy);
  registerUnused(policy);
}

function registerCheck(policy: Command): void {
  withAdminOptions(policy.command('check'))
    .description('what the kernel would decide now for one connect(); exits 1 when it would be denied')
    .requiredOption('--from <id>', 'the caller\'s SPIFFE ID')
    .requiredOption('--to <id|ip>', 'the destination: a SPIFFE ID (a local listener) or an IP address')
    .requiredOption('--port <n>', 'the destination port (1-65535)')
    .addOption(outputOption())
    .addHelpText('after', '\nExamples:\n  tether policy check --from spiffe://example.org/web --to spiffe://example.org/db --port 5432\n'
      + '  tether policy check --from spiffe://example.org/web --to 10.0.0.7 --port 443 -o json')
    .action((opts: CheckOptions) => {
      const request = { from: spiffeId(opts.from, '--from'), to: destination(opts.to), port: port(opts.port) };
      return withAdminClient(opts, async (client) => {
        const decision = await client.checkPolicy(request);
        process.stdout.write(`${opts.output === 'json' ? toJson(decision) : describeDecision(decision)}\n`);
        if (decision.verdict === 'deny') throw new ReportedFailure('denied');
      });
    });
}

function registerApply(policy: Command): void {
  withAdminOptions(policy.command('apply'))
    .description('validate a policy file, write it to the agent\'s --policy file and switch the kernel to it')
    .argument('<file>', 'the policy, YAML')
    .addOption(outputOption())
    .addHelpText('after', '\nA bad policy is refused whole (nothing changes): the agent\'s message names each line and reason, exit 1.\n'
      + '\nExample:\n  tether policy apply ./policy.yaml')
    .action((file: string, opts: AdminConnectOptions & { output: OutputFormat }) => {
      const yaml = readPolicy(file);
      return withAdminClient(opts, async (client) => {
        const applied = await client.applyPolicy(yaml);
        process.stdout.write(`${opts.output === 'json' ? toJson(applied) : describeApplied(applied)}\n`);
      });
    });
}

function registerSuggest(policy: Command): void {
  withAdminOptions(policy.command('suggest'))
    .description('the least-privilege policy that allows exactly the connections the agent has observed')
    .option('--out <file>', 'write it to FILE instead of printing it')
    .addOption(outputOption())
    .addHelpText('after', '\nThe table format is the YAML itself; -o json wraps it: {"yaml": ...} (with --out: {"path": ...}).\n'
      + '\nExamples:\n  tether policy suggest\n  tether policy suggest --out ./policy.yaml && tether policy apply ./policy.yaml')
    .action((opts: AdminConnectOptions & { out?: string; output: OutputFormat }) => withAdminClient(opts, async (client) => {
      const text = withNewline(await client.suggestPolicy());
      if (opts.out === undefined) {
        process.stdout.write(opts.output === 'json' ? `${toJson({ yaml: text })}\n` : text);
        return;
      }
      const path = resolve(opts.out);
      writeFileSync(path, text, { mode: 0o644 });
      process.stdout.write(opts.output === 'json' ? `${toJson({ path })}\n` : `wrote the suggested policy to ${path}\n`);
    }));
}

function registerUnused(policy: Command): void {
  withAdminOptions(policy.command('unused'))
    .description('the policy\'s rules that no observed connection has used')
    .addOption(outputOption())
    .addHelpText('after', '\nExamples:\n  tether policy unused\n  tether policy unused -o json')
    .action((opts: AdminConnectOptions & { output: OutputFormat }) => withAdminClient(opts, async (client) => {
      const rules = await client.unusedRules();
      process.stdout.write(`${opts.output === 'json' ? toJson(rules) : toTable(rules.map((r) => ({ ...r })), ['line', 'from', 'to', 'ports'])}\n`);
    }));
}

function spiffeId(text: string, flag: string): string {
  try {
    return SpiffeId.parse(text).toString();
  } catch (err) {
    if (err instanceof SpiffeError) throw new UsageError(`${flag} must be a SPIFFE ID: ${err.message}`, { cause: err });
    throw err;
  }
}

function destination(text: string): string {
  if (text.startsWith('spiffe://')) return spiffeId(text, '--to');
  if (isIP(text) === 0) throw new UsageError(`--to must be a SPIFFE ID or an IP address: got ${JSON.stringify(text)}`);
  return text;
}

function port(text: string): number {
  const n = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new UsageError(`--port must be 1-65535: got ${text}`);
  return n;
}

function readPolicy(file: string): string {
  let yaml: string;
  try {
    yaml = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read the policy file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
  const bytes = Buffer.byteLength(yaml, 'utf8');
  if (bytes > MAX_POLICY_BYTES) throw new UsageError(`${file} is ${bytes} bytes: a policy may be at most ${MAX_POLICY_BYTES}`);
  return yaml;
}

function describeDecision(d: PolicyDecision): string {
  const lines = [`verdict: ${d.verdict}`, `mode:    ${d.mode}`, `reason:  ${d.reason}`];
  if (d.line !== undefined) lines.push(`line:    ${d.line}`);
  return lines.join('\n');
}

function describeApplied(a: PolicyApplied): string {
  return `policy in force: mode ${a.mode}, ${a.rules} rule${a.rules === 1 ? '' : 's'}, generation ${a.generation}, written to ${a.path}`;
}

function withNewline(text: string): string {
  return text.endsWith('\n') ? text : `${text}\n`;
}
