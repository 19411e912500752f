import type { SpiffeId } from '../spiffe/index.js';
import { EnforceError } from './errors.js';
import type { Policy } from './policy-file.js';
import { matchesId, portInRanges, type Cidr, type IdPattern, type PortRange } from './policy-values.js';

/** One allowed (source number, destination number, port) of the kernel's policy map; port 0 = any. */
export interface PolicyTuple {
  readonly src: number;
  readonly dst: number;
  readonly port: number;
}

/** One allowed (source number, destination network, port) of the kernel's CIDR map; port 0 = any. */
export interface CidrTuple {
  readonly src: number;
  readonly cidr: Cidr;
  readonly port: number;
}

export interface CompiledPolicy {
  readonly mode: Policy['mode'];
  readonly unidentified: Policy['unidentified'];
  /** Destinations with an identity (a local listener's). */
  readonly tuples: readonly PolicyTuple[];
  /** Destinations without one ("external": remote hosts, unidentified local listeners). */
  readonly cidrs: readonly CidrTuple[];
}

/**
 * The networks the mesh tunnels (config mesh.cidrs, mesh.ports; ports undefined: every port). An
 * identity rule also lets its source connect to them: which workload answers there is checked by
 * the tunnel against the same rule once the peer agent has presented its SVID.
 */
export interface MeshedNetworks {
  readonly cidrs: readonly Cidr[];
  readonly ports: readonly PortRange[] | undefined;
}

/** A port range wider than this is refused rather than written as thousands of map entries. */
const MAX_PORTS_PER_RULE = 1024;

/**
 * A policy as the kernel's map holds it: each rule's patterns expanded over the SPIFFE IDs known
 * now (the entries'; a new ID needs a recompile), each ID turned into its stable number, each
 * port range into ports. Pure: numbers come from `numberOf`.
 */
export function compilePolicy(
  policy: Policy, knownIds: readonly SpiffeId[], numberOf: (id: SpiffeId) => number, meshed?: MeshedNetworks,
): CompiledPolicy {
  const tuples = new Map<string, PolicyTuple>();
  const cidrs = new Map<string, CidrTuple>();
  const expand = (p: IdPattern): SpiffeId[] => (p.kind === 'exact' ? [p.id] : knownIds.filter((id) => matchesId(p, id)));
  for (const rule of policy.rules) {
    const ports = portsOf(rule.ports, rule.line);
    if (rule.to.kind === 'external') {
      for (const from of expand(rule.from)) {
        for (const cidr of rule.to.cidrs) {
          for (const port of ports) {
            const t = { src: numberOf(from), cidr, port };
            cidrs.set(`${t.src}/${cidr.address.toString('hex')}/${cidr.prefixLength}/${port}`, t);
          }
        }
      }
      continue;
    }
    for (const from of expand(rule.from)) {
      for (const to of expand(rule.to.pattern)) {
        for (const port of ports) {
          const t = { src: numberOf(from), dst: numberOf(to), port };
          tuples.set(`${t.src}/${t.dst}/${t.port}`, t);
        }
      }
      for (const cidr of meshed?.cidrs ?? []) {
        for (const port of meshedPorts(ports, meshed?.ports, rule.line)) {
          const t = { src: numberOf(from), cidr, port };
          cidrs.set(`${t.src}/${cidr.address.toString('hex')}/${cidr.prefixLength}/${port}`, t);
        }
      }
    }
  }
  return { mode: policy.mode, unidentified: policy.unidentified, tuples: [...tuples.values()], cidrs: [...cidrs.values()] };
}

/** A rule's ports (0: any) that the mesh tunnels. */
function meshedPorts(rulePorts: readonly number[], mesh: readonly PortRange[] | undefined, line: number): number[] {
  if (mesh === undefined) return [...rulePorts];
  if (rulePorts.includes(0)) return portsOf(mesh, line);
  return rulePorts.filter((p) => portInRanges(mesh, p));
}

function portsOf(ranges: readonly PortRange[], line: number): number[] {
  if (ranges.length === 0) return [0];
  const out: number[] = [];
  for (const r of ranges) {
    if (r.last - r.first + 1 > MAX_PORTS_PER_RULE) {
      throw new EnforceError('BAD_POLICY', `line ${line}: port range ${r.first}-${r.last} is wider than ${MAX_PORTS_PER_RULE} ports`);
    }
    for (let p = r.first; p <= r.last; p++) out.push(p);
  }
  return out;
}
