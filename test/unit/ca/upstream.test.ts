import { execFileSync } from 'node:child_process';
import { X509Certificate, generateKeyPairSync } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CaError, LocalAuthority, type LocalAuthorityOptions, type MintedX509Svid } from '../../../agent/ca/index.js';
import { TrustDomain, requireSpiffeId, verifyX509Svid, type X509Bundle } from '../../../agent/spiffe/index.js';
import { FakeClock } from '../../fakes/fake-clock.js';
import { CA_USAGES, KeyUsageFlags, intermediate, issue, root, type Issued } from '../../support/x509-certs.js';

/**
 * `ca.upstream`: agents on different hosts (here: two state dirs) share one root; each mints its
 * own intermediate under it, and their bundles are that root, so each verifies the other's SVIDs.
 */
const TD = TrustDomain.parse('example.org');
const WEB = requireSpiffeId('spiffe://example.org/web');
const DAY = 86_400;
let dir: string;
let clock: FakeClock;
let shared: Issued;
let upstream: { certFile: string; keyFile: string };
const open: LocalAuthority[] = [];

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tether-upstream-'));
  clock = new FakeClock(new Date());
  shared = await root('example.org');
  upstream = write('shared', shared);
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((a) => a.close()));
  rmSync(dir, { recursive: true, force: true });
});

function write(name: string, cert: Issued, keyPem = cert.keyPem): { certFile: string; keyFile: string } {
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  writeFileSync(certFile, cert.pem);
  writeFileSync(keyFile, keyPem, { mode: 0o600 });
  return { certFile, keyFile };
}

async function agent(host: string, extra: Partial<LocalAuthorityOptions> = {}): Promise<LocalAuthority> {
  const a = await LocalAuthority.open({ stateDir: join(dir, host), trustDomain: TD, now: clock.now, ...extra });
  open.push(a);
  return a;
}

async function closeAll(): Promise<void> {
  await Promise.all(open.splice(0).map((a) => a.close()));
}

function verifies(svid: MintedX509Svid, bundle: X509Bundle, now = clock.now()): boolean {
  try {
    verifyX509Svid(svid.chain, (td) => (td.equals(TD) ? bundle : undefined), { now });
    return true;
  } catch {
    return false;
  }
}

const hex = (der: Uint8Array): string => Buffer.from(der).toString('hex');
const roots = (bundle: X509Bundle): string[] => bundle.authorities().map(hex);
const pem = (der: Buffer): string => new X509Certificate(der).toString();

