import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';

export interface MetricsLog {
  info(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** "127.0.0.1:9811", "[::1]:9811"; "off" serves nothing. */
export function parseListenAddress(text: string): { host: string; port: number } | 'off' {
  if (text === 'off') return 'off';
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):([0-9]{1,5})$/.exec(text);
  const port = Number(m?.[3]);
  if (m === null || port > 65535) throw new RangeError(`"${text}" is not host:port ("127.0.0.1:9811", "[::1]:9811") or "off"`);
  return { host: m[1] ?? m[2] ?? '', port };
}

/**
 * prom-client's registry on GET /metrics (Prometheus text). A port already taken is logged, not
 * fatal: identities keep being issued without metrics (a liveness probe on this port will show it).
 */
export class MetricsServer {
  readonly #server: Server;
  private constructor(server: Server) {
    this.#server = server;
  }

  static async start(address: string, registry: Registry, log: MetricsLog): Promise<MetricsServer | undefined> {
    const at = parseListenAddress(address);
    if (at === 'off') return undefined;
    const server = createServer((req, res) => {
      if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: metrics are at /metrics\n');
        return;
      }
      registry.metrics().then((text) => {
        res.writeHead(200, { 'content-type': registry.contentType }).end(text);
      }, (err: unknown) => {
        log.error({ err: (err as Error).message }, 'metrics collection failed');
        res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics collection failed\n');
      });
    });
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
