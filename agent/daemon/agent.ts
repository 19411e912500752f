import { chmodSync, mkdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { PostureChecker, SelectorSource, StartClock, detectTicksPerSecond, hostTracker } from '../attest/index.js';
import { LocalAuthority } from '../ca/index.js';
import { detectKernelFeatures, ensureBpffs, findCgroupV2Mount, KernelError, PeerCredentialReader, ProcEventSource } from '../kernel/index.js';
import { FileEntryStore, capabilityName } from '../registry/index.js';
import { SpiffeError, TrustDomain } from '../spiffe/index.js';
import { JwtSvidCache, X509SvidCache } from '../svid/index.js';
import { IdentityBackend, WorkloadServer } from '../workload/index.js';
import { Lifecycle } from './lifecycle.js';
import { Registry } from 'prom-client';
import { createLogger, MetricsServer, type Logger } from '../telemetry/index.js';
import { AdminServer, type AgentStatus } from '../admin/index.js';
import { adminBackend } from './admin-backend.js';
import { agentStatus } from './status.js';
import { startEnforcement } from './enforcement.js';
import { QuarantineRelay } from './profiles.js';
import { startMesh } from './mesh.js';
import { syncMeshMaps } from './mesh-maps.js';
import { KernelHealth, type WatchedLinks } from './health.js';
import { registerAgentMetrics } from './metrics.js';
import { AgentReadiness, caCheck, workloadCheck } from './readiness.js';
import { applyConfigReload } from './config-reload.js';
import { ignoreHangupsWhileStarting, startedBy, untilStopSignal } from './stop-signals.js';
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
export async function runAgent(config: Config, reloadConfig?: () => Config): Promise<void> {
  const parents = startedBy();
  const log = createLogger(config.logLevel);
  const releaseEarlyHangups = ignoreHangupsWhileStarting(log);
  const trustDomain = parseTrustDomain(config.trustDomain, log);
  if (config.mesh !== undefined && config.policy === undefined) {
    throw new ConfigError('mesh: the mesh needs a policy (--policy, policy): connects are redirected by the enforcement hooks, after the policy allowed them');
  }
  mkdirSync(config.stateDir, { recursive: true, mode: 0o711 });
  chmodSync(config.stateDir, 0o711); // workloads reach public/ below it, and nothing else
  ensureBpffs(config.pinDir);
  const cgroup = enforcementCgroup(config.enforce.cgroup);
  const life = new Lifecycle(log);
  const now = (): Date => new Date();
  const startedAt = now();

  const metrics = new Registry();
  const readiness = new AgentReadiness(['ca', 'workload_api']);
  const metricsServer = await life.start('metrics', () => MetricsServer.start(config.metricsAddr, metrics, log.child({ component: 'metrics' }),
    { readiness: () => readiness.report() }), (server) => server?.close());

  let procEvents: ProcEventSource | undefined; // the tracker's tracepoints, watched by the kernel health check
  const { tracker, describer } = await life.start('process table', () => {
    const host = hostTracker({
      openEvents: (onEvents) => (procEvents = ProcEventSource.open({ onEvents })),
      onResync: (reason, processes) => {
        if (reason === 'drops') log.warn({ component: 'attest', processes }, 'kernel events were lost: process table rebuilt from /proc');
      },
    });
    // The /proc scan is one synchronous step that takes seconds on a busy host: say so on a terminal.
    const startedAt = Date.now();
    if (process.stderr.isTTY) process.stderr.write('tether agent: scanning /proc for running processes...');
    host.tracker.start();
    if (process.stderr.isTTY) process.stderr.write(` ${host.tracker.stats().processes} processes in ${Date.now() - startedAt} ms\n`);
    return host;
  }, (host) => host.tracker.stop());
  const ca = await life.start('CA', () => LocalAuthority.open({
    stateDir: config.stateDir, trustDomain, keyType: config.ca.keyType, caTtlSeconds: config.ca.caTtlSeconds,
    intermediate: config.ca.intermediate, now, log: log.child({ component: 'ca' }),
    ...(config.ca.jwtKeyTtlSeconds === undefined ? {} : { jwtKeyTtlSeconds: config.ca.jwtKeyTtlSeconds }),
    ...(config.ca.upstream === undefined ? {} : { upstream: config.ca.upstream }),
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
  readiness.set('ca', () => caCheck(ca.status(), now()));
  let workloadServer: WorkloadServer | undefined;
  const observers = registerAgentMetrics(metrics, { tracker, x509, jwt, ca, workload: () => workloadServer });
  await life.start('cache eviction', () => entries.onChange((set) => {
    const ids = new Set(set.map((e) => e.id));
    x509.retain(ids);
    jwt.retain(ids);
  }), (unsubscribe) => unsubscribe());
  const selectors = new SelectorSource({ describer, table: tracker.table });
  const ticksPerSecond = detectTicksPerSecond();
  // Posture gates (entries' `posture:`): root-filesystem scans cached per root, each bounded to 2 s.
  const posture = new PostureChecker({ clock: new StartClock(ticksPerSecond), capabilityName });
  const quarantine = new QuarantineRelay(); // profiles (with a policy) attach their quarantine set
  const backend = new IdentityBackend({
    quarantine,
    trustDomain, tracker, selectors, entries, x509, jwt,
    bundles: { x509Bundle: () => ca.x509Bundle(), jwtBundle: () => ca.jwtBundle(), onChange: (l) => ca.onChange(() => l()) },
    ticksPerSecond, observer: observers.attestation, posture, postureObserver: observers.posture,
  });
  const enforcement = config.policy === undefined ? undefined
    : await startEnforcement({ config, cgroup, trustDomain, life, log, entries, tracker, selectors, ticksPerSecond, metrics, quarantine });
  if (enforcement !== undefined && config.mesh === undefined) syncMeshMaps(enforcement.sock.maps, undefined);
  const mesh = enforcement === undefined || config.mesh === undefined ? undefined
    : await startMesh({ mesh: config.mesh, trustDomain, enforcement, ca, x509, entries, life, log, metrics });
  const health = await life.start('kernel health', () => {
    const parts: Record<string, WatchedLinks> = {};
    if (procEvents !== undefined) parts['kernel.proc_tracepoints'] = procEvents;
    if (enforcement !== undefined) parts['kernel.sock_hooks'] = enforcement.hooks;
    const watcher = new KernelHealth({ parts, intervalMs: config.health.intervalMs, log: log.child({ component: 'health' }) });
    watcher.start();
    return watcher;
  }, (watcher) => watcher.stop());
  readiness.include(() => health.checks());

  const socket = config.socket ?? join(config.stateDir, 'public', 'agent.sock');
  const peers = new PeerCredentialReader({ onFallback: (why) => log.warn({ component: 'workload' }, why) });
  await life.start('Workload API', async () => {
    const server = new WorkloadServer({ socketPath: socket, backend, peers, observer: observers.workload, log: log.child({ component: 'workload' }) });
    await server.start();
    workloadServer = server;
    readiness.set('workload_api', () => workloadCheck(server, socket));
    return server;
  }, (server) => server.close(STOP_DEADLINE_MS));

  const adminSocket = config.adminSocket ?? join(config.stateDir, 'admin.sock');
  const features = await detectKernelFeatures();
  for (const f of features.filter((x) => x.state !== 'available')) {
    log.info({ component: 'kernel', feature: f.name, state: f.state, detail: f.detail, fallback: f.fallback }, 'kernel feature not available');
  }
  const status = (): AgentStatus => agentStatus({
    startedAt, now, trustDomain: trustDomain.name, workloadSocket: socket, adminSocket,
    metrics: { configured: config.metricsAddr, served: metricsServer }, features, tracker, entries, x509, jwt,
    workload: () => workloadServer, policy: enforcement?.status, mesh: mesh?.status,
  });
  await life.start('admin API', async () => {
    const server = new AdminServer({ socketPath: adminSocket, backend: adminBackend(enforcement, { status, tracker, describer, selectors, entries, ca, tunnels: mesh?.tunnels, posture }), log: log.child({ component: 'admin' }) });
    await server.start();
    return server;
  }, (server) => server.close(STOP_DEADLINE_MS));
  // Started last, so stopped first: /readyz answers 503 while the rest drains.
  await life.start('readiness', () => readiness, (r) => r.stopping());

  const caStatus = ca.status();
  const active = caStatus.x509.find((a) => a.state === 'active');
  process.stdout.write(`tether agent: serving the Workload API on ${socket} (SPIFFE_ENDPOINT_SOCKET=unix://${socket}); `
    + `trust domain ${trustDomain.name}, CA ${active?.id ?? '-'} (${caStatus.mode}), ${entries.current().length} entries from ${entriesPath}, `
    + `tracking ${tracker.stats().processes} processes; pins ${config.pinDir}, cgroup ${cgroup}; `
    + `${enforcement === undefined ? 'no policy' : `policy ${config.policy}`}; `
    + `${mesh === undefined ? '' : `mesh ${mesh.status().mode} on port ${config.mesh?.port}; `}admin ${adminSocket}; metrics ${metricsServer === undefined ? 'off' : `port ${metricsServer.port}`}\n`);
  log.info({ component: 'daemon', trustDomain: trustDomain.name, socket, entries: entries.current().length, cgroup }, 'agent started');

  releaseEarlyHangups();
  await untilStopSignal({ log, exitWithParent: config.exitWithParent, startedBy: parents, onHangup: () => {
    if (reloadConfig) applyConfigReload(config, reloadConfig, log);
    enforcement?.reloadPolicy();
    entries.reload().then((r) => {
      if (!r.ok) log.error({ component: 'registry', err: r.error.message }, 'SIGHUP: entries refused, the last good set keeps serving');
    }, (err: unknown) => log.error({ component: 'registry', err }, 'SIGHUP: reload failed'));
  } });
  await life.stop(STOP_DEADLINE_MS);
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
