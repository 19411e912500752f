import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentProcess } from '../support/agent-process.js';
import { TestCgroup } from '../support/test-cgroup.js';
import { exited, waitFor } from '../support/wait.js';
import { freePortSync } from '../support/free-port.js';

// The real agent on a child cgroup (never the v2 root): an audit run with curl → python's
// http.server and redis-cli → redis-server, `tether events`/`conns`, a policy suggested from what
// was seen and applied in enforce mode, then the same traffic allowed and a new pair denied with
// EPERM. redis-cli's identity comes from its cgroup (decided by the kernel at exec); bash's from
// its sha256, which only user space can decide: it gets it a moment after exec.
const PY = realpathSync('/usr/bin/python3');
const CURL = realpathSync('/usr/bin/curl');
// redis-server is a link to redis-check-rdb, which picks its role from argv[0]: run it by the link,
// name it by the file the kernel sees.
const REDIS_SERVER = realpathSync('/usr/bin/redis-server');
const REDIS_CLI = realpathSync('/usr/bin/redis-cli');
const BASH = realpathSync('/bin/bash');
const BASH_SHA256 = createHash('sha256').update(readFileSync(BASH)).digest('hex');
const HTTP_PORT = freePortSync();
const REDIS_PORT = freePortSync();
const ID = (name: string): string => `spiffe://example.org/${name}`;

interface EventJson { verdict: string; mode: string; from: string | null; to: string | null; destination: string; comm: string }

