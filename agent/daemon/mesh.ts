import { createServer, type Server, type Socket } from 'node:net';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { MeshStatus } from '../admin/index.js';
import type { LocalAuthority } from '../ca/index.js';
import { decide, decideTunnel, formatCidr, type Policy, type PolicyEvent } from '../enforce/index.js';
import { ipv4Bytes, ipv6Bytes, probeKtls, type KtlsProbeResult, type MeshDestination } from '../kernel/index.js';
import {
  DEFAULT_HANDSHAKE_TIMEOUT_MS, TunnelClient, TunnelServer, cryptoInfoSize, type Authorization, type KtlsDataPath, type TunnelEvent,
  type TunnelSvid, type TunnelTrust, type TunnelView,
} from '../mesh/index.js';
import type { FileEntryStore } from '../registry/index.js';
import type { SpiffeId, TrustDomain } from '../spiffe/index.js';
import type { X509SvidCache } from '../svid/index.js';
import type { Logger } from '../telemetry/index.js';
import type { Config } from './config.js';
import type { Enforcement } from './enforcement.js';
import type { Lifecycle } from './lifecycle.js';
import { syncMeshMaps } from './mesh-maps.js';

export type MeshConfig = NonNullable<Config['mesh']>;

export interface MeshDeps {
  readonly mesh: MeshConfig;
  readonly trustDomain: TrustDomain;
  readonly enforcement: Enforcement;
  readonly ca: Pick<LocalAuthority, 'x509Bundle'>;
  readonly x509: Pick<X509SvidCache, 'get'>;
  readonly entries: Pick<FileEntryStore, 'current'>;
  readonly life: Lifecycle;
  readonly log: Logger;
  readonly metrics: Registry;
}

export interface Mesh {
  readonly status: () => MeshStatus;
  /** Every relaying tunnel of both ends, for `tether conns`. */
  readonly tunnels: () => TunnelView[];
}

/**
 * Cross-host tunnels (../shared/MESH.md): the kernel's redirect switched on for mesh.cidrs; the
 * outbound listener on 127.0.0.1 and ::1 that redirected connects arrive at, each sent through
 * a TunnelClient with the source workload's SVID (the source known from the kernel's record,
 * never from the workload); the TunnelServer on mesh.port presenting the SVID of the workload
 * listening on the port SNI names. Policy at both ends; every refusal is a log line, a metric and
 * an event. On stop the listeners close and open tunnels end (their workloads see a reset); the
 * redirect stays in the kernel, so connects fail closed until the agent is back.
 */
