import { stringify } from 'yaml';
import type { SpiffeId } from '../spiffe/index.js';
import type { ObservedFlow } from './observed-flow.js';
import type { Policy } from './policy-file.js';
import { formatAddress } from './policy-values.js';

/**
 * The least-privilege policy that allows exactly the observed flows: one rule per (source,
 * destination identity) with the ports seen, and one per (source, external address) as a
 * single-host CIDR. Flows whose numbers no longer name an ID (an entry removed since) are left out
 * and counted in the header. The result parses with parsePolicy (a test holds it to that).
 */
export function suggestPolicy(
  flows: readonly ObservedFlow[],
  idOf: (n: number) => SpiffeId | undefined,
  options: { readonly unidentified: Policy['unidentified']; readonly observedSince?: string },
): string {
  const identityRules = new Map<string, { from: string; to: string; ports: Set<number> }>();
  const externalRules = new Map<string, { from: string; cidr: string; ports: Set<number> }>();
  let unnamed = 0;
  for (const f of flows) {
    const from = idOf(f.src)?.toString();
    const to = f.dst === 0 ? undefined : idOf(f.dst)?.toString();
    if (from === undefined || (f.dst !== 0 && to === undefined) || (f.dst === 0 && f.external === null)) { unnamed++; continue; }
    if (to !== undefined) {
      const key = `${from} ${to}`;
      const rule = identityRules.get(key) ?? { from, to, ports: new Set<number>() };
      rule.ports.add(f.port);
      identityRules.set(key, rule);
    } else if (f.external !== null) {
      const cidr = `${formatAddress(f.external.family, f.external.address)}/${f.external.family === 4 ? 32 : 128}`;
      const key = `${from} ${cidr}`;
      const rule = externalRules.get(key) ?? { from, cidr, ports: new Set<number>() };
      rule.ports.add(f.port);
      externalRules.set(key, rule);
    }
  }
  const sortedPorts = (s: Set<number>): number[] => [...s].sort((a, b) => a - b);
  const rules = [
    ...[...identityRules.values()].sort(byKey).map((r) => ({ from: r.from, to: r.to, ports: sortedPorts(r.ports) })),
    ...[...externalRules.values()].sort(byKey).map((r) => ({ from: r.from, to: 'external', cidrs: [r.cidr], ports: sortedPorts(r.ports) })),
  ];
  const header = [
    `# Suggested by \`tether policy suggest\` from ${flows.length - unnamed} observed flow(s)${options.observedSince ? ` since ${options.observedSince}` : ''}.`,
    '# It allows exactly what was seen: review it, then `tether policy apply` it.',
    ...(unnamed > 0 ? [`# ${unnamed} flow(s) left out: their identity is no longer in the entries.`] : []),
  ];
  return `${header.join('\n')}\n${stringify({ mode: 'enforce', unidentified: options.unidentified, rules }, { flowCollectionPadding: false })}`;
}

function byKey(a: { from: string }, b: { from: string }): number {
  return JSON.stringify(a) < JSON.stringify(b) ? -1 : 1;
}
