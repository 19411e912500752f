import { chmodSync, mkdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { SelectorSource, detectTicksPerSecond, hostTracker } from '../attest/index.js';
import { LocalAuthority } from '../ca/index.js';
import { ensureBpffs, findCgroupV2Mount, KernelError, PeerCredentialReader } from '../kernel/index.js';
import { FileEntryStore } from '../registry/index.js';
import { SpiffeError, TrustDomain } from '../spiffe/index.js';
import { JwtSvidCache, X509SvidCache } from '../svid/index.js';
import { IdentityBackend, WorkloadServer } from '../workload/index.js';
import { Lifecycle } from './lifecycle.js';
import { Registry } from 'prom-client';
import { createLogger, MetricsServer, type Logger } from '../telemetry/index.js';
import { AdminServer } from '../admin/index.js';
import { adminBackend } from './admin-backend.js';
import { startEnforcement } from './enforcement.js';
import type { Config } from './config.js';
import { ConfigError } from './config.js';

/** How often the CA is asked whether a rotation step is due (prepare at 1/2, activate at 5/6). */
const CA_MAINTENANCE_MS = 60_000;
/** How long each part gets to stop (streams drain, then are cut). */
const STOP_DEADLINE_MS = 5_000;

/**
 * Start order: state dir, bpffs and pin dir, the enforcement cgroup check, kernel programs and
 * the process table, the CA, the entries, the SVID caches, the Workload API socket; the reverse
 * on SIGTERM/SIGINT. SIGHUP reloads the entries and policy files. Resolves when the agent has stopped.
 */
export async function runAgent(config: Config): Promise<void> {
  const log = createLogger(config.logLevel);
  const trustDomain = parseTrustDomain(config.trustDomain, log);
  mkdirSync(config.stateDir, { recursive: true, mode: 0o711 });
  chmodSync(config.stateDir, 0o711); // workloads reach public/ below it, and nothing else
  ensureBpffs(config.pinDir);
  const cgroup = enforcementCgroup(config.enforce.cgroup);
  const life = new Lifecycle(log);
  const now = (): Date => new Date();

  const metrics = new Registry();
  const metricsServer = await life.start('metrics', () => MetricsServer.start(config.metricsAddr, metrics, log.child({ component: 'metrics' })),
    (server) => server?.close());

  const { tracker, describer } = await life.start('process table', () => {
    const host = hostTracker({
      onResync: (reason, processes) => {
        if (reason === 'drops') log.warn({ component: 'attest', processes }, 'kernel events were lost: process table rebuilt from /proc');
      },
    });
    host.tracker.start();
    return host;
  }, (host) => host.tracker.stop());
  const ca = await life.start('CA', () => LocalAuthority.open({
    stateDir: config.stateDir, trustDomain, keyType: config.ca.keyType, caTtlSeconds: config.ca.caTtlSeconds,
    intermediate: config.ca.intermediate, now, log: log.child({ component: 'ca' }),
    ...(config.ca.jwtKeyTtlSeconds === undefined ? {} : { jwtKeyTtlSeconds: config.ca.jwtKeyTtlSeconds }),
  }), (authority) => authority.close());
  await life.start('CA rotation', () => setInterval(() => {
    ca.maintain().catch((err: unknown) => log.error({ component: 'ca', err }, 'CA rotation step failed; will retry'));
  }, CA_MAINTENANCE_MS), (timer) => clearInterval(timer));
  const entriesPath = config.entries ?? join(config.stateDir, 'entries.yaml');
  const entries = await life.start('entries', async () => {
    const store = new FileEntryStore({ path: entriesPath, trustDomain, log: log.child({ component: 'registry' }) });
    await store.start();
    return store;
  }, (store) => store.stop());
  const x509 = await life.start('X509-SVID cache', () => new X509SvidCache({ authority: ca, clock: { now }, log: log.child({ component: 'svid' }) }), (c) => c.close());
  const jwt = await life.start('JWT-SVID cache', () => new JwtSvidCache({ authority: ca, clock: { now }, log: log.child({ component: 'svid' }) }), (c) => c.close());
  await life.start('cache eviction', () => entries.onChange((set) => {
    const ids = new Set(set.map((e) => e.id));
    x509.retain(ids);
    jwt.retain(ids);
  }), (unsubscribe) => unsubscribe());
  const selectors = new SelectorSource({ describer, table: tracker.table });
  const ticksPerSecond = detectTicksPerSecond();
  const backend = new IdentityBackend({
    trustDomain, tracker, selectors, entries, x509, jwt,
    bundles: { x509Bundle: () => ca.x509Bundle(), jwtBundle: () => ca.jwtBundle(), onChange: (l) => ca.onChange(() => l()) },
    ticksPerSecond,
  });
  const enforcement = config.policy === undefined ? undefined
    : await startEnforcement({ config, cgroup, trustDomain, life, log, entries, tracker, selectors, ticksPerSecond, metrics });

  const socket = config.socket ?? join(config.stateDir, 'public', 'agent.sock');
  const peers = new PeerCredentialReader({ onFallback: (why) => log.warn({ component: 'workload' }, why) });
  await life.start('Workload API', async () => {
    const server = new WorkloadServer({ socketPath: socket, backend, peers, log: log.child({ component: 'workload' }) });
    await server.start();
    return server;
  }, (server) => server.close(STOP_DEADLINE_MS));

  const adminSocket = config.adminSocket ?? join(config.stateDir, 'admin.sock');
  await life.start('admin API', async () => {
    const server = new AdminServer({ socketPath: adminSocket, backend: adminBackend(enforcement), log: log.child({ component: 'admin' }) });
    await server.start();
    return server;
  }, (server) => server.close(STOP_DEADLINE_MS));

  const active = ca.status().x509.find((a) => a.state === 'active');
  process.stdout.write(`tether agent: serving the Workload API on ${socket} (SPIFFE_ENDPOINT_SOCKET=unix://${socket}); `
    + `trust domain ${trustDomain.name}, CA ${active?.id ?? '-'}, ${entries.current().length} entries from ${entriesPath}, `
    + `tracking ${tracker.stats().processes} processes; pins ${config.pinDir}, cgroup ${cgroup}; `
    + `${enforcement === undefined ? 'no policy' : `policy ${config.policy}`}; admin ${adminSocket}; metrics ${metricsServer === undefined ? 'off' : `port ${metricsServer.port}`}\n`);
  log.info({ component: 'daemon', trustDomain: trustDomain.name, socket, entries: entries.current().length, cgroup }, 'agent started');

  await untilStopSignal(log, () => {
    enforcement?.reloadPolicy();
    entries.reload().then((r) => {
      if (!r.ok) log.error({ component: 'registry', err: r.error.message }, 'SIGHUP: entries refused, the last good set keeps serving');
    }, (err: unknown) => log.error({ component: 'registry', err }, 'SIGHUP: reload failed'));
  });
  await life.stop(STOP_DEADLINE_MS);
  log.info({ component: 'daemon', ...printable(tracker.stats()) }, 'agent stopped');
}

/** Resolves on SIGTERM or SIGINT; SIGHUP calls onHangup (reload). Signals are handled only here. */
function untilStopSignal(log: Logger, onHangup: () => void): Promise<void> {
  const hangup = (): void => { log.info({ component: 'daemon' }, 'SIGHUP: reloading entries and policy'); onHangup(); };
  process.on('SIGHUP', hangup);
  return new Promise((done) => {
    const stop = (signal: NodeJS.Signals): void => {
      log.info({ component: 'daemon', signal }, 'stopping');
      process.off('SIGHUP', hangup);
      done();
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
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
