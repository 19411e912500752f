import { execFileSync, spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CaError, LocalAuthority, type CaChange, type CaKeyType, type LocalAuthorityOptions, type MintedX509Svid } from '../../../agent/ca/index.js';
import { TrustDomain, requireSpiffeId, verifyJwtSvid, verifyX509Svid, type X509Bundle } from '../../../agent/spiffe/index.js';
import { FakeClock } from '../../fakes/fake-clock.js';

const TD = TrustDomain.parse('example.org');
const WEB = requireSpiffeId('spiffe://example.org/web');
let stateDir: string;
let clock: FakeClock;
const open: LocalAuthority[] = [];

beforeEach(() => {
  stateDir = mkdtempSync(join(tmpdir(), 'tether-ca-'));
  clock = new FakeClock(new Date()); // openssl checks at -attime, so any start works; now is simplest
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((a) => a.close()));
  rmSync(stateDir, { recursive: true, force: true });
});

async function authority(extra: Partial<LocalAuthorityOptions> = {}): Promise<LocalAuthority> {
  const a = await LocalAuthority.open({ stateDir, trustDomain: TD, now: clock.now, ...extra });
  open.push(a);
  return a;
}

function verifies(svid: MintedX509Svid, bundle: X509Bundle, now = clock.now()): boolean {
  try {
    verifyX509Svid(svid.chain, (td) => (td.equals(TD) ? bundle : undefined), { now });
    return true;
  } catch {
    return false;
  }
}

function pem(der: Buffer): string {
  return new X509Certificate(der).toString();
}

