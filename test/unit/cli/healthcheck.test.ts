import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AdminError } from '../../../agent/admin/index.js';
import { runCli, startAdminServer, tetherAdmin, type AdminHarness } from '../../support/admin-server.js';

let h: AdminHarness;

beforeEach(async () => {
  h = await startAdminServer();
});

afterEach(async () => {
  await h.close();
});

describe('tether healthcheck', () => {
  it('exits 0, quietly, when the agent answers', async () => {
    const r = await tetherAdmin(h, 'healthcheck');
    expect(r).toEqual({ code: 0, stdout: '', stderr: '' });
  });

  it('says so in JSON with -o json', async () => {
    const r = await tetherAdmin(h, 'healthcheck', '-o', 'json');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ healthy: true, socket: h.socketPath, version: '9.8.7', pid: 4242, uptimeSeconds: 3723.5 });
  });

  it('exits 1 with one line why when nothing listens on the socket', async () => {
    const missing = join(h.dir, 'state', 'gone.sock');
    const r = await runCli(['healthcheck', '--admin-socket', missing]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`tether: unhealthy: cannot reach the agent's admin socket ${missing}: ENOENT (is \`tether agent run\` running?) (UNREACHABLE)\n`);
  });

  it('exits 1 when the agent answers with an error, and prints the reason as JSON with -o json', async () => {
    h.backend.failNext = new AdminError('UNAVAILABLE', 'the agent is stopping');
    const r = await tetherAdmin(h, 'healthcheck', '-o', 'json');
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toEqual({ healthy: false, socket: h.socketPath, error: 'the agent is stopping (UNAVAILABLE)' });
    expect(r.stderr).toBe('tether: unhealthy: the agent is stopping (UNAVAILABLE)\n');
  });

  it('exits 2 on bad arguments', async () => {
    expect((await tetherAdmin(h, 'healthcheck', '--output', 'xml')).code).toBe(2);
    expect((await tetherAdmin(h, 'healthcheck', 'extra')).code).toBe(2);
  });
});
