import { meshCidrKey, type SockMaps } from '../kernel/index.js';
import type { Config } from './config.js';

/** Ports of one mesh.ports list, expanded; the kernel keys each (or 0 for every port). */
const MAX_MESHED_PORTS = 4096;

/**
 * The kernel's side of mesh.*: the meshed networks (port, CIDR) written first, stale ones
 * removed, then `mesh_config` switched as a whole. Without mesh the redirect and the inbound
 * check are switched off, so a pinned config of an earlier run never outlives its agent's settings.
 */
export function syncMeshMaps(maps: Pick<SockMaps, 'meshCidrs' | 'meshConfig'>, mesh: Config['mesh']): void {
  const wanted = new Map<string, ReturnType<typeof meshCidrKey>>();
  for (const cidr of mesh?.cidrs ?? []) {
    for (const port of meshedPorts(mesh?.ports)) {
      const key = meshCidrKey({ port, family: cidr.family, address: cidr.address, prefixLength: cidr.prefixLength });
      wanted.set(keyText(key), key);
    }
  }
  if (mesh === undefined) {
    maps.meshConfig.update(0, { tunnelPort: 0, enabled: 0, inbound: 0, peerPort: 0 });
  }
  maps.meshCidrs.updateMany([...wanted.values()].map((k) => [k, 1] as const));
  maps.meshCidrs.deleteMany([...maps.meshCidrs.keys()].filter((k) => !wanted.has(keyText(k))));
  if (mesh !== undefined) {
    maps.meshConfig.update(0, { tunnelPort: mesh.outboundPort, enabled: 1, inbound: mesh.inbound === 'strict' ? 2 : 1, peerPort: mesh.port });
  }
}

function meshedPorts(ranges: ReadonlyArray<{ first: number; last: number }> | undefined): number[] {
  if (ranges === undefined) return [0];
  const out = new Set<number>();
  for (const r of ranges) for (let p = r.first; p <= r.last; p++) out.add(p);
  if (out.size > MAX_MESHED_PORTS) throw new RangeError(`mesh.ports names ${out.size} ports: at most ${MAX_MESHED_PORTS}, or leave ports out to mesh every port`);
  return [...out];
}

function keyText(k: { prefixlen: number; port: number; family: number; addr: Buffer }): string {
  const addr = Buffer.alloc(16); // decoded keys carry 16 bytes, an IPv4 network's key 4
  Buffer.from(k.addr).copy(addr);
  return `${k.prefixlen}/${k.port}/${k.family}/${addr.toString('hex')}`;
}
