import { execFileSync, spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalAuthority } from '../../agent/ca/index.js';
import { packageRoot } from '../../agent/kernel/index.js';
import { TrustDomain, requireSpiffeId } from '../../agent/spiffe/index.js';
import { AgentProcess } from '../support/agent-process.js';

// The real `tether` binary; SVIDs from our CA and from openssl (an independent implementation).
const BIN = join(packageRoot(), 'build', 'agent', 'cli', 'bin.js');

function tether(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const pem = (der: Buffer): string => new X509Certificate(der).toString();
let dir: string;
beforeAll(() => { dir = mkdtempSync(join(tmpdir(), 'tether-e2e-id-')); });
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('tether id check', () => {
  it('reports each ID with its trust domain and path, or the rule it breaks, and exits 1 if any is bad', () => {
    const r = tether('id', 'check', '--output', 'json', '--', 'spiffe://example.org/web', 'spiffe://Example.org/x', 'spiffe://example.org//y', 'spiffe://example.org');
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toEqual([
      { id: 'spiffe://example.org/web', valid: true, trustDomain: 'example.org', path: '/web' },
      { id: 'spiffe://Example.org/x', valid: false, error: { code: 'BAD_TRUST_DOMAIN_CHAR', message: expect.any(String) } },
      { id: 'spiffe://example.org//y', valid: false, error: { code: 'EMPTY_SEGMENT', message: expect.any(String) } },
      { id: 'spiffe://example.org', valid: true, trustDomain: 'example.org', path: '' },
    ]);
    expect(r.stderr).toBe('');
  });

  it('exits 0 when every ID is valid, and prints a table by default', () => {
    const r = tether('id', 'check', 'spiffe://example.org/a/b');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^ID\s+VALID\s+TRUSTDOMAIN\s+PATH\s+ERROR\nspiffe:\/\/example\.org\/a\/b\s+true\s+example\.org\s+\/a\/b/);
  });

  it('needs at least one ID (exit 2)', () => {
    expect(tether('id', 'check').code).toBe(2);
  });
});

