import { join } from 'node:path';
import type { Command } from 'commander';
import type { EntryMatch } from '../../admin/index.js';
import {
  formatDuration, readEntriesFile, RegistryError, type Entry,
} from '../../registry/index.js';
import { SpiffeError, TrustDomain } from '../../spiffe/index.js';
import { withAdminClient, withAdminOptions, type AdminConnectOptions } from '../admin-connection.js';
import { UsageError } from '../exit-codes.js';
import { outputOption, toJson, toTable, type OutputFormat } from '../output.js';

const DEFAULT_STATE_DIR = '/var/lib/tether';

interface FileOptions {
  readonly entries?: string;
  readonly stateDir?: string;
  readonly trustDomain?: string;
  readonly output: OutputFormat;
}

/**
 * `tether entry list|show|match`. `list` and `show` read the entries file offline: what the file
 * says now (the agent serves it once its watch has reloaded it), also with no agent running.
 * `match` asks the running agent: its process table and the entries in force.
 */
export function register(program: Command): void {
  const entry = program.command('entry').description('registration entries: which workloads get which SPIFFE ID');
  withFileOptions(entry.command('list'))
    .description('list the entries of the entries file (exit 1, with the line and reason, if it is bad)')
    .addHelpText('after', '\nOffline: reads the file (no agent needed); `tether entry match` asks the running agent.\n'
      + '\nExamples:\n  tether entry list\n  tether entry list --entries ./entries.yaml --output json')
    .action(async (opts: FileOptions) => {
      const entries = await load(opts);
      process.stdout.write(`${opts.output === 'json' ? toJson(entries.map(entryJson)) : toTable(entries.map(listRow), LIST_COLUMNS)}\n`);
    });
  withFileOptions(entry.command('show'))
    .description('one entry by its id, or every entry with a SPIFFE ID')
    .argument('<id>', 'an entry id (16 hex, from `entry list`) or a SPIFFE ID')
    .addHelpText('after', '\nExamples:\n  tether entry show 3f2a9c0d11b4e8a7\n  tether entry show spiffe://example.org/web')
    .action(async (key: string, opts: FileOptions) => {
      const found = (await load(opts)).filter((e) => e.id === key || e.spiffeId.toString() === key);
      if (found.length === 0) throw new RegistryError('ENTRY_NOT_FOUND', `no entry has the id or SPIFFE ID ${key}`);
      process.stdout.write(`${opts.output === 'json' ? toJson(found.map(entryJson)) : found.map(describe).join('\n\n')}\n`);
    });
  withAdminOptions(entry.command('match'))
    .description('which of the running agent\'s entries a process matches, the selectors it lacks for the rest, and failed posture checks')
    .argument('<pid>', 'a process id on this host')
    .addOption(outputOption())
    .addHelpText('after', '\nExamples:\n  tether entry match 4242\n  tether entry match --output json $(pidof nginx | cut -d" " -f1)')
    .action((pidText: string, opts: AdminConnectOptions & { output: OutputFormat }) => {
      const pid = parsePid(pidText);
      return withAdminClient(opts, async (client) => {
        const match = await client.matchEntries(pid);
        process.stdout.write(`${opts.output === 'json' ? toJson(match) : matchTable(match)}\n`);
      });
    });
}

function withFileOptions(command: Command): Command {
  return command
    .option('--entries <file>', 'the entries file (env TETHER_ENTRIES; default <state-dir>/entries.yaml)')
    .option('--state-dir <dir>', `the agent's state dir (env TETHER_STATE_DIR; default ${DEFAULT_STATE_DIR})`)
    .option('--trust-domain <name>', 'also refuse entries outside this trust domain, as the agent does (env TETHER_TRUST_DOMAIN)')
    .addOption(outputOption());
}

/** An environment variable set to "" counts as unset, as shells make it easy to do. */
const env = (name: string): string | undefined => process.env[name] || undefined;