/** `openssl verify -CAfile <bundle> -untrusted <intermediate> <leaf>` at the fake clock's time. */
function opensslVerify(svid: MintedX509Svid, bundle: X509Bundle): string {
  const tmp = mkdtempSync(join(tmpdir(), 'tether-upstream-openssl-'));
  try {
    writeFileSync(join(tmp, 'bundle.pem'), bundle.toPem());
    writeFileSync(join(tmp, 'leaf.pem'), pem(svid.chain[0] as Buffer));
    writeFileSync(join(tmp, 'intermediate.pem'), svid.chain.slice(1).map(pem).join(''));
    const attime = String(Math.floor(clock.now().getTime() / 1000));
    return execFileSync('openssl', ['verify', '-attime', attime, '-CAfile', join(tmp, 'bundle.pem'),
      '-untrusted', join(tmp, 'intermediate.pem'), join(tmp, 'leaf.pem')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

async function refusal(files: { certFile: string; keyFile: string }): Promise<CaError> {
  const err = await LocalAuthority.open({ stateDir: join(dir, 'refused'), trustDomain: TD, now: clock.now, upstream: files })
    .then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(CaError);
  expect((err as CaError).code).toBe('UPSTREAM');
  return err as CaError;
}

describe('ca.upstream: two agents under one shared root', () => {
  it('each signs with its own intermediate; both bundles are the shared root alone; each verifies the other\'s SVIDs', async () => {
    const a = await agent('a', { upstream });
    const b = await agent('b', { upstream });
    expect(roots(a.x509Bundle())).toEqual([hex(shared.der)]);
    expect(b.x509Bundle().toPem()).toBe(a.x509Bundle().toPem());

    const fromA = a.mintX509Svid({ id: WEB });
    const fromB = b.mintX509Svid({ id: WEB });
    expect(fromA.chain).toHaveLength(2); // leaf + this agent's intermediate: the Workload API sends both
    expect(fromA.chain[1]).not.toEqual(fromB.chain[1]);
    expect(verifies(fromA, b.x509Bundle())).toBe(true);
    expect(verifies(fromB, a.x509Bundle())).toBe(true);
    expect(opensslVerify(fromA, b.x509Bundle())).toMatch(/: OK\n$/);
    expect(opensslVerify(fromB, a.x509Bundle())).toMatch(/: OK\n$/);
  });

  it('mints an intermediate that is CA:TRUE pathlen:0 with the trust domain as URI SAN, issued by the root', async () => {
    const a = await agent('a', { upstream, caTtlSeconds: DAY });
    const der = a.mintX509Svid({ id: WEB }).chain[1] as Buffer;
    const text = execFileSync('openssl', ['x509', '-noout', '-text', '-inform', 'DER'], { input: der, encoding: 'utf8' });
    expect(text).toMatch(/CA:TRUE, pathlen:0/);
    expect(text).toMatch(/Certificate Sign/);
    expect(text).toContain('URI:spiffe://example.org');
    const cert = new X509Certificate(der);
    expect(cert.checkIssued(new X509Certificate(shared.der))).toBe(true);
    expect(new Date(cert.validTo).getTime()).toBeLessThanOrEqual(clock.now().getTime() + DAY * 1000);
    expect(new Date(cert.validTo).getTime()).toBeGreaterThan(clock.now().getTime() + (DAY - 5) * 1000);
  });

  it.each([
    ['rsa:2048', []], ['ec', ['-pkeyopt', 'ec_paramgen_curve:P-384']],
  ] as const)('takes a root made by openssl with a %s key, under which an ec-p256 intermediate signs', async (newkey, opts) => {
    const files = { certFile: join(dir, 'openssl.crt'), keyFile: join(dir, 'openssl.key') };
    execFileSync('openssl', ['req', '-x509', '-newkey', newkey, ...opts, '-nodes', '-keyout', files.keyFile, '-out', files.certFile,
      '-subj', '/O=Example/CN=openssl root', '-days', '2', '-addext', 'basicConstraints=critical,CA:TRUE',
      '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-addext', 'subjectAltName=URI:spiffe://example.org'], { stdio: 'ignore' });
    // openssl's notBefore is its own now (whole seconds), later than the fake clock set before it ran
    clock.advanceSeconds(Math.ceil((Date.now() - clock.now().getTime()) / 1000) + 1);
    const a = await agent('a', { upstream: files });
    const b = await agent('b', { upstream: files });
    const svid = a.mintX509Svid({ id: WEB });
    expect(verifies(svid, b.x509Bundle())).toBe(true);
    expect(opensslVerify(svid, b.x509Bundle())).toMatch(/: OK\n$/);
  });

  it('clips the intermediate to the root\'s remaining life', async () => {
    const shortRoot = await root('example.org', { notAfter: new Date(clock.now().getTime() + 7_200_000) });
    const a = await agent('a', { upstream: write('short', shortRoot), caTtlSeconds: DAY });
    const [slot] = a.status().x509;
    expect(Math.floor((slot?.notAfter.getTime() ?? 0) / 1000)).toBe(Math.floor(new Date(shortRoot.cert.notAfter).getTime() / 1000));
  });

  it('never writes the root key into the state dir; keeps a copy of the root certificate beside the intermediate', async () => {
    const a = await agent('a', { upstream });
    const ca = join(dir, 'a', 'ca');
    const [slot] = a.status().x509;
    const [jwt] = a.status().jwt;
    expect(readdirSync(ca).sort()).toEqual([`jwt-${jwt?.kid}.key`, 'manifest.json', `x509-${slot?.id}.intermediate.crt`,
      `x509-${slot?.id}.intermediate.key`, `x509-${slot?.id}.root.crt`].sort());
    const rootKeyBody = shared.keyPem.split('\n')[1] ?? 'unreachable';
    for (const f of readdirSync(ca)) expect(readFileSync(join(ca, f), 'utf8'), f).not.toContain(rootKeyBody);
  });

  it('without ca.upstream each agent keeps its own root: the bundles differ and neither verifies the other\'s SVIDs', async () => {
    const a = await agent('a');
    const b = await agent('b');
    expect(a.x509Bundle().toPem()).not.toBe(b.x509Bundle().toPem());
    expect(verifies(a.mintX509Svid({ id: WEB }), b.x509Bundle())).toBe(false);
    expect(verifies(b.mintX509Svid({ id: WEB }), a.x509Bundle())).toBe(false);
    expect(() => opensslVerify(a.mintX509Svid({ id: WEB }), b.x509Bundle())).toThrow();
  });

  it('rotates the intermediate at 1/2 and 5/6 of its life: new SVIDs and old ones verify against the same bundle', async () => {
    const a = await agent('a', { upstream, caTtlSeconds: 600 });
    const b = await agent('b', { upstream, caTtlSeconds: 600 });
    const bundle = b.x509Bundle().toPem();
    const first = a.mintX509Svid({ id: WEB, ttlSeconds: 60 });
    const firstId = a.status().x509[0]?.id;

    clock.advanceSeconds(310); // past 1/2
    expect((await a.maintain()).prepared.filter((r) => r.kind === 'x509')).toHaveLength(1);
    expect(a.x509Bundle().toPem()).toBe(bundle);
    clock.advanceSeconds(200); // past 5/6
    const report = await a.maintain();
    expect(report.activated.map((r) => r.kind)).toContain('x509');
    expect(a.x509Bundle().toPem()).toBe(bundle); // the bundle is the root, whatever the intermediates do
    const second = a.mintX509Svid({ id: WEB, ttlSeconds: 60 });
    expect(second.chain[1]).not.toEqual(first.chain[1]);
    expect(a.status().x509.find((s) => s.state === 'active')?.id).not.toBe(firstId);
    expect(verifies(second, b.x509Bundle())).toBe(true);
    expect(opensslVerify(second, b.x509Bundle())).toMatch(/: OK\n$/);
    // The old SVID, at a time it was valid, still chains through its own intermediate to the same root.
    expect(verifies(first, b.x509Bundle(), new Date(first.notBefore.getTime() + 20_000))).toBe(true);
  });

  it('`rotate()` (tether ca rotate) makes a new intermediate at once; the bundle stays the root', async () => {
    const a = await agent('a', { upstream });
    const old = a.mintX509Svid({ id: WEB });
    const report = await a.rotate();
    expect(report.x509.active).not.toBe(report.x509.previous);
    const fresh = a.mintX509Svid({ id: WEB });
    expect(fresh.chain[1]).not.toEqual(old.chain[1]);
    expect(roots(a.x509Bundle())).toEqual([hex(shared.der)]);
    expect(verifies(old, a.x509Bundle())).toBe(true);
    expect(verifies(fresh, a.x509Bundle())).toBe(true);
  });

  it('keeps its intermediate across a restart with the same root', async () => {
    const first = await agent('a', { upstream });
    const fp = first.status().x509[0]?.intermediate?.fingerprintSha256;
    await closeAll();
    const again = await agent('a', { upstream });
    expect(again.status().x509.map((s) => s.intermediate?.fingerprintSha256)).toEqual([fp]);
  });

  it('drops CAs of another root or mode at start, so the bundle is only the configured root', async () => {
    await agent('a');
    await closeAll();
    const up = await agent('a', { upstream });
    expect(up.status().x509).toHaveLength(1);
    expect(roots(up.x509Bundle())).toEqual([hex(shared.der)]);
    await closeAll();

    const other = await root('example.org', { subject: 'CN=another root' });
    const moved = await agent('a', { upstream: write('other', other) });
    expect(roots(moved.x509Bundle())).toEqual([hex(other.der)]);
    expect(verifies(moved.mintX509Svid({ id: WEB }), moved.x509Bundle())).toBe(true);
    await closeAll();

    const local = await agent('a');
    expect(local.status().mode).toBe('local');
    expect(roots(local.x509Bundle())).toHaveLength(1);
    expect(roots(local.x509Bundle())[0]).not.toBe(hex(other.der));
    expect(readdirSync(join(dir, 'a', 'ca')).filter((f) => f.endsWith('.intermediate.key'))).toEqual([]);
  });

  it('says which mode is in force: upstream with the root and the intermediate\'s expiry, or local', async () => {
    const a = await agent('a', { upstream });
    const status = a.status();
    expect(status.mode).toBe('upstream');
    expect(status.upstream).toMatchObject({ fingerprintSha256: new X509Certificate(shared.der).fingerprint256 });
    expect(status.upstream?.notAfter).toEqual(new Date(new X509Certificate(shared.der).validTo));
    const active = status.x509.find((s) => s.state === 'active');
    expect(active?.intermediate?.notAfter).toEqual(active?.notAfter);
    expect(active?.root.fingerprintSha256).toBe(status.upstream?.fingerprintSha256);
    await closeAll();
    expect((await LocalAuthority.inspect(join(dir, 'a')))?.mode).toBe('upstream');
    expect((await agent('b')).status()).toMatchObject({ mode: 'local', upstream: undefined });
  });
});

describe('ca.upstream: files that cannot be used are refused, naming the file', () => {
  it('a missing certificate or key file', async () => {
    const missingCert = await refusal({ ...upstream, certFile: join(dir, 'nope.crt') });
    expect(missingCert.message).toContain(`ca.upstream.certFile ${join(dir, 'nope.crt')} does not exist`);
    expect(missingCert.path).toBe(join(dir, 'nope.crt'));
    const missingKey = await refusal({ ...upstream, keyFile: join(dir, 'nope.key') });
    expect(missingKey.message).toContain(`ca.upstream.keyFile ${join(dir, 'nope.key')} does not exist`);
  });

  it('an unreadable file', async () => {
    mkdirSync(join(dir, 'a-directory'));
    const err = await refusal({ ...upstream, certFile: join(dir, 'a-directory') });
    expect(err.message).toContain(`ca.upstream.certFile ${join(dir, 'a-directory')} cannot be read`);
  });

  it('a file that holds no certificate, or no key', async () => {
    writeFileSync(join(dir, 'junk'), 'not a certificate\n');
    expect((await refusal({ ...upstream, certFile: join(dir, 'junk') })).message).toContain(`${join(dir, 'junk')} does not hold an X.509 certificate`);
    expect((await refusal({ ...upstream, keyFile: join(dir, 'junk') })).message).toContain(`${join(dir, 'junk')} does not hold an unencrypted private key`);
  });

  it.each([
    ['not a CA (CA:FALSE)', { ca: false }, 'basicConstraints CA:TRUE'],
    ['no basicConstraints', { ca: undefined }, 'basicConstraints CA:TRUE'],
    ['no keyCertSign', { usages: KeyUsageFlags.digitalSignature }, 'keyCertSign'],
    ['no keyUsage', { usages: null }, 'keyCertSign'],
    ['pathlen 0', { pathLength: 0 }, 'pathlen 0'],
    ['expired', { notBefore: new Date('2020-01-01T00:00:00Z'), notAfter: new Date('2021-01-01T00:00:00Z') }, 'expired at 2021-01-01'],
    ['not yet valid', { notBefore: new Date('2098-01-01T00:00:00Z') }, 'is not valid before 2098-01-01'],
    ['valid only in 10 minutes', { notBefore: new Date(Date.now() + 600_000) }, 'more than 5 minutes from now'],
    ['of another trust domain', { uris: ['spiffe://other.org'] }, 'spiffe://other.org in its URI SAN, not spiffe://example.org'],
    ['with a path in its URI SAN', { uris: ['spiffe://example.org/ca'] }, 'spiffe://example.org/ca in its URI SAN'],
  ] as const)('a certificate %s', async (_name, spec, message) => {
    const bad = await root('example.org', spec);
    const files = write('bad', bad);
    const err = await refusal(files);
    expect(err.message).toContain(`ca.upstream.certFile ${files.certFile}`);
    expect(err.message).toContain(message);
    expect(err.path).toBe(files.certFile);
  });

  it('a root without a URI SAN is accepted (the SAN is optional on a signing certificate)', async () => {
    const plain = await issue({ subject: 'CN=plain root', ca: true, usages: CA_USAGES });
    const a = await agent('a', { upstream: write('plain', plain) });
    expect(verifies(a.mintX509Svid({ id: WEB }), a.x509Bundle())).toBe(true);
  });

  it('a certificate that is not self-signed (an intermediate is not a root)', async () => {
    const mid = await intermediate(shared, 'example.org');
    const files = write('mid', mid);
    expect((await refusal(files)).message).toContain(`ca.upstream.certFile ${files.certFile} is not self-signed`);
  });

  it('more than one certificate in the file', async () => {
    const other = await root('example.org');
    writeFileSync(upstream.certFile, shared.pem + other.pem);
    expect((await refusal(upstream)).message).toContain('holds 2 certificates');
  });

  it('a key that is not the certificate\'s', async () => {
    const other = await root('example.org');
    const files = write('mismatch', shared, other.keyPem);
    const err = await refusal(files);
    expect(err.message).toContain(`ca.upstream.keyFile ${files.keyFile} is not the key of the certificate in ca.upstream.certFile ${files.certFile}`);
    expect(err.path).toBe(files.keyFile);
  });

  it('a key of a type the agent does not sign with', async () => {
    const ed = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const files = write('ed', shared, ed);
    expect((await refusal(files)).message).toContain(`ca.upstream.keyFile ${files.keyFile} holds a ed25519 key`);
  });

  it('warns (and goes on) when the root key file is readable by others', async () => {
    const warnings: string[] = [];
    writeFileSync(upstream.keyFile, shared.keyPem, { mode: 0o644 });
    chmodSync(upstream.keyFile, 0o644);
    await agent('a', { upstream, log: { info: () => undefined, warn: (_o, msg) => { warnings.push(msg); } } });
    expect(warnings).toEqual([`ca.upstream.keyFile ${upstream.keyFile} has mode 644; it should be 600 (the root key signs for the whole trust domain)`]);
  });

  it('leaves no state behind when refused', async () => {
    await refusal({ ...upstream, certFile: join(dir, 'nope.crt') });
    expect(readdirSync(dir)).not.toContain('refused');
  });
});
