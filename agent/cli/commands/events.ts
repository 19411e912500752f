import { Option, type Command } from 'commander';
import { DEFAULT_EVENTS_LIMIT, MAX_EVENTS_LIMIT, type PolicyEvent } from '../../admin/index.js';
import { withAdminClient, withAdminOptions, type AdminConnectOptions } from '../admin-connection.js';
import { UsageError } from '../exit-codes.js';
import { outputOption, toTable, type OutputFormat } from '../output.js';

const COLUMNS = ['time', 'kind', 'verdict', 'mode', 'from', 'to', 'destination', 'pid/comm', 'reason'] as const;

interface EventsOptions extends AdminConnectOptions {
  readonly follow?: boolean;
  readonly limit?: string;
  readonly output: OutputFormat;
}

/**
 * `tether events`: the connects the policy denied (audit mode: would have denied), from the
 * running agent. JSON is one object per line, so `--follow -o json` pipes into jq as it goes.
 */
export function register(program: Command): void {
  withAdminOptions(program.command('events'))
    .description('the policy\'s recent denials (audit mode: would-be denials) of connects, mesh tunnels and direct inbound connections, oldest first; --follow for new ones')
    .option('-f, --follow', 'after the recent events, print each new one until interrupted (Ctrl-C)')
    .addOption(new Option('--limit <n>', `how many recent events (1-${MAX_EVENTS_LIMIT})`).default(String(DEFAULT_EVENTS_LIMIT)))
    .addOption(outputOption())
    .addHelpText('after', [
      '', 'The table\'s columns: time, kind (connect, tunnel: a mesh tunnel refused; inbound: a direct connection from another host to a',
      'meshed workload; profile: a deviation from a behaviour profile, deny when its exec was killed), verdict, mode, from, to,',
      'destination, pid/comm ("-": no identity), reason (tunnels, inbound and profile: what deviated, its number for `tether profile accept`);',
      'with --follow, one line per event as it comes, in that order, "from -> to". JSON is one object per line.', '', 'Examples:', '  tether events --limit 20', '  tether events --follow',
      '  tether events -f -o json | jq -r \'select(.verdict == "deny") | .from\'',
    ].join('\n'))
    .action((opts: EventsOptions) => {
      const limit = parseLimit(opts.limit ?? String(DEFAULT_EVENTS_LIMIT));
      return withAdminClient(opts, (client) => untilStdoutCloses(async (signal, write) => {
        const events = client.events({ follow: opts.follow === true, limit, signal });
        if (opts.output === 'json') {
          for await (const e of events) write(`${JSON.stringify(e)}\n`);
        } else if (opts.follow === true) {
          // Rows cannot be aligned with rows not yet seen: a line per event as it comes.
          for await (const e of events) write(`${eventLine(e)}\n`);
        } else {
          const rows: PolicyEvent[] = [];
          for await (const e of events) rows.push(e);
          write(`${toTable(rows.map(tableRow), COLUMNS)}\n`);
        }
      }));
    });
}

/**
 * Runs `print` until it is done or stdout's reader goes away: `tether events -f | head -3` ends
 * quietly (exit 0) when head exits, as a pipe's writer should, instead of dying on EPIPE. After
 * that, `write` drops what the loop still has in hand.
 */
async function untilStdoutCloses(print: (signal: AbortSignal, write: (text: string) => void) => Promise<void>): Promise<void> {
  const closed = new AbortController();
  let failure: Error | undefined;
  const onError = (err: NodeJS.ErrnoException): void => {
    if (closed.signal.aborted) return;
    if (err.code !== 'EPIPE') failure = err;
    closed.abort();
  };
  const write = (text: string): void => {
    if (!closed.signal.aborted) process.stdout.write(text);
  };
  process.stdout.on('error', onError);
  try {
    await print(closed.signal, write);
  } finally {
    process.stdout.off('error', onError);
  }
  if (failure !== undefined) throw failure;
}

function parseLimit(text: string): number {
  const n = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n) || n < 1 || n > MAX_EVENTS_LIMIT) throw new UsageError(`--limit must be 1-${MAX_EVENTS_LIMIT}: got ${text}`);
  return n;
}

function tableRow(e: PolicyEvent): Record<string, unknown> {
  return { ...e, kind: e.kind ?? 'connect', 'pid/comm': `${e.pid}/${e.comm}`, reason: e.reason ?? '' };
}

/** One event as a line with the table's columns; verdict and mode padded so lines mostly align. */
export function eventLine(e: PolicyEvent): string {
  return [e.time, (e.kind ?? 'connect').padEnd(7), e.verdict.padEnd(5), e.mode.padEnd(7), `${e.from ?? e.source ?? '-'} -> ${e.to ?? '-'}`, e.destination,
    `${e.pid}/${e.comm}`, ...(e.reason === undefined ? [] : [e.reason])].join('  ');
}