export async function startMesh(d: MeshDeps): Promise<Mesh> {
  const log = d.log.child({ component: 'mesh' });
  const { mesh, enforcement } = d;
  const trust: TunnelTrust = { trustDomain: d.trustDomain, bundle: () => d.ca.x509Bundle(), now: () => new Date() };
  const timeoutMs = mesh.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
  const meter = meshMetrics(d.metrics);
  // Once, with the agent's own privileges (MESH.md §5): every tunnel takes the mode found here.
  const probe: KtlsProbeResult = await probeKtls({ cryptoInfoSize });
  const ktls: KtlsDataPath | undefined = probe.mode === 'ktls' ? { ciphers: probe.ciphers } : undefined;
  meter.datapath(probe.mode);
  (probe.mode === 'ktls' ? log.info.bind(log) : log.warn.bind(log))({ mode: probe.mode, ciphers: probe.ciphers, detail: probe.detail },
    probe.mode === 'ktls' ? 'tunnels use kTLS: records in the kernel, bytes moved by splice' : 'no kTLS here: tunnels are encrypted by Node\'s TLS');
  const report = (e: TunnelEvent, pid = 0): void => {
    meter.event(e);
    if (e.kind === 'opened' || (e.kind === 'closed' && e.reason === undefined)) {
      log.debug(eventFields(e), `tunnel ${e.kind}`);
      return;
    }
    log.warn(eventFields(e), e.kind === 'denied' ? 'tunnel denied' : e.kind === 'closed' ? 'tunnel broke' : 'tunnel refused');
    if (e.kind !== 'closed') enforcement.report(tunnelEvent(e, enforcement.policy().mode, pid));
  };
  const audited = (side: TunnelEvent['side'], from: SpiffeId, to: SpiffeId, destination: string, reason: string): void => {
    log.info({ side, from: from.toString(), to: to.toString(), destination, reason }, 'tunnel would be denied (audit mode)');
    enforcement.report({
      time: new Date().toISOString(), kind: 'tunnel', verdict: 'audit', mode: 'audit', pid: 0, comm: '', from: from.toString(), to: to.toString(),
      destination, reason: `DENIED: ${reason}`,
    });
  };

  const svidOf = (id: SpiffeId): TunnelSvid | undefined => {
    const entry = d.entries.current().find((e) => e.spiffeId.equals(id));
    return entry === undefined ? undefined : d.x509.get(entry);
  };
  const idOfNumber = (n: number | undefined): SpiffeId | undefined => (n === undefined || n === 0 ? undefined : enforcement.idOf(n));

  const server = await d.life.start('mesh tunnel listener', async () => {
    const s = new TunnelServer({
      trust, handshakeTimeoutMs: timeoutMs, destinationHost: '127.0.0.1', onEvent: (e) => report(e), ...(ktls === undefined ? {} : { ktls }),
      // The workload listening on the port SNI names, as the kernel's bind hook recorded it.
      svidForPort: (port) => {
        const id = idOfNumber(enforcement.sock.maps.listeners.lookup(port));
        return id === undefined ? undefined : svidOf(id);
      },
      authorize: (source, destination, port): Authorization => {
        const verdict = decide(enforcement.policy(), source, { kind: 'identity', id: destination }, port);
        if (verdict.verdict === 'audit') audited('server', source, destination, `127.0.0.1:${port}`, verdict.reason);
        return verdict.verdict === 'deny' ? 'deny' : 'allow';
      },
    });
    const bound = await s.listen(mesh.port);
    log.info({ port: bound.port }, 'tunnel listener up: peer agents connect here');
    return s;
  }, (s) => s.close());

  const client = await d.life.start('mesh tunnels out', () => new TunnelClient({
    trust, handshakeTimeoutMs: timeoutMs, onEvent: (e) => report(e), ...(ktls === undefined ? {} : { ktls }),
  }), (c) => c.close());
  const refuseWorkload = (socket: Socket, origin: MeshDestination | undefined, code: string, message: string): void => {
    socket.resetAndDestroy();
    meter.refused('client', code);
    log.warn({ side: 'client', reason: code, message, destination: origin && `${origin.address}:${origin.port}`, pid: origin?.process.tgid },
      'tunnel refused');
    enforcement.report({
      time: new Date().toISOString(), kind: 'tunnel', verdict: 'deny', mode: enforcement.policy().mode, pid: origin?.process.tgid ?? 0, comm: '',
      from: idOfNumber(origin?.sourceId)?.toString() ?? null, to: null,
      destination: origin === undefined ? '?' : endpoint(origin.address, origin.port), reason: `${code}: ${message}`,
    });
  };
  const onRedirected = (socket: Socket): void => {
    socket.on('error', () => socket.destroy());
    socket.setNoDelay(true);
    const origin = enforcement.sock.meshOrigin(socket.remoteAddress ?? '', socket.remotePort ?? 0);
    if (origin === undefined) {
      return refuseWorkload(socket, undefined, 'NOT_REDIRECTED', `a connection from ${endpoint(socket.remoteAddress ?? '?', socket.remotePort ?? 0)} `
        + 'that the kernel did not redirect (no original destination recorded)');
    }
    const sourceId = idOfNumber(origin.sourceId);
    if (sourceId === undefined) {
      return refuseWorkload(socket, origin, 'SOURCE_UNIDENTIFIED', `pid ${origin.process.tgid} has no identity: meshed destinations are reached with an SVID`);
    }
    let svid: TunnelSvid | undefined;
    try {
      svid = svidOf(sourceId);
    } catch (err) {
      return refuseWorkload(socket, origin, 'SOURCE_NO_SVID', `no X509-SVID for ${sourceId.toString()}: ${(err as Error).message}`);
    }
    if (svid === undefined) return refuseWorkload(socket, origin, 'SOURCE_NO_SVID', `no entry gives ${sourceId.toString()} an X509-SVID`);
    const remote = { family: origin.family, address: origin.family === 4 ? ipv4Bytes(origin.address) : ipv6Bytes(origin.address) };
    const destination = endpoint(origin.address, origin.port);
    void client.open({
      workload: socket, destination: { host: origin.address, port: origin.port }, peer: { host: origin.address, port: mesh.port }, svid,
      checkServer: (serverId) => {
        const verdict = decideTunnel(enforcement.policy(), sourceId, serverId, remote, origin.port);
        if (verdict.verdict === 'audit') audited('client', sourceId, serverId, destination, verdict.reason);
        return verdict.verdict === 'deny' ? { code: 'DENIED', message: verdict.reason } : undefined;
      },
    });
  };
  const outbound = await d.life.start('mesh outbound listener', () => listenOutbound(mesh.outboundPort, onRedirected, log),
    (servers) => Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve())))).then(() => undefined));
  // Only now that both listeners serve: the kernel starts redirecting.
  await d.life.start('mesh redirect', () => syncMeshMaps(enforcement.sock.maps, mesh), () => undefined);
  log.info({ cidrs: mesh.cidrs.length, port: mesh.port, outboundPort: mesh.outboundPort, inbound: mesh.inbound, listeners: outbound.length },
    'mesh on: connects to meshed networks are tunnelled');

  return {
    status: () => ({
      mode: probe.mode, detail: probe.detail, cidrs: mesh.cidrs.map(formatCidr), port: mesh.port, outboundPort: mesh.outboundPort,
      inbound: mesh.inbound,
    }),
    tunnels: () => [...client.tunnels(), ...server.tunnels()],
  };
}

