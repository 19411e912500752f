import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { SpiffeError, X509Bundle, parseX509Svid, parseX509SvidChain, verifyX509Svid } from '../../spiffe/index.js';
import { ReportedFailure, UsageError } from '../exit-codes.js';
import { outputOption, toJson, type OutputFormat } from '../output.js';

interface Inspection {
  readonly spiffeId: string | null;
  readonly notAfter: string | null;
  readonly valid: boolean;
  /** What was checked: the structure alone, or the chain against a bundle too. */
  readonly checked: 'structure' | 'structure+key' | 'bundle' | 'bundle+key';
  readonly error: { readonly code: string; readonly message: string } | null;
  readonly chain: ReadonlyArray<{ subject: string; issuer: string; notBefore: string; notAfter: string; serial: string }>;
}

/** `tether svid inspect FILE`: offline; an X509-SVID's ID, chain, expiry and verdict with the rule that failed. */
export function register(program: Command): void {
  const svid = program.command('svid').description('SVIDs');
  svid.command('inspect')
    .description('inspect an X509-SVID PEM (leaf first); exits 1 when it breaks a rule')
    .argument('<file>', 'PEM certificates, leaf first (may also hold the key)')
    .option('--key <file>', 'PKCS#8 PEM private key: check that it is the leaf\'s')
    .option('--bundle <file>', 'PEM CA certificates of the SVID\'s trust domain: verify the chain and validity now')
    .addOption(outputOption())
    .addHelpText('after', '\nExamples:\n  tether svid inspect svid.pem --bundle bundle.pem\n  tether svid inspect svid.pem --key svid.key --output json')
    .action((file: string, opts: { key?: string; bundle?: string; output: OutputFormat }) => {
      const result = inspect(read(file), opts.key === undefined ? undefined : read(opts.key), opts.bundle === undefined ? undefined : read(opts.bundle));
      process.stdout.write(`${opts.output === 'json' ? toJson(result) : describe(result)}\n`);
      if (!result.valid) throw new ReportedFailure('invalid SVID');
    });
}

function read(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new UsageError(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

function inspect(pem: Buffer, key: Buffer | undefined, bundlePem: Buffer | undefined): Inspection {
  const checked = `${bundlePem ? 'bundle' : 'structure'}${key ? '+key' : ''}` as Inspection['checked'];
  let chain: readonly Buffer[] = [];
  try {
    const parsed = key ? parseX509Svid(pem, key) : parseX509SvidChain(pem);
    chain = parsed.chain;
    if (bundlePem) {
      const bundle = X509Bundle.parsePem(parsed.id.trustDomain, bundlePem);
      verifyX509Svid(chain, (td) => (td.equals(bundle.trustDomain) ? bundle : undefined), { now: new Date() });
    }
    return { ...facts(chain), spiffeId: parsed.id.toString(), valid: true, checked, error: null };
  } catch (err) {
    if (!(err instanceof SpiffeError)) throw err;
    return { ...facts(chain), valid: false, checked, error: { code: err.code, message: err.message } };
  }
}

function facts(chain: readonly Buffer[]): Pick<Inspection, 'chain' | 'notAfter' | 'spiffeId'> {
  const certs = chain.map((der) => new X509Certificate(der));
  const uri = certs[0]?.subjectAltName?.match(/URI:(spiffe:\/\/[^,\s]*)/)?.[1] ?? null; // display only; the ID is checked above
  return {
    spiffeId: uri,
    notAfter: certs[0] ? new Date(certs[0].validTo).toISOString() : null,
    chain: certs.map((c) => ({ subject: c.subject.replace(/\n/g, ', '), issuer: c.issuer.replace(/\n/g, ', '),
      notBefore: new Date(c.validFrom).toISOString(), notAfter: new Date(c.validTo).toISOString(), serial: c.serialNumber })),
  };
}

function describe(r: Inspection): string {
  const lines = [
    `SPIFFE ID:  ${r.spiffeId ?? '-'}`,
    `Expires:    ${r.notAfter ?? '-'}`,
    `Verdict:    ${r.valid ? 'valid' : `INVALID — ${r.error?.code}: ${r.error?.message}`} (checked: ${r.checked})`,
    'Chain:',
    ...r.chain.map((c, i) => `  [${i}] ${c.subject}  issued by ${c.issuer}  ${c.notBefore} .. ${c.notAfter}`),
  ];
  return lines.join('\n');
}
