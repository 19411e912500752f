import type { ProcessKey } from '../attest/index.js';
import { cidrContains, formatAddress } from '../enforce/index.js';
import type { SpiffeId } from '../spiffe/index.js';
import { formatDestination, formatDev, type Profile, type ProfileDestination, type ProfileModeName } from './profile-file.js';

/** What a process of a profiled identity did that its profile does not have. */
export type DeviationWhat =
  | { readonly kind: 'exec'; readonly path: string; readonly dev: number; readonly ino: bigint; readonly killed: boolean }
  /** refused: an enforced identity's connect, refused by the kernel (its process quarantined). */
  | { readonly kind: 'destination'; readonly destination: ProfileDestination; readonly refused?: boolean }
  | { readonly kind: 'listen'; readonly port: number };

/** One step of a process's lineage, the process itself first. */
export interface LineageStep {
  readonly tgid: number;
  readonly comm: string;
  readonly exe: string | null;
}

export interface Deviation {
  /** Its number in this agent's run: `tether profile accept ID EVENT` names it. */
  readonly seq: number;
  readonly at: Date;
  readonly id: SpiffeId;
  readonly mode: ProfileModeName;
  readonly what: DeviationWhat;
  /** The process that deviated (an exec: the one that exec'd), null when the kernel's flow or
   * listener tables do not say which process it was. */
  readonly process: ProcessKey | null;
  /** The process, then its parents (a killed exec: the process as the event named it, then the parent that lives on). */
  readonly lineage: readonly LineageStep[];
  /** The process quarantined for it (enforce: the parent of a killed exec). */
  readonly quarantined: ProcessKey | null;
}

export function describeWhat(what: DeviationWhat): string {
  switch (what.kind) {
    case 'exec': return `${what.killed ? 'exec killed' : 'exec'} ${what.path} (${formatDev(what.dev)} inode ${what.ino})`;
    case 'destination': return `${what.refused ? 'connect refused' : 'connect'} to ${formatDestination(what.destination)}`;
    case 'listen': return `listen on port ${what.port}`;
    default: return what satisfies never;
  }
}

/** A destination the profile covers: the same identity and port, or a CIDR holding the address. */
export function profileHasDestination(profile: Profile, d: ProfileDestination): boolean {
  return profile.destinations.some((p) => {
    if (p.port !== d.port) return false;
    if (p.kind === 'identity') return d.kind === 'identity' && p.id.equals(d.id);
    return d.kind === 'cidr' && d.cidr.family === p.cidr.family && cidrContains(p.cidr, d.cidr.family, d.cidr.address);
  });
}

export function profileHasExecutable(profile: Profile, dev: number, ino: bigint): boolean {
  return profile.executables.some((e) => e.dev === dev && e.ino === ino);
}

/** A stable text key of a destination (what was already reported). */
export function destinationKey(d: ProfileDestination): string {
  return d.kind === 'identity' ? `${d.id.toString()}:${d.port}` : `${formatAddress(d.cidr.family, d.cidr.address)}/${d.cidr.prefixLength}:${d.port}`;
}