/** `openssl verify` of what we minted, at the fake clock's time; returns openssl's output. */
function opensslVerify(svid: MintedX509Svid, bundle: X509Bundle): string {
  const dir = mkdtempSync(join(tmpdir(), 'tether-ca-openssl-'));
  try {
    writeFileSync(join(dir, 'bundle.pem'), bundle.toPem());
    writeFileSync(join(dir, 'leaf.pem'), pem(svid.chain[0] as Buffer));
    const intermediates = svid.chain.slice(1);
    const untrusted = intermediates.length > 0 ? ['-untrusted', join(dir, 'intermediates.pem')] : [];
    if (intermediates.length > 0) writeFileSync(join(dir, 'intermediates.pem'), intermediates.map(pem).join(''));
    const attime = String(Math.floor(clock.now().getTime() / 1000));
    return execFileSync('openssl', ['verify', '-attime', attime, '-CAfile', join(dir, 'bundle.pem'), ...untrusted, join(dir, 'leaf.pem')],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function snapshot(dir: string): Record<string, string> {
  return Object.fromEntries(readdirSync(dir).sort().map((f) => [f, readFileSync(join(dir, f)).toString('base64')]));
}

function fingerprints(a: LocalAuthority): string[] {
  return a.status().x509.map((s) => s.root.fingerprintSha256);
}

describe('LocalAuthority: state on disk', () => {
  it('creates ca/ (0700) with a 0600 manifest and 0600 keys on first open', async () => {
    const a = await authority();
    const dir = join(stateDir, 'ca');
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    const files = readdirSync(dir).sort();
    const [ca] = a.status().x509;
    const [jwt] = a.status().jwt;
    expect(files).toEqual([`jwt-${jwt?.kid}.key`, 'manifest.json', `x509-${ca?.id}.root.crt`, `x509-${ca?.id}.root.key`].sort());
    for (const f of files.filter((n) => !n.endsWith('.crt'))) expect(statSync(join(dir, f)).mode & 0o777, f).toBe(0o600);
    expect(ca).toMatchObject({ state: 'active', keyType: 'ec-p256' });
    expect(ca?.root.subject).toBe(`O=Tether, CN=tether root ${ca?.id}`);
    expect(jwt).toMatchObject({ state: 'active', alg: 'ES256' });
    expect(readdirSync(stateDir).sort()).toEqual(['ca', 'ca.lock']); // the writer's lock, and no temp directory left
  });

  it('reloads the same CA, JWT key and bundle after a restart', async () => {
    const first = await authority();
    const svid = first.mintX509Svid({ id: WEB });
    const before = { status: first.status(), x509: first.x509Bundle().toPem(), jwks: first.jwtBundle().toJwks(), fps: fingerprints(first) };
    await first.close();
    const files = snapshot(join(stateDir, 'ca'));
    clock.advanceSeconds(60);
    const second = await authority();
    expect(fingerprints(second)).toEqual(before.fps);
    expect(second.status()).toEqual(before.status);
    expect(second.x509Bundle().toPem()).toBe(before.x509);
    expect(second.jwtBundle().toJwks()).toEqual(before.jwks);
    expect(verifies(svid, second.x509Bundle())).toBe(true);
    expect(snapshot(join(stateDir, 'ca'))).toEqual(files); // a restart writes nothing
  });

  it('refuses a corrupt key file with CORRUPT_STATE naming it, and leaves every file as it was', async () => {
    const a = await authority();
    const id = a.status().x509[0]?.id;
    await a.close();
    const keyPath = join(stateDir, 'ca', `x509-${id}.root.key`);
    const bytes = readFileSync(keyPath);
    writeFileSync(keyPath, bytes.subarray(0, bytes.length - 30)); // a half-written file
    const before = snapshot(join(stateDir, 'ca'));
    const err = await LocalAuthority.open({ stateDir, trustDomain: TD, now: clock.now }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CaError);
    expect(err).toMatchObject({ code: 'CORRUPT_STATE', path: keyPath });
    expect((err as CaError).message).toContain(keyPath);
    expect((err as CaError).message).toContain('truncated');
    expect((err as CaError).message).toContain('move');
    expect(snapshot(join(stateDir, 'ca'))).toEqual(before);
  });

  it.each([
    ['a manifest edited by hand', (dir: string) => {
      const path = join(dir, 'manifest.json');
      writeFileSync(path, readFileSync(path, 'utf8').replace('"active"', '"retired"'));
    }, /manifest.json does not match its sha256/],
    ['a missing key file', (dir: string) => {
      const key = readdirSync(dir).find((f) => f.startsWith('jwt-')) ?? '';
      rmSync(join(dir, key));
    }, /is missing, but the manifest names it/],
    ['a key swapped for another CA\'s', (dir: string) => {
      const key = readdirSync(dir).find((f) => f.endsWith('.root.key')) ?? '';
      const jwt = readdirSync(dir).find((f) => f.startsWith('jwt-')) ?? '';
      writeFileSync(join(dir, key), readFileSync(join(dir, jwt), 'utf8').replace('kind=jwt-key', 'kind=ca-key'));
    }, /is not the key of the CA certificate/],
    ['files without a manifest', (dir: string) => rmSync(join(dir, 'manifest.json')), /no manifest.json/],
  ])('refuses %s with CORRUPT_STATE', async (_name, damage, message) => {
    await (await authority()).close();
    damage(join(stateDir, 'ca'));
    const before = snapshot(join(stateDir, 'ca'));
    await expect(LocalAuthority.open({ stateDir, trustDomain: TD, now: clock.now })).rejects.toMatchObject({ code: 'CORRUPT_STATE', message });
    expect(snapshot(join(stateDir, 'ca'))).toEqual(before);
  });

  it('refuses the state of another trust domain', async () => {
    await (await authority()).close();
    await expect(LocalAuthority.open({ stateDir, trustDomain: TrustDomain.parse('other.org'), now: clock.now }))
      .rejects.toMatchObject({ code: 'TRUST_DOMAIN_MISMATCH' });
  });

  it('takes an empty ca/ as a first start', async () => {
    mkdirSync(join(stateDir, 'ca'));
    const a = await authority();
    expect(a.status().x509).toHaveLength(1);
  });

  it('changes nothing in memory when a commit fails', async () => {
    const a = await authority();
    const before = a.status();
    const manifest = join(stateDir, 'ca', 'manifest.json');
    rmSync(manifest);
    mkdirSync(manifest); // the rename over it fails
    writeFileSync(join(manifest, 'x'), '');
    await expect(a.rotate()).rejects.toMatchObject({ code: 'STATE_IO' });
    expect(a.status()).toEqual(before);
    expect(a.x509Bundle().certificates()).toHaveLength(1);
  });
});

describe('LocalAuthority: minting', () => {
  it.each<[CaKeyType, boolean]>([
    ['ec-p256', false], ['ec-p384', false], ['rsa-2048', false], ['ec-p256', true], ['rsa-2048', true],
  ])('mints X509-SVIDs under a %s CA (intermediate: %s) that openssl and verifyX509Svid accept', async (keyType, intermediate) => {
    const a = await authority({ keyType, intermediate });
    const svid = a.mintX509Svid({ id: WEB, dnsNames: ['web.example.org'] });
    expect(svid.chain).toHaveLength(intermediate ? 2 : 1);
    expect(verifies(svid, a.x509Bundle())).toBe(true);
    expect(opensslVerify(svid, a.x509Bundle())).toContain(': OK');
    expect(a.status().x509[0]?.keyType).toBe(keyType);
    expect(a.status().x509[0]?.intermediate !== undefined).toBe(intermediate);
    expect(svid.notAfter.getTime() - clock.now().getTime()).toBe(3600_000);
    const text = execFileSync('openssl', ['x509', '-noout', '-text'], { input: pem(svid.chain[0] as Buffer), encoding: 'utf8' });
    expect(text).toContain('URI:spiffe://example.org/web');
    expect(text).toContain('DNS:web.example.org');
    expect(text).toMatch(/X509v3 Key Usage: critical\n\s+Digital Signature\n/);
    expect(text).toMatch(/X509v3 Basic Constraints: critical\n\s+CA:FALSE/);
    const root = execFileSync('openssl', ['x509', '-noout', '-text'], { input: a.x509Bundle().toPem(), encoding: 'utf8' });
    expect(root).toMatch(/Basic Constraints: critical\n\s+CA:TRUE/);
    expect(root).toMatch(/Key Usage: critical\n\s+Digital Signature, Certificate Sign, CRL Sign/);
    expect(root).toContain('URI:spiffe://example.org\n');
  });

  it('keeps the intermediate across a restart', async () => {
    const first = await authority({ intermediate: true });
    const fp = first.status().x509[0]?.intermediate?.fingerprintSha256;
    await first.close();
    const second = await authority({ intermediate: true });
    expect(second.status().x509[0]?.intermediate?.fingerprintSha256).toBe(fp);
    expect(opensslVerify(second.mintX509Svid({ id: WEB }), second.x509Bundle())).toContain(': OK');
  });

  it('uses the entry\'s TTL and gives each SVID a random serial of 64 bits or more', async () => {
    const a = await authority();
    const s1 = a.mintX509Svid({ id: WEB, ttlSeconds: 600 });
    const s2 = a.mintX509Svid({ id: WEB, ttlSeconds: 600 });
    expect(s1.notAfter.getTime() - clock.now().getTime()).toBe(600_000);
    expect(s1.notBefore.getTime()).toBeLessThan(clock.now().getTime()); // backdated for clock skew
    expect(s1.serialHex).not.toBe(s2.serialHex);
    expect(BigInt(`0x${s1.serialHex}`) >= 2n ** 64n).toBe(true);
  });

  it('refuses an ID of another trust domain, the domain\'s own ID and a bad TTL', async () => {
    const a = await authority();
    expect(() => a.mintX509Svid({ id: requireSpiffeId('spiffe://other.org/web') })).toThrow(expect.objectContaining({ code: 'FOREIGN_TRUST_DOMAIN' }));
    expect(() => a.mintX509Svid({ id: requireSpiffeId('spiffe://example.org') })).toThrow(expect.objectContaining({ code: 'ROOT_PATH_ID' }));
    expect(() => a.mintX509Svid({ id: WEB, ttlSeconds: 0 })).toThrow(expect.objectContaining({ code: 'BAD_TTL' }));
    expect(() => a.mintX509Svid({ id: WEB, ttlSeconds: 1.5 })).toThrow(expect.objectContaining({ code: 'BAD_TTL' }));
    await expect(a.mintJwtSvid({ id: requireSpiffeId('spiffe://other.org/web'), audience: 'x' })).rejects.toMatchObject({ code: 'FOREIGN_TRUST_DOMAIN' });
  });

  it('mints JWT-SVIDs that verify against its JWT bundle, kid in the header', async () => {
    const a = await authority();
    const { token, expiresAt } = await a.mintJwtSvid({ id: WEB, audience: 'db' });
    expect(expiresAt.getTime()).toBe(Math.floor(clock.now().getTime() / 1000) * 1000 + 300_000);
    const header = JSON.parse(Buffer.from(token.split('.')[0] ?? '', 'base64url').toString()) as { kid: string; alg: string };
    expect(header).toMatchObject({ kid: a.status().jwt[0]?.kid, alg: 'ES256' });
    const bundle = a.jwtBundle();
    const svid = await verifyJwtSvid(token, (td) => (td.equals(TD) ? bundle : undefined), { audience: 'db', now: clock.now() });
    expect(svid.id.toString()).toBe(WEB.toString());
  });

  it('stops minting once closed', async () => {
    const a = await authority();
    await a.close();
    expect(() => a.mintX509Svid({ id: WEB })).toThrow(expect.objectContaining({ code: 'CLOSED' }));
    await expect(a.rotate()).rejects.toMatchObject({ code: 'CLOSED' });
  });
});

describe('LocalAuthority: rotation', () => {
  it('keeps the old CA published until its last SVID has expired, then drops it', async () => {
    const a = await authority();
    const changes: CaChange[] = [];
    a.onChange((c) => changes.push(c));
    const svidA = a.mintX509Svid({ id: WEB, ttlSeconds: 3600 });
    const ca1 = a.status().x509[0]?.id;
    clock.advanceSeconds(600);
    const report = await a.rotate();
    expect(report.x509.previous).toBe(ca1);
    expect(report.x509.active).not.toBe(ca1);
    const svidB = a.mintX509Svid({ id: WEB, ttlSeconds: 3600 });
    const overlap = a.x509Bundle();
    expect(overlap.certificates()).toHaveLength(2);
    expect(verifies(svidA, overlap)).toBe(true);
    expect(verifies(svidB, overlap)).toBe(true);
    expect(opensslVerify(svidA, overlap)).toContain(': OK');
    expect(opensslVerify(svidB, overlap)).toContain(': OK');
    expect(a.status().x509.map((s) => s.state)).toEqual(['retiring', 'active']);
    expect(changes.map((c) => c.reason)).toEqual(['prepared', 'prepared', 'activated', 'activated']);
    expect(changes[0]?.x509Bundle.certificates()).toHaveLength(2);

    // A was minted at t0 for 1 h; CA1 stopped signing at t0 + 10 min: it may go at t0 + 10 min + 1 h.
    clock.advanceSeconds(3600 - 1);
    expect((await a.retireOld()).retired).toEqual([{ kind: 'jwt', id: report.jwt.previous }]); // its TTL was never used
    expect(a.x509Bundle().certificates()).toHaveLength(2);
    clock.advanceSeconds(1);
    expect((await a.retireOld()).retired).toEqual([{ kind: 'x509', id: ca1 }]);
    expect(a.x509Bundle().certificates()).toHaveLength(1);
    expect(a.status().x509.map((s) => s.state)).toEqual(['retired', 'active']);
    const before = new Date(svidA.notAfter.getTime() - 60_000);
    expect(verifies(svidA, a.x509Bundle(), before)).toBe(false);
    expect(() => verifyX509Svid(svidA.chain, () => a.x509Bundle(), { now: before })).toThrow(expect.objectContaining({ code: 'UNTRUSTED_CHAIN' }));
    expect(verifies(svidB, a.x509Bundle(), before)).toBe(true);
    expect(changes.at(-1)?.reason).toBe('retired');
  });

  it('waits for the longest TTL a CA issued, remembered across a restart', async () => {
    const first = await authority();
    first.mintX509Svid({ id: WEB, ttlSeconds: 7200 });
    await first.rotate();
    await first.close();
    const second = await authority();
    expect(second.status().x509[0]?.lifecycle).toMatchObject({ state: 'retiring', maxIssuedTtlSeconds: 7200 });
    clock.advanceSeconds(3600);
    await second.retireOld();
    expect(second.x509Bundle().certificates()).toHaveLength(2);
    clock.advanceSeconds(3600);
    await second.retireOld();
    expect(second.x509Bundle().certificates()).toHaveLength(1);
  });

  it('publishes both JWT keys until the old key\'s tokens have expired', async () => {
    const a = await authority();
    const old = await a.mintJwtSvid({ id: WEB, audience: 'db', ttlSeconds: 300 });
    const { jwt } = await a.rotate();
    const fresh = await a.mintJwtSvid({ id: WEB, audience: 'db' });
    expect(a.jwtBundle().kids().sort()).toEqual([jwt.previous, jwt.active].sort());
    for (const { token } of [old, fresh]) {
      const bundle = a.jwtBundle();
      await expect(verifyJwtSvid(token, () => bundle, { audience: 'db', now: clock.now() })).resolves.toBeDefined();
    }
    clock.advanceSeconds(300);
    await a.retireOld();
    expect(a.jwtBundle().kids()).toEqual([jwt.active]);
    const bundle = a.jwtBundle();
    await expect(verifyJwtSvid(old.token, () => bundle, { audience: 'db', now: new Date(clock.now().getTime() - 60_000) }))
      .rejects.toMatchObject({ code: 'UNKNOWN_KID' });
  });

  it('prepares at 1/2 of the CA\'s life, activates at 5/6, retires when safe (maintain)', async () => {
    const a = await authority({ caTtlSeconds: 6000 }); // lifecycle.test.ts has the exact instants
    const t0 = clock.now().getTime();
    const ca1 = a.status().x509[0]?.id;
    a.mintX509Svid({ id: WEB, ttlSeconds: 600 });
    await a.mintJwtSvid({ id: WEB, audience: 'db', ttlSeconds: 60 });
    clock.set(new Date(t0 + 2900_000));
    expect(await a.maintain()).toEqual({ prepared: [], activated: [], retired: [] });
    clock.set(new Date(t0 + 3100_000));
    expect((await a.maintain()).prepared.map((r) => r.kind)).toEqual(['x509', 'jwt']);
    expect(a.status().x509.map((s) => s.state)).toEqual(['active', 'prepared']);
    expect(a.x509Bundle().certificates()).toHaveLength(2); // published before it signs
    expect(a.jwtBundle().size).toBe(2);
    clock.set(new Date(t0 + 5100_000));
    expect((await a.maintain()).activated.map((r) => r.kind)).toEqual(['x509', 'jwt']);
    expect(a.status().x509.map((s) => s.state)).toEqual(['retiring', 'active']);
    clock.advanceSeconds(60);
    expect((await a.maintain()).retired.map((r) => r.kind)).toEqual(['jwt']);
    clock.advanceSeconds(540);
    expect((await a.maintain()).retired).toEqual([{ kind: 'x509', id: ca1 }]);
    expect(await a.maintain()).toEqual({ prepared: [], activated: [], retired: [] });
  });

  it('replaces a CA that expired while the agent was down, on open', async () => {
    const first = await authority({ caTtlSeconds: 3600 });
    const ca1 = first.status().x509[0]?.id;
    await first.close();
    clock.advanceSeconds(7200);
    const second = await authority({ caTtlSeconds: 3600 });
    const states = second.status().x509.map((s) => [s.id === ca1, s.state]);
    expect(states).toEqual([[true, 'retired'], [false, 'active']]);
    expect(verifies(second.mintX509Svid({ id: WEB }), second.x509Bundle())).toBe(true);
  });

  it('refuses to activate when nothing is prepared, and prepares only once', async () => {
    const a = await authority();
    await expect(a.activateNext()).rejects.toMatchObject({ code: 'ROTATION' });
    expect((await a.prepareNext()).prepared).toHaveLength(2);
    expect((await a.prepareNext()).prepared).toHaveLength(0);
    expect((await a.activateNext()).activated).toHaveLength(2);
  });

  it('keeps the last few retired slots and deletes the files of older ones', async () => {
    const a = await authority();
    for (let i = 0; i < 6; i++) {
      await a.rotate();
      clock.advanceSeconds(10);
      await a.retireOld();
    }
    expect(a.status().x509.map((s) => s.state)).toEqual(['retired', 'retired', 'retired', 'active']);
    const ids = new Set(a.status().x509.map((s) => s.id));
    const kids = new Set(a.status().jwt.map((s) => s.kid));
    const files = readdirSync(join(stateDir, 'ca')).filter((f) => f !== 'manifest.json');
    expect(files.every((f) => ids.has(f.slice(5, 21)) || kids.has(f.slice(4, 36)))).toBe(true);
    expect(files).toHaveLength(4 * 2 + 4);
  });
});

describe('LocalAuthority: one writer per state dir', () => {
  it('refuses a second writer while a live process holds the state, and takes over a stale lock', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tether-ca-lock-'));
    const td = TrustDomain.parse('example.org');
    const first = await LocalAuthority.open({ stateDir: dir, trustDomain: td, now: () => new Date() });
    await first.close();
    // a live process (a sleep standing in for a running agent) holds the lock
    const holder = spawn('sleep', ['30']);
    await new Promise((r) => holder.once('spawn', r));
    const ticks = readFileSync(`/proc/${holder.pid}/stat`, 'utf8').split(') ')[1]?.split(' ')[19];
    writeFileSync(join(dir, 'ca.lock'), `${holder.pid} ${ticks}\n`);
    await expect(LocalAuthority.open({ stateDir: dir, trustDomain: td, now: () => new Date() }))
      .rejects.toMatchObject({ code: 'LOCKED', message: expect.stringContaining(`process ${holder.pid}`) });
    holder.kill('SIGKILL');
    await new Promise((r) => holder.once('exit', r));
    // the holder is gone: its lock is stale and the next writer takes it
    const second = await LocalAuthority.open({ stateDir: dir, trustDomain: td, now: () => new Date() });
    expect(readFileSync(join(dir, 'ca.lock'), 'utf8')).toMatch(new RegExp(`^${process.pid} \\d+\\n$`));
    await second.close();
  });
});
