import type { SpiffeId } from '../spiffe/index.js';
import { EnforceError } from './errors.js';
import type { Policy } from './policy-file.js';
import { matchesId, type IdPattern } from './policy-values.js';

/** One allowed (source number, destination number, port) of the kernel's policy map; port 0 = any. */
export interface PolicyTuple {
  readonly src: number;
  readonly dst: number;
  readonly port: number;
}

export interface CompiledPolicy {
  readonly mode: Policy['mode'];
  readonly unidentified: Policy['unidentified'];
  readonly tuples: readonly PolicyTuple[];
  /** Rules the kernel cannot enforce yet (remote CIDRs), by line: reported, never silently dropped. */
  readonly notEnforced: ReadonlyArray<{ readonly line: number; readonly reason: string }>;
}

/** A port range wider than this is refused rather than written as thousands of map entries. */
const MAX_PORTS_PER_RULE = 1024;

/**
 * A policy as the kernel's map holds it: each rule's patterns expanded over the SPIFFE IDs known
 * now (the entries'; a new ID needs a recompile), each ID turned into its stable number, each
 * port range into ports. Pure: numbers come from `numberOf`.
 */
export function compilePolicy(policy: Policy, knownIds: readonly SpiffeId[], numberOf: (id: SpiffeId) => number): CompiledPolicy {
  const tuples = new Map<string, PolicyTuple>();
  const notEnforced: Array<{ line: number; reason: string }> = [];
  const expand = (p: IdPattern): SpiffeId[] => (p.kind === 'exact' ? [p.id] : knownIds.filter((id) => matchesId(p, id)));
  for (const rule of policy.rules) {
    if (rule.to.kind === 'external') {
      notEnforced.push({ line: rule.line, reason: 'rules to external CIDRs are not enforced in the kernel yet' });
      continue;
    }
    const ports = portsOf(rule.ports, rule.line);
    for (const from of expand(rule.from)) {
      for (const to of expand(rule.to.pattern)) {
        for (const port of ports) {
          const t = { src: numberOf(from), dst: numberOf(to), port };
          tuples.set(`${t.src}/${t.dst}/${t.port}`, t);
        }
      }
    }
  }
  return { mode: policy.mode, unidentified: policy.unidentified, tuples: [...tuples.values()], notEnforced };
}

function portsOf(ranges: Policy['rules'][number]['ports'], line: number): number[] {
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