function entriesPath(opts: FileOptions): string {
  return opts.entries ?? env('TETHER_ENTRIES') ?? join(opts.stateDir ?? env('TETHER_STATE_DIR') ?? DEFAULT_STATE_DIR, 'entries.yaml');
}

async function load(opts: FileOptions): Promise<Entry[]> {
  const td = opts.trustDomain ?? env('TETHER_TRUST_DOMAIN');
  return readEntriesFile(entriesPath(opts), td === undefined ? undefined : trustDomainOf(td));
}

function trustDomainOf(name: string): TrustDomain {
  try {
    return TrustDomain.parse(name);
  } catch (err) {
    if (err instanceof SpiffeError) throw new UsageError(`--trust-domain: ${err.message}`, { cause: err });
    throw err;
  }
}

/** A pid argument (`entry match`, `posture`): a decimal of 1 or more, else a usage error. */
export function parsePid(text: string): number {
  const pid = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(pid) || pid < 1) throw new UsageError(`"${text}" is not a process id`);
  return pid;
}

const LIST_COLUMNS = ['id', 'spiffeId', 'selectors', 'ttl', 'hint'] as const;

function listRow(e: Entry): Record<string, unknown> {
  return { id: e.id, spiffeId: e.spiffeId.toString(), selectors: e.selectors.join(','), ttl: ttls(e), hint: e.hint ?? null };
}

/** "x509/jwt", each "-" when the agent's default applies. */
function ttls(e: Entry): string {
  const one = (s: number | undefined): string => (s === undefined ? '-' : formatDuration(s));
  return `${one(e.x509SvidTtlSeconds)}/${one(e.jwtSvidTtlSeconds)}`;
}

function entryJson(e: Entry): Record<string, unknown> {
  return {
    id: e.id, spiffeId: e.spiffeId.toString(), selectors: e.selectors, x509SvidTtlSeconds: e.x509SvidTtlSeconds ?? null,
    jwtSvidTtlSeconds: e.jwtSvidTtlSeconds ?? null, dnsNames: e.dnsNames, hint: e.hint ?? null,
    federatesWith: e.federatesWith.map((td) => td.name), line: e.line,
  };
}

function describe(e: Entry): string {
  const fields: Array<[string, readonly string[]]> = [
    ['id', [e.id]], ['spiffeId', [e.spiffeId.toString()]], ['selectors', e.selectors],
    ['x509SvidTtl', [e.x509SvidTtlSeconds === undefined ? '- (agent default)' : formatDuration(e.x509SvidTtlSeconds)]],
    ['jwtSvidTtl', [e.jwtSvidTtlSeconds === undefined ? '- (agent default)' : formatDuration(e.jwtSvidTtlSeconds)]],
    ['dnsNames', e.dnsNames], ['hint', [e.hint ?? '-']], ['federatesWith', e.federatesWith.map((td) => td.name)], ['line', [String(e.line)]],
  ];
  return fields.map(([name, values]) => {
    const [first = '-', ...rest] = values;
    return [`${`${name}:`.padEnd(15)}${first}`, ...rest.map((v) => `${' '.repeat(15)}${v}`)].join('\n');
  }).join('\n');
}

function matchTable({ pid, selectors, entries }: EntryMatch): string {
  const rows = entries.map((r) => ({ ...r, matched: r.matched ? 'yes' : 'no', missing: r.missing.join(',') || null, posture: postureCell(r.posture) }));
  return [`Process ${pid} has the selectors:`, ...selectors.map((s) => `  ${s}`), '',
    toTable(rows, ['id', 'spiffeId', 'matched', 'missing', 'posture'])].join('\n');
}

/** The failed posture checks ("noNewPrivs: NoNewPrivs is 0; ..."), "ok" when all pass, "-" when the entry asks for none. */
function postureCell(checks: EntryMatch['entries'][number]['posture']): string | null {
  if (checks.length === 0) return null;
  const failed = checks.filter((c) => !c.ok);
  return failed.length === 0 ? 'ok' : failed.map((c) => `${c.check}: ${c.evidence}`).join('; ');
}
