import type { Command } from 'commander';
import { SpiffeError, SpiffeId } from '../../spiffe/index.js';
import { ReportedFailure } from '../exit-codes.js';
import { outputOption, toJson, toTable, type OutputFormat } from '../output.js';

type IdVerdict =
  | { readonly id: string; readonly valid: true; readonly trustDomain: string; readonly path: string }
  | { readonly id: string; readonly valid: false; readonly error: { readonly code: string; readonly message: string } };

/** `tether id check ID...`: offline; which IDs are valid SPIFFE IDs, and the rule each bad one breaks. */
export function register(program: Command): void {
  const id = program.command('id').description('SPIFFE IDs');
  id.command('check')
    .description('check SPIFFE IDs against the spec; exits 1 if any is invalid')
    .argument('<id...>', 'SPIFFE IDs (put -- before IDs that start with "-")')
    .addOption(outputOption())
    .addHelpText('after', '\nExamples:\n  tether id check spiffe://example.org/web\n  tether id check --output json -- spiffe://Example.org/x spiffe://example.org//y')
    .action((ids: string[], opts: { output: OutputFormat }) => {
      const verdicts = ids.map(check);
      process.stdout.write(`${opts.output === 'json' ? toJson(verdicts) : toTable(verdicts.map(row), ['id', 'valid', 'trustDomain', 'path', 'error'])}\n`);
      if (verdicts.some((v) => !v.valid)) throw new ReportedFailure('invalid SPIFFE IDs');
    });
}

function check(input: string): IdVerdict {
  try {
    const parsed = SpiffeId.parse(input);
    return { id: input, valid: true, trustDomain: parsed.trustDomain.name, path: parsed.path };
  } catch (err) {
    if (!(err instanceof SpiffeError)) throw err;
    return { id: input, valid: false, error: { code: err.code, message: err.message } };
  }
}

function row(v: IdVerdict): Record<string, unknown> {
  return v.valid ? { ...v, path: v.path === '' ? '(root)' : v.path } : { id: v.id, valid: false, error: `${v.error.code}: ${v.error.message}` };
}
