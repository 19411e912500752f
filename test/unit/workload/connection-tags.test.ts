import { spawn } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { WorkloadError, WorkloadServer } from '../../../agent/workload/index.js';
import { FakePeerReader } from '../../fakes/fake-peer-reader.js';
import { FakeWorkloadBackend } from '../../fakes/fake-workload-backend.js';
import { exited, waitFor } from '../../support/wait.js';
import {
  RecordingLog, startWorkloadServer, svidFixture, type SvidFixture, type WorkloadHarness,
} from '../../support/workload-server.js';

let svid: SvidFixture;
let dir: string;

beforeAll(async () => {
  svid = await svidFixture('spiffe://example.org/app');
});

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tether-socket-'));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function serverAt(socketPath: string): WorkloadServer {
  return new WorkloadServer({ socketPath, backend: new FakeWorkloadBackend(), peers: new FakePeerReader(), log: new RecordingLog() });
}

/** Whether a Unix socket accepts a connection. */
function accepts(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

describe('the socket', () => {
  it('is made mode 0666 in a directory made for it', async () => {
    const path = join(dir, 'a', 'b', 'agent.sock');
    const server = serverAt(path);
    await server.start();
    try {
      const st = lstatSync(path);
      expect(st.isSocket()).toBe(true);
      expect((st.mode & 0o777).toString(8)).toBe('666');
      expect(statSync(join(dir, 'a', 'b')).isDirectory()).toBe(true);
    } finally {
      await server.close(100);
    }
    expect(existsSync(path)).toBe(false);
  });

  it('replaces a stale socket file nobody listens on', async () => {
    const path = join(dir, 'agent.sock');
    // A listener killed with SIGKILL leaves its socket file behind.
    const child = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, 'SIGKILL'))`]);
    await exited(child);
    expect(lstatSync(path).isSocket()).toBe(true);
    expect(await accepts(path)).toBe(false);
    const server = serverAt(path);
    await server.start();
    try {
      expect(await accepts(path)).toBe(true);
    } finally {
      await server.close(100);
    }
  });

  it('does not steal a socket another server is listening on', async () => {
    const path = join(dir, 'agent.sock');
    const other = createServer((s) => s.on('error', () => {}).end('other'));
    await new Promise<void>((resolve) => other.listen(path, resolve));
    try {
      const err = await serverAt(path).start().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WorkloadError);
      expect((err as WorkloadError).code).toBe('SOCKET_IN_USE');
      expect(await accepts(path)).toBe(true);
      const reply = await new Promise<string>((resolve) => {
        const s = connect(path);
        s.on('data', (d) => resolve(d.toString()));
      });
      expect(reply).toBe('other');
    } finally {
      await new Promise((resolve) => other.close(resolve));
    }
  });

  it('refuses to replace a file that is not a socket', async () => {
    const path = join(dir, 'agent.sock');
    writeFileSync(path, 'precious');
    const err = await serverAt(path).start().catch((e: unknown) => e);
    expect((err as WorkloadError).code).toBe('SOCKET_SETUP');
    expect(readFileSync(path, 'utf8')).toBe('precious');
  });

  it('refuses when the directory cannot be made', async () => {
    writeFileSync(join(dir, 'file'), '');
    const err = await serverAt(join(dir, 'file', 'agent.sock')).start().catch((e: unknown) => e);
    expect((err as WorkloadError).code).toBe('SOCKET_SETUP');
  });
});

describe('connections', () => {
  let h: WorkloadHarness;

  beforeEach(async () => {
    h = await startWorkloadServer();
    h.backend.programs.set(4242, '/usr/bin/app');
    h.backend.entitlements.set('/usr/bin/app', [svid.item]);
  });

  afterEach(async () => {
    await h.close();
  });

  it('reads the peer from the accepted socket\'s fd and closes its pidfd when the connection closes', async () => {
    const client = h.client();
    await client.fetchX509();
    expect(h.server.connections).toBe(1);
    expect(h.peers.pidfds).toHaveLength(1);
    expect(h.peers.pidfds[0]?.closed).toBe(false);
    client.close();
    await waitFor('the connection to close', () => h.server.connections === 0);
    expect(h.peers.pidfds[0]?.closed).toBe(true);
  });

  it('closes a connection whose peer credentials cannot be read, and serves the next', async () => {
    h.peers.failNext = true;
    const err = await h.client().fetchX509().catch((e: unknown) => e);
    expect((err as WorkloadError).status).toBe('UNAVAILABLE');
    expect(h.backend.identified).toBe(0);
    expect(h.log.lines.some((l) => l.level === 'warn' && l.msg.includes('peer credentials'))).toBe(true);
    expect((await h.client().fetchX509()).svids).toHaveLength(1);
  });

  it('gives each connection its own tag, the one the backend is handed', async () => {
    await h.client().fetchX509();
    await h.client().fetchX509();
    const tags = h.backend.peers.map((p) => p.connectionId);
    expect(tags).toHaveLength(2);
    expect(new Set(tags).size).toBe(2);
    for (const tag of tags) expect(tag).toMatch(/^tether-conn-[0-9a-f]{32}$/);
  });
});

describe('a socket path under a directory that exists', () => {
  it('leaves the directory\'s mode alone', async () => {
    const sub = join(dir, 'public');
    mkdirSync(sub, { mode: 0o711 });
    const server = serverAt(join(sub, 'agent.sock'));
    await server.start();
    await server.close(100);
    expect((statSync(sub).mode & 0o777).toString(8)).toBe('711');
  });
});