/** Listeners on 127.0.0.1 and ::1 (where the kernel points redirected connects); ::1 may be missing. */
async function listenOutbound(port: number, onConnection: (socket: Socket) => void, log: Logger): Promise<Server[]> {
  const servers: Server[] = [];
  for (const host of ['127.0.0.1', '::1']) {
    const s = createServer({ pauseOnConnect: true, allowHalfOpen: true }, onConnection);
    try {
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(port, host, () => { s.off('error', reject); resolve(); });
      });
      servers.push(s);
    } catch (err) {
      if (host === '::1' && ['EADDRNOTAVAIL', 'EAFNOSUPPORT'].includes((err as NodeJS.ErrnoException).code ?? '')) {
        log.warn({ port }, 'no ::1 on this host: IPv6 destinations are not tunnelled (their connects fail closed)');
        continue;
      }
      for (const done of servers) done.close();
      throw err;
    }
  }
  return servers;
}

function endpoint(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

function eventFields(e: TunnelEvent): Record<string, unknown> {
  return {
    side: e.side, from: e.sourceId?.toString(), to: e.destId?.toString(), destination: e.destination && endpoint(e.destination.host, e.destination.port),
    reason: e.reason, message: e.message, bytes: e.bytes,
  };
}

function tunnelEvent(e: TunnelEvent, mode: Policy['mode'], pid: number): PolicyEvent {
  return {
    time: new Date().toISOString(), kind: 'tunnel', verdict: 'deny', mode, pid, comm: '',
    from: e.sourceId?.toString() ?? null, to: e.destId?.toString() ?? null,
    destination: e.destination === undefined ? '?' : endpoint(e.destination.host, e.destination.port),
    reason: `${e.reason ?? 'FAILED'}: ${e.message ?? ''}`,
  };
}

interface MeshMeter {
  event(e: TunnelEvent): void;
  refused(side: TunnelEvent['side'], reason: string): void;
  datapath(mode: 'ktls' | 'userspace'): void;
}

function meshMetrics(registry: Registry): MeshMeter {
  const tunnels = new Counter({
    name: 'tether_mesh_tunnels_total', help: 'Tunnels by end and outcome: opened (relaying), denied (policy), failed (any other refusal)',
    labelNames: ['side', 'result'], registers: [registry],
  });
  const refusals = new Counter({
    name: 'tether_mesh_refusals_total', help: 'Tunnels refused or broken, by end and reason code (PEER_NO_CERTIFICATE, DENIED, TIMEOUT, ...)',
    labelNames: ['side', 'reason'], registers: [registry],
  });
  const bytes = new Counter({
    name: 'tether_mesh_bytes_total', help: 'Bytes relayed by tunnels that have ended, by end and direction',
    labelNames: ['side', 'direction'], registers: [registry],
  });
  const open = new Gauge({ name: 'tether_mesh_tunnels_open', help: 'Tunnels relaying now, by end', labelNames: ['side'], registers: [registry] });
  const mode = new Gauge({
    name: 'tether_mesh_datapath', help: 'The tunnels\' data path in force (1): ktls (records in the kernel) or userspace (Node\'s TLS)',
    labelNames: ['mode'], registers: [registry],
  });
  return {
    event(e) {
      if (e.kind === 'opened') {
        tunnels.inc({ side: e.side, result: 'opened' });
        open.inc({ side: e.side });
        return;
      }
      if (e.kind === 'closed') {
        open.dec({ side: e.side });
        bytes.inc({ side: e.side, direction: 'to_destination' }, e.bytes?.toDestination ?? 0);
        bytes.inc({ side: e.side, direction: 'from_destination' }, e.bytes?.fromDestination ?? 0);
        if (e.reason !== undefined) refusals.inc({ side: e.side, reason: e.reason });
        return;
      }
      tunnels.inc({ side: e.side, result: e.kind });
      refusals.inc({ side: e.side, reason: e.reason ?? 'UNKNOWN' });
    },
    refused(side, reason) {
      tunnels.inc({ side, result: 'failed' });
      refusals.inc({ side, reason });
    },
    datapath(m) {
      mode.set({ mode: m }, 1);
      mode.set({ mode: m === 'ktls' ? 'userspace' : 'ktls' }, 0);
    },
  };
}