describe('audit, suggest, apply, enforce', () => {
  let dir: string;
  let cg: TestCgroup;
  let cliGroup: string; // a child of cg: redis-cli runs here
  let agent: AgentProcess;
  const servers: ChildProcess[] = [];

  const curl = async (port: number): Promise<number | null> => exited(cg.spawn([CURL, '-s', '-o', '/dev/null', '--max-time', '5', `http://127.0.0.1:${port}/`]));
  /** redis-cli in the cli sub-cgroup; its output (PONG, or why it could not connect). */
  const redisCli = async (port: number, ...args: string[]): Promise<string> => {
    const child = spawn('/bin/sh', ['-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', cliGroup, REDIS_CLI, '-p', String(port), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => { out += b.toString(); });
    child.stderr.on('data', (b: Buffer) => { out += b.toString(); });
    await exited(child);
    return out.trim();
  };
  const events = (): EventJson[] => {
    const r = agent.cli(['events', '--output', 'json', '--limit', '1000']);
    expect(r.stderr).toBe('');
    return r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as EventJson);
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tether-e2e-learn-'));
    writeFileSync(join(dir, 'policy.yaml'), 'mode: audit\nunidentified: allow\nrules: []\n');
    cg = TestCgroup.create('tether-e2e-learn');
    cliGroup = join(cg.path, 'cli');
    mkdirSync(cliGroup);
    agent = await AgentProcess.start(`entries:
  - spiffeId: ${ID('web')}
    selectors: ["unix:path:${CURL}"]
  - spiffeId: ${ID('http')}
    selectors: ["unix:path:${PY}"]
  - spiffeId: ${ID('redis')}
    selectors: ["unix:path:${REDIS_SERVER}"]
  - spiffeId: ${ID('cache-client')}
    selectors: ["cgroup:path:${cg.relPath}/cli"]
  - spiffeId: ${ID('probe')}
    selectors: ["unix:sha256:${BASH_SHA256}"]
`, ['--policy', join(dir, 'policy.yaml'), '--cgroup', cg.path]);
    servers.push(cg.spawn([PY, '-m', 'http.server', String(HTTP_PORT), '--bind', '127.0.0.1']));
    servers.push(cg.spawn(['/usr/bin/redis-server', '--port', String(REDIS_PORT), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']));
    await waitFor('the http server', () => spawnSync(CURL, ['-s', '-o', '/dev/null', `http://127.0.0.1:${HTTP_PORT}/`]).status === 0 || undefined);
    await waitFor('redis', () => spawnSync(REDIS_CLI, ['-p', String(REDIS_PORT), 'ping'], { encoding: 'utf8' }).stdout.includes('PONG') || undefined);
  }, 60_000);
  afterAll(async () => {
    for (const s of servers) s.kill('SIGKILL');
    await agent?.stop(); // uninstalls its pin dir
    await waitFor('the cli cgroup to empty and go', () => {
      try { rmdirSync(cliGroup); return true; } catch (err) { return (err as NodeJS.ErrnoException).code === 'ENOENT'; }
    });
    await cg?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('audit mode allows everything and reports each would-deny with identities: events, conns, metrics', async () => {
    expect(await curl(HTTP_PORT)).toBe(0);
    expect(await redisCli(REDIS_PORT, 'ping')).toBe('PONG');
    const seen = await waitFor('audit events for both pairs', () => {
      const e = events();
      return e.some((x) => x.from === ID('web') && x.to === ID('http')) && e.some((x) => x.from === ID('cache-client') && x.to === ID('redis')) && e;
    });
    expect(seen.find((x) => x.from === ID('cache-client'))).toMatchObject({ verdict: 'audit', mode: 'audit', destination: `127.0.0.1:${REDIS_PORT}`, comm: 'redis-cli' });

    // user space decides bash (by digest) while it sleeps; then it connects with that identity
    expect(await exited(cg.spawn([BASH, '-c', `sleep 1; exec 3<>/dev/tcp/127.0.0.1/${HTTP_PORT}`]))).toBe(0);
    await waitFor('the probe\'s audit event', () => events().find((x) => x.from === ID('probe') && x.to === ID('http')));

    // a connection held open (BLPOP waits 3 s) shows in `tether conns`, both sides
    const holder = redisCli(REDIS_PORT, 'blpop', 'nothing', '3');
    const conns = await waitFor('the held connection', () => {
      const r = agent.cli(['conns', '--output', 'json']);
      const list = (JSON.parse(r.stdout || '{"connections":[]}') as { connections: Array<{ role: string; localId: string | null; peerId: string | null; peer: string }> }).connections;
      const client = list.find((c) => c.role === 'client' && c.localId === ID('cache-client'));
      const server = list.find((c) => c.role === 'server' && c.localId === ID('redis') && c.peerId === ID('cache-client'));
      return client && server && { client, server };
    });
    expect(conns.client).toMatchObject({ peerId: ID('redis'), peer: `127.0.0.1:${REDIS_PORT}` });
    await holder;

    const metrics = await (await fetch(`http://127.0.0.1:${agent.metricsPort}/metrics`)).text();
    const audits = Number(/tether_policy_verdicts_total\{[^}]*verdict="audit"[^}]*\} (\d+)/.exec(metrics)?.[1]);
    expect(audits).toBeGreaterThanOrEqual(3);
    expect(metrics).toMatch(/tether_policy_events_total\{verdict="audit"\} [1-9]/);
  });

  it('suggests the least-privilege policy; applied in enforce mode it allows the observed traffic and denies a new pair', async () => {
    const suggested = join(dir, 'suggested.yaml');
    const s = agent.cli(['policy', 'suggest', '--out', suggested]);
    expect(s.status).toBe(0);
    const text = readFileSync(suggested, 'utf8');
    expect(text).toContain('mode: enforce');
    expect(text).toContain(`from: ${ID('cache-client')}`);
    // one more rule nothing uses, for `policy unused`
    writeFileSync(suggested, `${text}  - from: ${ID('web')}\n    to: ${ID('redis')}\n    ports: [1]\n`);
    const applied = agent.cli(['policy', 'apply', suggested]);
    expect(applied.status, applied.stderr).toBe(0);
    expect(readFileSync(join(dir, 'policy.yaml'), 'utf8')).toContain('mode: enforce'); // the watched file agrees with the kernel

    expect(await curl(HTTP_PORT)).toBe(0);
    expect(await redisCli(REDIS_PORT, 'ping')).toBe('PONG');
    expect(await curl(REDIS_PORT)).toBe(7); // web → redis was never seen: connect() fails, curl "couldn't connect"
    expect(await redisCli(HTTP_PORT, 'ping')).toMatch(/Operation not permitted/); // cache-client → http: EPERM
    await waitFor('the deny events', () => {
      const denies = events().filter((e) => e.verdict === 'deny');
      return denies.some((e) => e.from === ID('web') && e.to === ID('redis')) && denies.some((e) => e.from === ID('cache-client') && e.to === ID('http'));
    });

    const check = agent.cli(['policy', 'check', '--from', ID('web'), '--to', ID('http'), '--port', String(HTTP_PORT), '--output', 'json']);
    expect(JSON.parse(check.stdout)).toMatchObject({ verdict: 'allow', mode: 'enforce', line: expect.any(Number) });
    const no = agent.cli(['policy', 'check', '--from', ID('web'), '--to', ID('redis'), '--port', String(REDIS_PORT), '--output', 'json']);
    expect(JSON.parse(no.stdout)).toMatchObject({ verdict: 'deny', reason: expect.stringContaining('no rule allows') });
    const unused = JSON.parse(agent.cli(['policy', 'unused', '--output', 'json']).stdout) as Array<{ from: string; to: string; ports: string }>;
    expect(unused).toEqual([expect.objectContaining({ from: ID('web'), to: ID('redis'), ports: '1' })]);
  });

  it('refuses a bad policy whole, naming the line, and the last good one keeps enforcing', async () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'mode: enforce\nrules:\n  - from: spiffe://example.org/web\n    to: spiffe://example.org/http\n    ports: [99999]\n');
    const r = agent.cli(['policy', 'apply', bad]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/:5:.*port 99999 is out of range/);
    expect(await curl(HTTP_PORT)).toBe(0);
    expect(await curl(REDIS_PORT)).toBe(7);
  });
});
