/**
 * bench/mint: X509-SVIDs and JWT-SVIDs minted per second per core, beside `openssl speed
 * ecdsap256` sign/s measured in the same run. Every X509 row counts key generation, signing and
 * encoding, on one thread, through LocalAuthority (the path the agent takes). Where the time goes:
 * keygen, sign and DER assembly timed alone. The generic path (@peculiar/x509) for contrast.
 */
import 'reflect-metadata';
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, sign, webcrypto } from 'node:crypto';
import { release } from 'node:os';
import * as x509 from '@peculiar/x509';
import { LocalAuthority, P256Keys } from '../agent/ca/index.js';
import { SpiffeId, TrustDomain } from '../agent/spiffe/index.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const SECONDS = 2;
interface Rate { readonly ops: number; readonly wallS: number; readonly cpuS: number }

function timed(fn: () => void, seconds = SECONDS): Rate {
  const cpu = process.cpuUsage();
  const t0 = performance.now();
  let ops = 0;
  while (performance.now() - t0 < seconds * 1000) { for (let i = 0; i < 50; i++) fn(); ops += 50; }
  const used = process.cpuUsage(cpu);
  return { ops, wallS: (performance.now() - t0) / 1000, cpuS: (used.user + used.system) / 1e6 };
}

async function timedAsync(fn: () => Promise<unknown>, seconds = SECONDS): Promise<Rate> {
  const cpu = process.cpuUsage();
  const t0 = performance.now();
  let ops = 0;
  while (performance.now() - t0 < seconds * 1000) { await Promise.all(Array.from({ length: 50 }, fn)); ops += 50; }
  const used = process.cpuUsage(cpu);
  return { ops, wallS: (performance.now() - t0) / 1000, cpuS: (used.user + used.system) / 1e6 };
}

function opensslSignsPerSecond(): number {
  const out = execFileSync('openssl', ['speed', '-seconds', '3', 'ecdsap256'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const row = out.split('\n').find((l) => /^\s*256 bits ecdsa \(nistp256\)/.test(l));
  const sign = row?.trim().split(/\s+/)[6]; // 256 bits ecdsa (nistp256) Ts Ts sign/s verify/s
  if (!sign) throw new Error(`cannot read openssl speed output:\n${out}`);
  return Number(sign);
}

async function main(): Promise<void> {
  const openssl = opensslSignsPerSecond();
  const state = mkdtempSync(join(tmpdir(), 'tether-bench-mint-'));
  const td = TrustDomain.parse('bench.example');
  const id = SpiffeId.parse('spiffe://bench.example/ns/default/sa/web');
  const authority = await LocalAuthority.open({ stateDir: state, trustDomain: td, now: () => new Date() });
  try {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const payload = Buffer.alloc(400, 7);
    const rawSign = timed(() => sign('sha256', payload, privateKey));
    const keys = new P256Keys();
    const keygen = timed(() => keys.generate());

    const mint = timed(() => authority.mintX509Svid({ id, ttlSeconds: 3600 }));

    const jwt = await timedAsync(() => authority.mintJwtSvid({ id, audience: ['bench'], ttlSeconds: 300 }));
    const generic = await genericSvids();

    const perCore = (r: Rate): number => r.ops / r.cpuS;
    const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
    const ratio = (n: number): string => `${(n / openssl).toFixed(2)}×`;
    const us = (r: Rate): string => `${((r.wallS * 1e6) / r.ops).toFixed(1)} µs`;
    const rows: string[][] = [
      ['openssl speed ecdsap256, sign/s (baseline, 1 core)', fmt(openssl), '', '1.00×'],
      ['node crypto.sign P-256, sign/s', fmt(perCore(rawSign)), fmt(openssl), ratio(perCore(rawSign))],
      ['X509-SVID mint (keygen + sign + DER, LocalAuthority.mintX509Svid), per core', fmt(perCore(mint)), fmt(openssl), ratio(perCore(mint))],
      ['JWT-SVID mint (jose, ES256), per core', fmt(perCore(jwt)), fmt(openssl), ratio(perCore(jwt))],
      ['generic path: @peculiar/x509 SVID (WebCrypto keygen + build + PKCS#8), per core', fmt(perCore(generic)), fmt(openssl), ratio(perCore(generic))],
    ];
    const parts = [
      ['P-256 keygen and DER encoding (ECDH raw keys into fixed SPKI/PKCS#8 templates)', us(keygen)],
      ['P-256 sign (crypto.sign)', us(rawSign)],
      ['DER assembly, serial, checks (mint − keygen − sign)', `${(((mint.wallS / mint.ops) - (keygen.wallS / keygen.ops) - (rawSign.wallS / rawSign.ops)) * 1e6).toFixed(1)} µs`],
      ['whole mint', us(mint)],
    ];
    console.log('| measure | value | openssl sign/s | ratio |\n|---|---|---|---|');
    for (const r of rows) console.log(`| ${r.join(' | ')} |`);
    console.log('\n| where the time goes (one X509-SVID mint) | time |\n|---|---|');
    for (const p of parts) console.log(`| ${p.join(' | ')} |`);
    console.log(`\nMachine: ${execFileSync('nproc').toString().trim()} cores, Linux ${release()}, Node ${process.version}; ${new Date().toISOString()}.`);
  } finally {
    await authority.close();
    rmSync(state, { recursive: true, force: true });
  }
}

/** A whole SVID through the generic path: WebCrypto keygen, @peculiar/x509 build, PKCS#8 export. */
async function genericSvids(): Promise<Rate> {
  x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
  const signingKey = (await webcrypto.subtle.generateKey(alg, false, ['sign'])).privateKey;
  const issuer = { subject: 'O=Tether, CN=bench issuer' };
  return timedAsync(async () => {
    const keys = await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify']);
    await x509.X509CertificateGenerator.create({
      serialNumber: '01', issuer: issuer.subject, subject: 'O=Tether', notBefore: new Date(), notAfter: new Date(Date.now() + 3600_000),
      signingAlgorithm: alg, publicKey: keys.publicKey, signingKey,
      extensions: [new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true), new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.SubjectAlternativeNameExtension([{ type: 'url', value: 'spiffe://bench.example/ns/default/sa/web' }])],
    });
    await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  }, 1);
}

await main();
