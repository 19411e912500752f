import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../agent/daemon/config.js';
import { syncMeshMaps } from '../../agent/daemon/mesh-maps.js';
import { SockPrograms, ensureBpffs, uninstall } from '../../agent/kernel/index.js';
import { TestCgroup } from '../support/test-cgroup.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// The agent's writes of mesh.* into the real kernel maps (pinned under a test dir, hooks on a test
// cgroup): the networks as the LPM trie holds them, stale ones removed, the switch off without mesh.
const PIN_DIR = `/sys/fs/bpf/tether-test-mesh-maps-${process.pid}`;

function meshOf(yaml: string) {
  const dir = mkdtempSync(join(tmpdir(), 'tether-mesh-maps-'));
  writeFileSync(join(dir, 'config.yaml'), yaml);
  return loadConfig({ config: join(dir, 'config.yaml') }, {}).mesh;
}

describe('syncMeshMaps', () => {
  let cg: TestCgroup;
  let sock: SockPrograms;
  const networks = (): string[] => sock.maps.meshCidrs.entries()
    .map(([k]) => `${k.family}/${Buffer.from(k.addr).subarray(0, k.family === 4 ? 4 : 16).toString('hex')}/${k.prefixlen - 32}/${k.port}`).sort();

  beforeAll(() => {
    ensureBpffs(PIN_DIR);
    cg = TestCgroup.create('tether-kt-mesh-maps');
    sock = SockPrograms.open({ pinDir: PIN_DIR, cgroup: cg.path });
  });
  afterAll(async () => {
    sock?.release();
    try { uninstall(PIN_DIR); } finally { await cg?.destroy(); }
  });

  it('writes each network for every port (0) and switches the redirect and strict inbound on', () => {
    syncMeshMaps(sock.maps, meshOf('mesh:\n  cidrs: [198.51.100.0/24, "2001:db8::/32"]\n'));
    expect(networks()).toEqual(['4/c6336400/24/0', '6/20010db8000000000000000000000000/32/0']);
    expect(sock.maps.meshConfig.lookup(0)).toEqual({ tunnelPort: 15001, enabled: 1, inbound: 2, peerPort: 15008 });
  });

  it('writes one key per meshed port, removes the networks no longer configured, and takes permissive and other ports', () => {
    syncMeshMaps(sock.maps, meshOf('mesh:\n  cidrs: [198.51.100.0/25]\n  ports: [80, "8000-8001"]\n  inbound: permissive\n  port: 16008\n  outboundPort: 16001\n'));
    expect(networks()).toEqual(['4/c6336400/25/80', '4/c6336400/25/8000', '4/c6336400/25/8001']);
    expect(sock.maps.meshConfig.lookup(0)).toEqual({ tunnelPort: 16001, enabled: 1, inbound: 1, peerPort: 16008 });
  });

  it('switches everything off without mesh, so an earlier run\'s pinned settings do not outlive it', () => {
    syncMeshMaps(sock.maps, undefined);
    expect(networks()).toEqual([]);
    expect(sock.maps.meshConfig.lookup(0)).toMatchObject({ enabled: 0, inbound: 0 });
  });
});
