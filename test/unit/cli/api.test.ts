import { readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { endpointAddress } from '../../../agent/cli/commands/api.js';
import { run } from '../../../agent/cli/program.js';
import { parseX509Svid, parseX509SvidChain } from '../../../agent/spiffe/index.js';
import { jwks, startWorkloadServer, svidFixture, type SvidFixture, type WorkloadHarness } from '../../support/workload-server.js';

const ID = 'spiffe://example.org/cli';
let svid: SvidFixture;
let foreign: SvidFixture;
let h: WorkloadHarness;

beforeAll(async () => {
  svid = await svidFixture(ID, 'cli-hint');
  foreign = await svidFixture('spiffe://other.org/x');
});

beforeEach(async () => {
  h = await startWorkloadServer();
  h.backend.programs.set(4242, '/usr/bin/tether');
  h.backend.entitlements.set('/usr/bin/tether', [svid.item]);
  h.backend.federatedBundles = new Map([['spiffe://other.org', foreign.root.der]]);
  h.backend.bundles = new Map([['spiffe://example.org', svid.root.der]]);
  h.backend.jwks = new Map([['spiffe://example.org', jwks('k1')]]);
});

afterEach(async () => {
  vi.restoreAllMocks();
  await h.close();
});

/** Runs `tether api ...` in this process against the harness socket: exit code and output. */
async function tether(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => { stdout += String(chunk); return true; });
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => { stderr += String(chunk); return true; });
  try {
    const code = await run(['node', 'tether', 'api', ...args, '--socket', h.socketPath]);
    return { code, stdout, stderr };
  } finally {
    vi.restoreAllMocks();
  }
}

describe('tether api fetch x509', () => {
  it('prints what it received and writes the files spire-agent writes', async () => {
    const dir = join(h.dir, 'out');
    const r = await tether('fetch', 'x509', '--write', dir);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^Received 1 svid after [0-9.]+ms\n/);
    expect(r.stdout).toContain(`SPIFFE ID:\t\t${ID}`);
    expect(r.stdout).toContain('Hint:\t\t\tcli-hint');
    expect(r.stdout).toContain('[spiffe://other.org] CA #1 Valid Until:');
    const chain = readFileSync(join(dir, 'svid.0.pem'));
    expect(parseX509SvidChain(chain).id.toString()).toBe(ID);
    expect(parseX509Svid(chain, readFileSync(join(dir, 'svid.0.key'))).chain).toEqual([svid.leaf.der]);
    expect((statSync(join(dir, 'svid.0.key')).mode & 0o777).toString(8)).toBe('600');
    expect(readFileSync(join(dir, 'bundle.0.pem'), 'utf8')).toBe(svid.root.pem.trimEnd() + '\n');
    expect(readFileSync(join(dir, 'federated_bundle.0.0.pem'), 'utf8')).toBe(foreign.root.pem.trimEnd() + '\n');
    rmSync(dir, { recursive: true });
  });

  it('is the default of `fetch`, and says why when there is no identity (exit 1)', async () => {
    expect((await tether('fetch', '-o', 'json')).stdout).toContain(ID);
    h.backend.entitlements.clear();
    const r = await tether('fetch');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('PERMISSION_DENIED: no identity issued');
  });
});

describe('tether api fetch jwt | bundle', () => {
  it('prints each token with its ID; JSON with --output json', async () => {
    const r = await tether('fetch', 'jwt', '--audience', 'db,cache', '-o', 'json');
    expect(r.code, r.stderr).toBe(0);
    const rows = JSON.parse(r.stdout) as Array<{ spiffeId: string; token: string }>;
    expect(rows.map((x) => x.spiffeId)).toEqual([ID]);
    expect(Buffer.from(rows[0]!.token.split('.')[1]!, 'base64url').toString()).toBe(`${ID}|db,cache`);
  });

  it('fetch jwt without --audience is a usage error', async () => {
    expect((await tether('fetch', 'jwt')).code).toBe(2);
  });

  it('prints the X.509 and JWT bundles', async () => {
    const r = await tether('fetch', 'bundle');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('X.509 bundle spiffe://example.org: 1 authority');
    expect(r.stdout).toContain('JWT bundle spiffe://example.org: keys k1');
  });
});

describe('tether api validate', () => {
  it('prints the subject and claims of a valid token, exit 0; exit 1 for an invalid one', async () => {
    h.backend.tokens.set('good', { spiffeId: ID, audience: ['db'], claims: { sub: ID, aud: ['db'], exp: 1_900_000_000 } });
    const ok = await tether('validate', '--audience', 'db', 'good');
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain(`SPIFFE ID : ${ID}`);
    expect(ok.stdout).toContain('"exp":1900000000');
    const bad = await tether('validate', '--audience', 'db', 'forged');
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain('SVID is not valid: token signature does not verify');
  });
});

describe('the endpoint address', () => {
  it('is --socket, then --state-dir, then SPIFFE_ENDPOINT_SOCKET, then TETHER_STATE_DIR, then the default', () => {
    const env = { SPIFFE_ENDPOINT_SOCKET: 'unix:///env/sock', TETHER_STATE_DIR: '/state' };
    expect(endpointAddress({ socket: '/a b/x.sock', stateDir: '/s' }, env)).toBe('unix:///a%20b/x.sock');
    expect(endpointAddress({ stateDir: '/s' }, env)).toBe('unix:///s/public/agent.sock');
    expect(endpointAddress({}, env)).toBe('unix:///env/sock');
    expect(endpointAddress({}, { TETHER_STATE_DIR: '/state' })).toBe('unix:///state/public/agent.sock');
    expect(endpointAddress({}, {})).toBe('unix:///var/lib/tether/public/agent.sock');
  });

  it('refuses a bad SPIFFE_ENDPOINT_SOCKET as a usage error (exit 2)', async () => {
    vi.stubEnv('SPIFFE_ENDPOINT_SOCKET', 'unix://relative/path');
    let stderr = '';
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => { stderr += String(chunk); return true; });
    const code = await run(['node', 'tether', 'api', 'fetch']);
    vi.unstubAllEnvs();
    vi.restoreAllMocks();
    expect(code).toBe(2);
    expect(stderr).toContain('must not include an authority');
  });
});
