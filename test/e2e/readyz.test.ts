import { mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BpfLink } from '../../agent/kernel/index.js';
import { AgentProcess } from '../support/agent-process.js';
import { TestCgroup } from '../support/test-cgroup.js';
import { exited } from '../support/wait.js';
import { freePortSync } from '../support/free-port.js';

// The real agent enforcing on a child cgroup (never the v2 root), with its kernel health checked
// every 300 ms: a hook detached behind its back (as `tether uninstall` or `bpftool link detach`
// does it) turns /readyz to 503 naming the check and the program; the agent re-attaches it and
// /readyz is 200 again, with the deny back in force.
const PY = realpathSync('/usr/bin/python3');
const PORT = freePortSync();
const INTERVAL_MS = 300;

interface ReadyAnswer {
  readonly status: number;
  readonly body: { ready: boolean; checks: Record<string, { ok: boolean; detail?: string }> };
}

describe('/readyz and the kernel health check', () => {
  let dir: string;
  let cg: TestCgroup;
  let agent: AgentProcess | undefined;

  const readyz = async (): Promise<ReadyAnswer> => {
    const res = await fetch(`http://127.0.0.1:${agent?.metricsPort}/readyz`);
    return { status: res.status, body: await res.json() as ReadyAnswer['body'] };
  };
  /** One connect from the cgroup to a closed local port: EPERM while the hook denies, else ECONNREFUSED. */
  const connect = async (): Promise<string> => {
    const child = cg.spawn([PY, '-c', `import errno, socket
try: socket.create_connection(("127.0.0.1", ${PORT}), 5); print("ok")
except OSError as e: print(errno.errorcode.get(e.errno, str(e.errno)))`], 'pipe');
    let out = '';
    child.stdout?.on('data', (b: Buffer) => { out += b.toString(); });
    await exited(child);
    return out.trim();
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tether-e2e-readyz-'));
    writeFileSync(join(dir, 'policy.yaml'), 'mode: enforce\nunidentified: deny\nrules: []\n');
    writeFileSync(join(dir, 'config.yaml'), `health:\n  intervalMs: ${INTERVAL_MS}\n`);
    cg = TestCgroup.create('tether-e2e-readyz');
    agent = await AgentProcess.start('entries: []\n', ['--policy', join(dir, 'policy.yaml'), '--cgroup', cg.path, '--config', join(dir, 'config.yaml')]);
  });
  afterAll(async () => {
    await agent?.stop(); // stop() uninstalls its pin dir
    await cg.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is ready with the kernel checks passing', async () => {
    const { body } = await poll(async () => { const a = await readyz(); return a.status === 200 ? a : undefined; }, 'ready');
    expect(body.ready).toBe(true);
    expect(body.checks['kernel.proc_tracepoints']).toEqual({ ok: true });
    expect(body.checks['kernel.sock_hooks']).toEqual({ ok: true });
    expect(await connect()).toBe('EPERM');
  });

  it('turns 503 naming the detached hook, and 200 again once the agent re-attached it', async () => {
    const pinned = BpfLink.openPinned(join(agent?.pinDir as string, 'link_connect4'));
    try { pinned.detach(); } finally { pinned.destroy(); }
    const seen: ReadyAnswer[] = [];
    const down = await poll(async () => { const a = await readyz(); seen.push(a); return a.status === 503 ? a : undefined; }, 'a 503');
    expect(down.body.ready).toBe(false);
    expect(down.body.checks['kernel.sock_hooks']).toEqual({ ok: false, detail: 'handle_connect4: detached behind the agent\'s back' });
    expect(down.body.checks['kernel.proc_tracepoints']).toEqual({ ok: true });
    const up = await poll(async () => { const a = await readyz(); return a.status === 200 ? a : undefined; }, 'a 200 again');
    expect(up.body.checks['kernel.sock_hooks']).toEqual({ ok: true });
    expect(await connect()).toBe('EPERM'); // the repaired hook denies again
    const logged = (agent?.stderr ?? '').split('\n').filter((l) => l.includes('"component":"health"'));
    expect(logged.some((l) => l.includes('"level":50') && l.includes('handle_connect4') && l.includes('not ready'))).toBe(true);
    expect(logged.some((l) => l.includes('kernel programs repaired') && l.includes('handle_connect4: re-attached'))).toBe(true);
    // A restarted agent would adopt the pin: it holds the new link, attached to the cgroup.
    const now = BpfLink.openPinned(join(agent?.pinDir as string, 'link_connect4'));
    try {
      expect(now.info()).toMatchObject({ typeName: 'cgroup', cgroupId: cg.id });
    } finally {
      now.destroy();
    }
  });
});

/** Polls an async probe (the agent answers over HTTP) until it gives a value. */
async function poll<T>(probe: () => Promise<T | undefined>, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
