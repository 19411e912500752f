import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';

export interface MetricsLog {
  info(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** One readiness check: what it found, and a line saying why when it is not ok. */
export interface ReadinessCheck {
  readonly ok: boolean;
  readonly detail?: string;
}

/** What /readyz answers: 200 with the checks when ready, 503 with them when not. */
export interface Readiness {
  readonly ready: boolean;
  readonly checks: Readonly<Record<string, ReadinessCheck>>;
}

export interface MetricsServerOptions {
  /** Asked on every GET /readyz; without it /readyz answers ready with no checks. */
  readonly readiness?: () => Readiness;
}

/** "127.0.0.1:9811", "[::1]:9811"; "off" serves nothing. */
export function parseListenAddress(text: string): { host: string; port: number } | 'off' {
  if (text === 'off') return 'off';
  // A bare port is on loopback: metrics are never exposed beyond the host unless a host is named.
  const m = /^(?:(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):)?([0-9]{1,5})$/.exec(text);
  const port = Number(m?.[3]);
  if (m === null || port > 65535) throw new RangeError(`"${text}" is not host:port ("127.0.0.1:9811", "[::1]:9811"), a port (on 127.0.0.1; 0: any free one) or "off"`);
  return { host: m[1] ?? m[2] ?? '127.0.0.1', port };
}

const PATHS = 'metrics are at /metrics, liveness at /healthz, readiness at /readyz';

/**
 * prom-client's registry on GET /metrics (Prometheus text), liveness on /healthz (200 "ok": the
 * process is up and its event loop answers, for this request is answered on it) and readiness on
 * /readyz. A port already taken is logged, not fatal: identities keep being issued without
 * metrics (a liveness probe on this port will show it).
 */
export class MetricsServer {
  readonly #server: Server;
  private constructor(server: Server) {
    this.#server = server;
  }

  static async start(address: string, registry: Registry, log: MetricsLog, options: MetricsServerOptions = {}): Promise<MetricsServer | undefined> {
    const at = parseListenAddress(address);
    if (at === 'off') return undefined;
    const server = createServer((req, res) => route(req, res, registry, log, options));
    const bound = await new Promise<boolean>((done) => {
      server.once('error', (err) => { log.error({ err: err.message, address }, 'metrics not served: cannot listen'); done(false); });
      server.listen(at.port, at.host, () => done(true));
    });
    if (!bound) return undefined;
    const port = (server.address() as { port: number }).port;
    log.info({ address: `${at.host.includes(':') ? `[${at.host}]` : at.host}:${port}` }, 'metrics served at /metrics');
    return new MetricsServer(server);
  }

  get port(): number {
    return (this.#server.address() as { port: number }).port;
  }

  close(): Promise<void> {
    return new Promise((done) => {
      this.#server.close(() => done());
      this.#server.closeAllConnections();
    });
  }
}

function route(req: IncomingMessage, res: ServerResponse, registry: Registry, log: MetricsLog, options: MetricsServerOptions): void {
  const path = (req.url ?? '').split('?')[0];
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { 'content-type': 'text/plain', allow: 'GET, HEAD' }).end(`method not allowed: ${PATHS}\n`);
    return;
  }
  switch (path) {
    case '/metrics':
      registry.metrics().then((text) => {
        res.writeHead(200, { 'content-type': registry.contentType }).end(text);
      }, (err: unknown) => {
        log.error({ err: (err as Error).message }, 'metrics collection failed');
        res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics collection failed\n');
      });
      return;
    case '/healthz':
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      return;
    case '/readyz': {
      const answer = readinessOf(options.readiness, log);
      res.writeHead(answer.ready ? 200 : 503, { 'content-type': 'application/json' }).end(`${JSON.stringify(answer)}\n`);
      return;
    }
    default:
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found: ${PATHS}\n`);
  }
}

/** A readiness function that throws is not ready, and says why. */
function readinessOf(readiness: (() => Readiness) | undefined, log: MetricsLog): Readiness {
  if (readiness === undefined) return { ready: true, checks: {} };
  try {
    return readiness();
  } catch (err) {
    log.error({ err: (err as Error).message }, 'readiness check failed');
    return { ready: false, checks: { readiness: { ok: false, detail: `the check itself failed: ${(err as Error).message}` } } };
  }
}
