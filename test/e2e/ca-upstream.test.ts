import { execFileSync, spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentProcess, TETHER_BIN } from '../support/agent-process.js';

// Two real agents (two "hosts": their own state dirs, sockets and pins) given one shared root by
// `ca.upstream`; the root is made by openssl, not by us. A real client (`tether api fetch x509
// --write`, entitled as root's node) fetches from each; openssl verifies A's SVID against B's bundle.
const NODE = realpathSync(process.execPath);
const entries = (name: string): string => `entries:
  - spiffeId: spiffe://example.org/host-${name}/tests
    selectors: ["unix:uid:0", "unix:path:${NODE}"]
`;

let work: string;
const agents: AgentProcess[] = [];

function certs(pemText: string): string[] {
  return pemText.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g) ?? [];
}

function fetchX509(agent: AgentProcess, name: string): { svid: string[]; bundle: string } {
  const out = join(work, `fetched-${name}`);
  const r = spawnSync(process.execPath, [TETHER_BIN, 'api', 'fetch', 'x509', '--socket', agent.socket, '--write', out], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return { svid: certs(readFileSync(join(out, 'svid.0.pem'), 'utf8')), bundle: readFileSync(join(out, 'bundle.0.pem'), 'utf8') };
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'tether-e2e-upstream-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', join(work, 'root.key'), '-out', join(work, 'root.crt'), '-subj', '/CN=shared root', '-days', '2',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    '-addext', 'subjectAltName=URI:spiffe://example.org'], { stdio: 'ignore' });
  writeFileSync(join(work, 'config.yaml'),
    `ca:\n  upstream:\n    certFile: ${join(work, 'root.crt')}\n    keyFile: ${join(work, 'root.key')}\n`);
  for (const name of ['a', 'b']) agents.push(await AgentProcess.start(entries(name), ['--config', join(work, 'config.yaml')]));
}, 90_000);

afterAll(async () => {
  for (const agent of agents.splice(0)) await agent.stop();
  rmSync(work, { recursive: true, force: true });
});

describe('ca.upstream: agents on two hosts trust each other\'s X509-SVIDs', () => {
  it('an SVID fetched from agent A verifies with openssl against the bundle fetched from agent B', () => {
    const [a, b] = agents as [AgentProcess, AgentProcess];
    const fromA = fetchX509(a, 'a');
    const fromB = fetchX509(b, 'b');
    expect(fromA.svid).toHaveLength(2); // leaf + A's own intermediate
    expect(certs(fromB.bundle)).toHaveLength(1);
    expect(new X509Certificate(fromB.bundle).fingerprint256).toBe(new X509Certificate(readFileSync(join(work, 'root.crt'))).fingerprint256);
    expect(fromA.bundle).toBe(fromB.bundle);
    expect(fromA.svid[1]).not.toBe(fromB.svid[1]); // each agent its own intermediate

    writeFileSync(join(work, 'b-bundle.pem'), fromB.bundle);
    writeFileSync(join(work, 'a-leaf.pem'), fromA.svid[0] ?? '');
    writeFileSync(join(work, 'a-intermediate.pem'), fromA.svid[1] ?? '');
    const verify = spawnSync('openssl', ['verify', '-CAfile', join(work, 'b-bundle.pem'), '-untrusted', join(work, 'a-intermediate.pem'),
      join(work, 'a-leaf.pem')], { encoding: 'utf8' });
    expect(verify.stdout + verify.stderr).toMatch(/a-leaf\.pem: OK/);
    expect(new X509Certificate(fromA.svid[0] ?? '').subjectAltName).toContain('spiffe://example.org/host-a/tests');
  });

  it('`tether ca show` says upstream, with the root and each agent\'s own intermediate', () => {
    const shown = agents.map((agent) => {
      const r = agent.cli(['ca', 'show', '-o', 'json']);
      expect(r.status, r.stderr).toBe(0);
      return JSON.parse(r.stdout) as { mode: string; upstream: { fingerprintSha256: string; notAfter: string }; x509: Array<{ state: string; intermediate: { fingerprintSha256: string; notAfter: string } }> };
    });
    const rootFp = new X509Certificate(readFileSync(join(work, 'root.crt'))).fingerprint256;
    for (const s of shown) {
      expect(s.mode).toBe('upstream');
      expect(s.upstream.fingerprintSha256).toBe(rootFp);
      expect(Date.parse(s.x509.find((x) => x.state === 'active')?.intermediate.notAfter ?? '')).toBeLessThanOrEqual(Date.parse(s.upstream.notAfter));
    }
    expect(shown[0]?.x509[0]?.intermediate.fingerprintSha256).not.toBe(shown[1]?.x509[0]?.intermediate.fingerprintSha256);
    const table = agents[0]?.cli(['ca', 'show']);
    expect(table?.stdout).toMatch(/^Mode: +upstream/m);
    expect(table?.stdout).toMatch(/^Intermediate: [0-9a-f]{16}, expires /m);
  });
});

describe('ca.upstream that cannot be used', () => {
  it('stops the agent at start, naming the file', async () => {
    const config = join(work, 'missing.yaml');
    writeFileSync(config, `ca:\n  upstream:\n    certFile: ${join(work, 'nope.crt')}\n    keyFile: ${join(work, 'root.key')}\n`);
    const started = AgentProcess.start(entries('c'), ['--config', config], 20_000);
    await expect(started).rejects.toThrow(`ca.upstream.certFile ${join(work, 'nope.crt')} does not exist`);
  });
});
