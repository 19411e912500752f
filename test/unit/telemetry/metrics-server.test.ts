import { createServer } from 'node:net';
import { Counter, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { MetricsServer, parseListenAddress, type Readiness } from '../../../agent/telemetry/index.js';

const quiet = { info: () => undefined, error: () => undefined };

describe('MetricsServer', () => {
  it('serves the registry as Prometheus text on /metrics, 404 elsewhere', async () => {
    const registry = new Registry();
    const c = new Counter({ name: 'tether_test_total', help: 'a test counter', registers: [registry] });
    c.inc(3);
    const server = await MetricsServer.start('127.0.0.1:0', registry, quiet);
    try {
      const res = await fetch(`http://127.0.0.1:${server?.port}/metrics`);
      expect(res.status).toBe(200);
      expect(await res.text()).toContain('tether_test_total 3');
      expect((await fetch(`http://127.0.0.1:${server?.port}/`)).status).toBe(404);
    } finally {
      await server?.close();
    }
  });

  it('answers /healthz 200 "ok" while the process and its event loop answer', async () => {
    const server = await MetricsServer.start('127.0.0.1:0', new Registry(), quiet);
    try {
      const res = await fetch(`http://127.0.0.1:${server?.port}/healthz`);
      expect(res.status).toBe(200);
      expect(await res.text()).toBe('ok\n');
      expect((await fetch(`http://127.0.0.1:${server?.port}/healthz`, { method: 'POST' })).status).toBe(405);
    } finally {
      await server?.close();
    }
  });

  it('answers /readyz 200 with the checks when ready, 503 with them when not, 503 when the check throws', async () => {
    let answer: Readiness = { ready: true, checks: { ca: { ok: true, detail: 'CA 1 active' } } };
    const errors: string[] = [];
    const server = await MetricsServer.start('127.0.0.1:0', new Registry(), { ...quiet, error: (_o, m) => errors.push(m) }, {
      readiness: () => {
        if (answer === undefined) throw new Error('boom');
        return answer;
      },
    });
    const readyz = async (): Promise<[number, unknown]> => {
      const res = await fetch(`http://127.0.0.1:${server?.port}/readyz`);
      expect(res.headers.get('content-type')).toBe('application/json');
      return [res.status, await res.json()];
    };
    try {
      expect(await readyz()).toEqual([200, { ready: true, checks: { ca: { ok: true, detail: 'CA 1 active' } } }]);
      answer = { ready: false, checks: { ca: { ok: true }, workload_api: { ok: false, detail: 'starting' } } };
      expect(await readyz()).toEqual([503, answer]);
      answer = undefined as unknown as Readiness;
      const [code, body] = await readyz();
      expect(code).toBe(503);
      expect(body).toMatchObject({ ready: false, checks: { readiness: { ok: false, detail: expect.stringContaining('boom') } } });
      expect(errors).toEqual(['readiness check failed']);
    } finally {
      await server?.close();
    }
  });

  it('answers /readyz 200 with no checks when the daemon supplies none', async () => {
    const server = await MetricsServer.start('127.0.0.1:0', new Registry(), quiet);
    try {
      const res = await fetch(`http://127.0.0.1:${server?.port}/readyz`);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ ready: true, checks: {} });
    } finally {
      await server?.close();
    }
  });

  it('logs a taken port and serves nothing, rather than stopping the agent; "off" serves nothing', async () => {
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', () => r()));
    const port = (taken.address() as { port: number }).port;
    const errors: string[] = [];
    try {
      const s = await MetricsServer.start(`127.0.0.1:${port}`, new Registry(), { info: () => undefined, error: (_o, m) => errors.push(m) });
      expect(s).toBeUndefined();
      expect(errors).toEqual(['metrics not served: cannot listen']);
    } finally {
      taken.close();
    }
    expect(await MetricsServer.start('off', new Registry(), quiet)).toBeUndefined();
  });

  it('parses host:port, [v6]:port, a bare port (on loopback) and off; refuses anything else by what it wants', () => {
    expect(parseListenAddress('127.0.0.1:9811')).toEqual({ host: '127.0.0.1', port: 9811 });
    expect(parseListenAddress('9811')).toEqual({ host: '127.0.0.1', port: 9811 });
    expect(parseListenAddress('0')).toEqual({ host: '127.0.0.1', port: 0 });
    expect(parseListenAddress('[::1]:9811')).toEqual({ host: '::1', port: 9811 });
    expect(parseListenAddress('off')).toBe('off');
    for (const bad of ['nine', '127.0.0.1', '127.0.0.1:99999', '::1:80', '99999']) expect(() => parseListenAddress(bad)).toThrow(/host:port/);
  });
});
