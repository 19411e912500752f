import { networkInterfaces, type NetworkInterfaceInfo } from 'node:os';
import type { AddrKey, SockMaps } from '../kernel/index.js';
import { parseCidr } from './policy-values.js';

/**
 * The host's own addresses in the kernel's `local_addrs`: a connect to one of them reaches a
 * local listener, decided by identity; any other (but loopback, which the hook knows) is
 * external. Re-synced on a timer by the daemon, since addresses come and go (DHCP, pods).
 * Returns how many addresses are in the map now.
 */
export function syncLocalAddresses(
  map: Pick<SockMaps['localAddresses'], 'keys' | 'update' | 'delete'>,
  interfaces: NodeJS.Dict<NetworkInterfaceInfo[]> = networkInterfaces(),
): number {
  const wanted = new Map<string, AddrKey>();
  for (const list of Object.values(interfaces)) {
    for (const info of list ?? []) {
      const parsed = parseCidr(info.address);
      if (!parsed.ok) continue; // a zone-scoped or odd address: never a connect() destination we decide
      const addr = Buffer.alloc(16);
      parsed.value.address.copy(addr);
      wanted.set(`${parsed.value.family}/${addr.toString('hex')}`, { family: parsed.value.family, addr });
    }
  }
  for (const k of [...map.keys()]) {
    if (!wanted.has(`${k.family}/${Buffer.from(k.addr).toString('hex')}`)) map.delete(k);
  }
  for (const k of wanted.values()) map.update(k, 1);
  return wanted.size;
}
