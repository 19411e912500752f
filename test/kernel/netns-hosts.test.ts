import { execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NetnsHosts } from '../support/netns-hosts.js';
import { waitFor } from '../support/wait.js';

// The two test hosts without tether: B serves HTTP, A fetches it over the veth pair, and tcpdump
// on A's end sees the request and the page in the clear. The mesh's test asserts the opposite.
describe('two hosts in network namespaces (netns-hosts)', () => {
  let hosts: NetnsHosts;
  let dir: string;
  let server: ChildProcess;
  const marker = `tether-plain-${process.pid}-${Date.now()}`;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tether-netns-'));
    writeFileSync(join(dir, 'page.txt'), `${marker}\n`);
    hosts = NetnsHosts.create();
    server = hosts.run(hosts.b, ['/usr/bin/python3', '-u', '-m', 'http.server', '--bind', hosts.b.address, '--directory', dir, '8000']);
    let out = '';
    server.stdout?.on('data', (d: Buffer) => { out += d.toString(); });
    await waitFor('the http.server in B', () => out.includes('Serving HTTP'));
  });
  afterAll(() => {
    try { hosts?.destroy(); } finally { rmSync(dir, { recursive: true, force: true }); }
  });

  it('gives each host loopback and its own address, and nothing of the other namespace', async () => {
    const a = await hosts.exec(hosts.a, ['ip', '-o', 'addr', 'show']);
    expect(a.stdout).toMatch(/\blo\b.*inet 127\.0\.0\.1\/8/);
    expect(a.stdout).toContain(`inet ${hosts.a.address}/24`);
    expect(a.stdout).not.toContain(hosts.b.address);
    expect(execFileSync('ip', ['-o', 'addr', 'show'], { encoding: 'utf8' })).not.toContain(hosts.a.address); // not in this namespace
  });

  it('carries curl from A to the http.server in B, which tcpdump on the veth sees in plain text', async () => {
    // --immediate-mode: without it, what waits in an unfinished TPACKET_V3 block is lost at SIGINT
    // ("12 packets received by filter", "0 packets captured").
    const dump = hosts.run(hosts.a, ['tcpdump', '-i', hosts.a.veth, '-n', '-U', '--immediate-mode', '-s', '0', '-w', '-', 'tcp', 'port', '8000']);
    const captured: Buffer[] = [];
    let log = '';
    dump.stdout?.on('data', (d: Buffer) => captured.push(d));
    dump.stderr?.on('data', (d: Buffer) => { log += d.toString(); });
    await waitFor('tcpdump listening', () => log.includes('listening on'));
    const curl = await hosts.exec(hosts.a, ['curl', '-sS', '--max-time', '10', `http://${hosts.b.address}:8000/page.txt`]);
    expect(curl).toMatchObject({ code: 0, stdout: `${marker}\n` });
    const closed = new Promise((r) => dump.once('close', r)); // stdout read to its end
    dump.kill('SIGINT');
    await closed;
    const pcap = Buffer.concat(captured);
    expect(log, 'tcpdump stderr').toMatch(/packets captured/);
    expect(pcap.includes(`GET /page.txt`)).toBe(true);
    expect(pcap.includes(marker)).toBe(true);
  });
});
