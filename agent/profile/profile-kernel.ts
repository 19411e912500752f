import { ProfileMode, cidrKey, type CidrKey, type PolicyKey, type SockMaps } from '../kernel/index.js';
import type { SpiffeId } from '../spiffe/index.js';
import type { Profile, ProfileModeName } from './profile-file.js';

const MODE = { learn: ProfileMode.LEARN, monitor: ProfileMode.MONITOR, enforce: ProfileMode.ENFORCE } as const satisfies Record<ProfileModeName, number>;

export type ProfileKernelMaps = Pick<SockMaps, 'profileModes' | 'profileExes' | 'profilePeers' | 'profileCidrs'>;

const peerText = (k: PolicyKey): string => `${k.src}/${k.dst}/${k.port}`;
/** The map gives back 16-byte addresses; a key written with a 4-byte IPv4 address is the same key. */
const cidrText = (k: CidrKey): string =>
  `${k.src}/${k.port}/${k.family}/${k.prefixlen}/${Buffer.concat([Buffer.from(k.addr), Buffer.alloc(16)]).subarray(0, 16).toString('hex')}`;

/** The destinations of each profile, as connect4/6 look them up (an enforced identity's connect
 * elsewhere is refused): identities by number, the rest by CIDR. */
function syncDestinations(maps: ProfileKernelMaps, profiles: readonly Profile[], numberOf: (id: SpiffeId) => number): void {
  const peers = new Set<string>();
  const cidrs = new Set<string>();
  for (const p of profiles) {
    const src = numberOf(p.id);
    for (const d of p.destinations) {
      if (d.kind === 'identity') {
        const key: PolicyKey = { src, dst: numberOf(d.id), port: d.port, generation: 0 };
        maps.profilePeers.update(key, 1);
        peers.add(peerText(key));
      } else {
        const key = cidrKey({ src, port: d.port, generation: 0, ...d.cidr });
        maps.profileCidrs.update(key, 1);
        cidrs.add(cidrText(key));
      }
    }
  }
  for (const k of [...maps.profilePeers.keys()]) if (!peers.has(peerText(k))) maps.profilePeers.delete(k);
  for (const k of [...maps.profileCidrs.keys()]) if (!cidrs.has(cidrText(k))) maps.profileCidrs.delete(k);
}

/**
 * Writes the profiles into the kernel (lib/sock_profile.h): each identity's allowed executables
 * and destinations first, then its mode, then what no profile names any more goes. In that order an identity
 * switched to enforce never runs a moment without its allow-list, and an executable that stays
 * allowed is never briefly missing.
 */
export function syncProfiles(maps: ProfileKernelMaps, profiles: readonly Profile[], numberOf: (id: SpiffeId) => number):
  { identities: number; executables: number } {
  const exes = new Set<string>();
  const modes = new Set<number>();
  let executables = 0;
  syncDestinations(maps, profiles, numberOf);
  for (const p of profiles) {
    const id = numberOf(p.id);
    for (const e of p.executables) {
      maps.profileExes.update({ id, dev: e.dev, ino: e.ino }, 1);
      exes.add(`${id}/${e.dev}/${e.ino}`);
      executables++;
    }
  }
  for (const p of profiles) {
    const id = numberOf(p.id);
    maps.profileModes.update(id, MODE[p.mode]);
    modes.add(id);
  }
  for (const k of [...maps.profileExes.keys()]) if (!exes.has(`${k.id}/${k.dev}/${k.ino}`)) maps.profileExes.delete(k);
  for (const id of [...maps.profileModes.keys()]) if (!modes.has(id)) maps.profileModes.delete(id);
  return { identities: modes.size, executables };
}