describe('tether svid inspect', () => {
  let good: string;
  let bundle: string;
  let otherBundle: string;

  beforeAll(async () => {
    const ca = await LocalAuthority.open({ stateDir: join(dir, 'ca-a'), trustDomain: TrustDomain.parse('example.org'), now: () => new Date() });
    const other = await LocalAuthority.open({ stateDir: join(dir, 'ca-b'), trustDomain: TrustDomain.parse('example.org'), now: () => new Date() });
    const svid = ca.mintX509Svid({ id: requireSpiffeId('spiffe://example.org/e2e'), ttlSeconds: 600 });
    good = join(dir, 'svid.pem');
    writeFileSync(good, svid.chain.map(pem).join(''));
    writeFileSync(join(dir, 'svid.key'), execFileSync('openssl', ['pkey', '-inform', 'DER'], { input: svid.privateKeyPkcs8 }));
    bundle = join(dir, 'bundle.pem');
    writeFileSync(bundle, ca.x509Bundle().toPem());
    otherBundle = join(dir, 'other.pem');
    writeFileSync(otherBundle, other.x509Bundle().toPem());
    await ca.close();
    await other.close();
  });

  it('accepts an SVID of our CA against its bundle, with its key, and shows ID, expiry and chain', () => {
    const r = tether('svid', 'inspect', good, '--bundle', bundle, '--key', join(dir, 'svid.key'), '--output', 'json');
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { spiffeId: string; valid: boolean; error: null; notAfter: string; checked: string; chain: unknown[] };
    expect(out).toMatchObject({ spiffeId: 'spiffe://example.org/e2e', valid: true, error: null, checked: 'bundle+key' });
    expect(Date.parse(out.notAfter) - Date.now()).toBeGreaterThan(500_000);
    expect(out.chain).toHaveLength(1);
  });

  it('rejects it against another CA\'s bundle, naming the rule, with exit 1', () => {
    const r = tether('svid', 'inspect', good, '--bundle', otherBundle, '--output', 'json');
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({ valid: false, error: { code: 'UNTRUSTED_CHAIN' } });
  });

  it('rejects an openssl-made leaf with two URI SANs, and one that is a CA, each with its code', () => {
    const ossl = (...a: string[]): string => execFileSync('openssl', a, { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    ossl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/O=root',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign', '-keyout', 'root.key', '-out', 'root.pem');
    const leaf = (name: string, ext: string): string => {
      ossl('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/O=leaf', '-keyout', `${name}.key`, '-out', `${name}.csr`);
      writeFileSync(join(dir, `${name}.ext`), ext);
      ossl('x509', '-req', '-in', `${name}.csr`, '-CA', 'root.pem', '-CAkey', 'root.key', '-CAcreateserial', '-days', '1', '-extfile', `${name}.ext`, '-out', `${name}.pem`);
      return join(dir, `${name}.pem`);
    };
    const two = leaf('two', 'subjectAltName=URI:spiffe://example.org/a,URI:spiffe://example.org/b\nkeyUsage=critical,digitalSignature\n');
    const isCa = leaf('isca', 'subjectAltName=URI:spiffe://example.org/a\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,digitalSignature\n');
    const r1 = tether('svid', 'inspect', two, '--bundle', join(dir, 'root.pem'), '--output', 'json');
    expect([r1.code, JSON.parse(r1.stdout).error.code]).toEqual([1, 'MULTIPLE_URI_SANS']);
    const r2 = tether('svid', 'inspect', isCa, '--output', 'json');
    expect([r2.code, JSON.parse(r2.stdout).error.code]).toEqual([1, 'LEAF_IS_CA']);
    const table = tether('svid', 'inspect', isCa);
    expect(table.stdout).toMatch(/Verdict:\s+INVALID — LEAF_IS_CA/);
  });

  it('names a file it cannot read (exit 2)', () => {
    const r = tether('svid', 'inspect', join(dir, 'absent.pem'));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('absent.pem');
  });
});

describe('tether ca show and rotate (the running agent\'s CA)', () => {
  let agent: AgentProcess;
  beforeAll(async () => { agent = await AgentProcess.start('entries: []\n'); });
  afterAll(async () => { await agent.stop(); });

  interface CaJson { trustDomain: string; mode: string; x509: Array<{ id: string; state: string; notAfter: string; lifecycle: { state: string } }>; jwt: Array<{ kid: string; state: string; alg: string }> }

  it('shows the CA the agent created, as JSON and as tables', () => {
    const show = agent.cli(['ca', 'show', '--output', 'json']);
    expect(show.status, show.stderr).toBe(0);
    const status = JSON.parse(show.stdout) as CaJson;
    expect(status.trustDomain).toBe('example.org');
    expect(status.mode).toBe('local');
    expect(status.x509.filter((a) => a.state === 'active')).toHaveLength(1);
    expect(status.x509[0]?.lifecycle.state).toBe(status.x509[0]?.state);
    expect(Date.parse(status.x509[0]?.notAfter ?? '')).toBeGreaterThan(Date.now());
    expect(status.jwt[0]).toMatchObject({ state: 'active', alg: 'ES256' });
    const table = agent.cli(['ca', 'show']);
    expect(table.status, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/^Trust domain: example\.org\nMode: +local .*\n\nX\.509 CAs:\nID\s+STATE\s+KEYTYPE\s+NOTAFTER\s+RETIREAT\s+ROOT\s+INTERMEDIATE\n/);
    expect(table.stdout).toContain('\nJWT keys:\nKID');
  });

  it('rotates in the agent: a new CA and JWT key sign at once, the old ones stay published (retiring)', () => {
    const before = JSON.parse(agent.cli(['ca', 'show', '-o', 'json']).stdout) as CaJson;
    const rotated = agent.cli(['ca', 'rotate', '--output', 'json']);
    expect(rotated.status, rotated.stderr).toBe(0);
    expect(rotated.stderr).toBe(''); // no steps: stdout is not a terminal
    const report = JSON.parse(rotated.stdout) as { x509: { previous: string; active: string }; jwt: { previous: string; active: string } };
    expect(report.x509.previous).toBe(before.x509.find((a) => a.state === 'active')?.id);
    expect(report.x509.active).not.toBe(report.x509.previous);
    expect(report.jwt.previous).toBe(before.jwt.find((k) => k.state === 'active')?.kid);
    const after = JSON.parse(agent.cli(['ca', 'show', '--output', 'json']).stdout) as CaJson;
    expect(after.x509.find((a) => a.state === 'active')?.id).toBe(report.x509.active);
    expect(after.x509.find((a) => a.id === report.x509.previous)?.state).toBe('retiring');
    const again = agent.cli(['ca', 'rotate']);
    expect(again.status, again.stderr).toBe(0);
    expect(again.stdout).toMatch(new RegExp(`^X\\.509 CA: ${report.x509.active} -> [0-9a-f]+\\nJWT key:  ${report.jwt.active} -> \\S+\\n$`));
  });

  it('shows the steps on stderr when stdout is a terminal', () => {
    // script(1) gives the CLI a pseudo-terminal for stdout.
    const cmd = [process.execPath, BIN, 'ca', 'rotate', '--admin-socket', agent.adminSocket].map((a) => `'${a}'`).join(' ');
    const r = spawnSync('script', ['-qec', cmd, '/dev/null'], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stdout).toBe(0);
    expect(r.stdout).toContain(`tether: asking the agent at ${agent.adminSocket} to rotate its CA...`);
    expect(r.stdout).toMatch(/tether: done in \d+ ms/);
    expect(r.stdout).toMatch(/X\.509 CA: [0-9a-f]+ -> [0-9a-f]+/);
  });

  it('exits 2 on bad arguments, and 1 when no agent answers', () => {
    expect(agent.cli(['ca', 'show', '-o', 'yaml']).status).toBe(2);
    expect(agent.cli(['ca', 'rotate', 'now']).status).toBe(2);
    const none = tether('ca', 'show', '--state-dir', join(dir, 'nothing-here'));
    expect(none.code).toBe(1);
    expect(none.stderr).toContain(`cannot reach the agent's admin socket ${join(dir, 'nothing-here', 'admin.sock')}: ENOENT`);
  });

  it('refuses an invalid trust domain at agent start, naming the key (exit 1)', () => {
    const r = tether('agent', 'run', '--trust-domain', 'Example.ORG', '--state-dir', join(dir, 'bad-td'));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/trustDomain: .*(upper|character)/i);
  });
});
