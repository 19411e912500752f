import { chmodSync, mkdirSync, statSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { hostTracker } from '../attest/index.js';
import { LocalAuthority } from '../ca/index.js';
import { SpiffeError, TrustDomain } from '../spiffe/index.js';
import { ensureBpffs, findCgroupV2Mount, KernelError } from '../kernel/index.js';
import { createLogger, type Logger } from '../telemetry/index.js';
import type { Config } from './config.js';
import { ConfigError } from './config.js';

/** How often the CA is asked whether a rotation step is due (prepare at 1/2, activate at 5/6). */
const CA_MAINTENANCE_MS = 60_000;

/**
 * Start order: state dir, bpffs and pin dir, the enforcement cgroup check, kernel programs and
 * the process table, the CA; the reverse on SIGTERM/SIGINT. Resolves when the agent has stopped.
 */
export async function runAgent(config: Config): Promise<void> {
  const log = createLogger(config.logLevel);
  const trustDomain = parseTrustDomain(config.trustDomain, log);
  mkdirSync(config.stateDir, { recursive: true, mode: 0o711 });
  chmodSync(config.stateDir, 0o711); // workloads reach public/ below it, and nothing else
  ensureBpffs(config.pinDir);
  const cgroup = enforcementCgroup(config.enforce.cgroup);

  const { tracker } = hostTracker({
    onResync: (reason, processes) => {
      if (reason === 'drops') log.warn({ component: 'attest', processes }, 'kernel events were lost: process table rebuilt from /proc');
    },
  });
  tracker.start();
  let ca: LocalAuthority;
  try {
    ca = await LocalAuthority.open({
      stateDir: config.stateDir, trustDomain, keyType: config.ca.keyType, caTtlSeconds: config.ca.caTtlSeconds,
      intermediate: config.ca.intermediate, now: () => new Date(), log: log.child({ component: 'ca' }),
      ...(config.ca.jwtKeyTtlSeconds === undefined ? {} : { jwtKeyTtlSeconds: config.ca.jwtKeyTtlSeconds }),
    });
  } catch (err) {
    tracker.stop();
    throw err;
  }
  const maintenance = setInterval(() => {
    ca.maintain().catch((err: unknown) => log.error({ component: 'ca', err }, 'CA rotation step failed; will retry'));
  }, CA_MAINTENANCE_MS);
  const stats = tracker.stats();
  const active = ca.status().x509.find((a) => a.state === 'active');
  process.stdout.write(`tether agent: trust domain ${trustDomain.name}, CA ${active?.id ?? '-'}, tracking ${stats.processes} processes; `
    + `state ${config.stateDir}, pins ${config.pinDir}, cgroup ${cgroup}\n`);
  log.info({ component: 'daemon', trustDomain: trustDomain.name, processes: stats.processes, cgroup, pinDir: config.pinDir }, 'agent started');

  const controller = new AbortController();
  const stop = (signal: NodeJS.Signals): void => {
    log.info({ component: 'daemon', signal }, 'stopping');
    controller.abort();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  await new Promise<void>((done) => controller.signal.addEventListener('abort', () => done(), { once: true }));
  clearInterval(maintenance);
  await ca.close();
  tracker.stop();
  log.info({ component: 'daemon', ...printable(tracker.stats()) }, 'agent stopped');
}

function parseTrustDomain(configured: string | undefined, log: Logger): TrustDomain {
  if (configured === undefined) {
    log.warn({ component: 'daemon' }, 'no trust domain configured (--trust-domain, TETHER_TRUST_DOMAIN, trustDomain): using example.org');
  }
  try {
    return TrustDomain.parse(configured ?? 'example.org');
  } catch (err) {
    if (err instanceof SpiffeError) throw new ConfigError(`trustDomain: ${err.message}`, { cause: err });
    throw err;
  }
}

/** The cgroup v2 directory cgroup programs will attach to: the mount root unless told otherwise. */
function enforcementCgroup(configured: string | undefined): string {
  const mount = findCgroupV2Mount();
  if (configured === undefined) return mount;
  const dir = resolve(configured);
  const rel = relative(mount, dir);
  if (rel.startsWith('..') || resolve(mount, rel) !== dir) {
    throw new ConfigError(`enforce.cgroup ${dir} is not inside the cgroup v2 mount ${mount}`);
  }
  try {
    if (!statSync(dir).isDirectory()) throw new ConfigError(`enforce.cgroup ${dir} is not a directory`);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new KernelError('CGROUP', `enforce.cgroup ${dir}: ${(err as Error).message}`, { cause: err });
  }
  return dir;
}

function printable(o: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, typeof v === 'bigint' ? v.toString() : v]));
}
