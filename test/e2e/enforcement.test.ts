import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentProcess, TETHER_BIN } from '../support/agent-process.js';
import { TestCgroup } from '../support/test-cgroup.js';
import { exited, waitFor } from '../support/wait.js';
import { freePortSync } from '../support/free-port.js';

// The real agent with a policy, enforcing on a child cgroup (never the v2 root): curl (identity
// client) to python's http.server (identity server), by a rule, without it, after kill -9.
const PY = realpathSync('/usr/bin/python3');
const CURL = realpathSync('/usr/bin/curl');
const PORT = freePortSync();

const policyWith = (rules: string): string => `mode: enforce\nunidentified: allow\nrules:${rules}\n`;
const ALLOW = `
  - from: spiffe://example.org/client
    to: spiffe://example.org/server
    ports: [${PORT}]`;

describe('enforcement by the agent', () => {
  let dir: string;
  let cg: TestCgroup;
  let agent: AgentProcess | undefined;
  let server: ReturnType<typeof spawn> | undefined;

  const curl = async (): Promise<number | null> => exited(cg.spawn([CURL, '-s', '-o', '/dev/null', '--max-time', '5', `http://127.0.0.1:${PORT}/`]));
  const start = (): Promise<AgentProcess> => AgentProcess.start(`entries:
  - spiffeId: spiffe://example.org/client
    selectors: ["unix:uid:0", "unix:path:${CURL}"]
  - spiffeId: spiffe://example.org/server
    selectors: ["unix:uid:0", "unix:path:${PY}"]
`, ['--policy', join(dir, 'policy.yaml'), '--cgroup', cg.path]);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tether-e2e-enforce-'));
    writeFileSync(join(dir, 'policy.yaml'), policyWith(ALLOW));
    cg = TestCgroup.create('tether-e2e-enforce');
    agent = await start();
    server = cg.spawn([PY, '-m', 'http.server', String(PORT), '--bind', '127.0.0.1']);
    await waitFor('the server', () => spawnSync(CURL, ['-s', '-o', '/dev/null', `http://127.0.0.1:${PORT}/`]).status === 0 || undefined);
  });
  afterAll(async () => {
    server?.kill('SIGKILL');
    await agent?.stop(); // stop() uninstalls its pin dir
    await cg.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('allows curl to the server by the rule, and refuses it with the rule gone', async () => {
    expect(await curl()).toBe(0);
    writeFileSync(join(dir, 'policy.yaml'), policyWith(' []'));
    await waitFor('the new policy', () => (agent?.stderr.match(/"policy in force"/g)?.length ?? 0) >= 2 || undefined, 10_000);
    expect(await curl()).not.toBe(0);
  });

  it('keeps enforcing after the agent is killed with -9, and a restarted agent adopts the hooks', async () => {
    const pinDir = agent?.pinDir as string;
    agent?.child.kill('SIGKILL');
    await exited(agent?.child as ReturnType<typeof spawn>);
    expect(await curl()).not.toBe(0); // still denied: the pinned hooks and maps live on
    writeFileSync(join(dir, 'policy.yaml'), policyWith(ALLOW));
    const next = spawn(process.execPath, [TETHER_BIN, 'agent', 'run', '--trust-domain', 'example.org', '--state-dir', join(agent?.dir as string, 'state'),
      '--socket', join(dir, 'next.sock'), '--entries', agent?.entries as string, '--policy', join(dir, 'policy.yaml'), '--cgroup', cg.path, '--pin-dir', pinDir],
    { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    next.stderr.on('data', (b: Buffer) => { err += b.toString(); });
    try {
      await waitFor('the restarted agent', () => err.includes('"policy in force"') || undefined, 30_000);
      expect(err).toContain('adopted the pinned hooks of an earlier run');
      expect(await curl()).toBe(0);
    } finally {
      next.kill('SIGTERM');
      await exited(next);
    }
  });
});
