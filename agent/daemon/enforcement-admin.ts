import { renameSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { dirname, join } from 'node:path';
import { AdminError, type AdminBackend, type PolicyApplied, type PolicyCheckRequest } from '../admin/index.js';
import {
  EnforceError, decide, parseCidr, parsePolicy, readFlows, suggestPolicy, unusedRules, type Destination, type Policy, type PolicyStore,
  type SockEventFeed,
} from '../enforce/index.js';
import type { SockPrograms } from '../kernel/index.js';
import { SpiffeError, SpiffeId, type TrustDomain } from '../spiffe/index.js';

export type EnforcementMethod = 'recentEvents' | 'subscribeEvents' | 'connections' | 'checkPolicy' | 'applyPolicy' | 'suggestPolicy' | 'unusedRules';

export interface EnforcementAdminDeps {
  readonly sock: Pick<SockPrograms, 'drainEvents' | 'maps'>;
  readonly feed: SockEventFeed;
  readonly policies: Pick<PolicyStore, 'reload'>;
  readonly policy: () => Policy;
  readonly policyPath: string;
  readonly trustDomain: TrustDomain;
  /** When the flows began to be observed (the agent's start). */
  readonly observedSince: string;
  /** Compiles and switches the policy in force now. */
  readonly enforce: () => { generation: number; rules: number; mode: Policy['mode'] };
  readonly idOf: (n: number) => SpiffeId | undefined;
}

/** What the admin API answers about enforcement: events, connections, and the policy commands. */
export function enforcementAdmin(d: EnforcementAdminDeps): Pick<AdminBackend, EnforcementMethod> {
  return {
    recentEvents: (limit) => { d.sock.drainEvents(); return d.feed.events.recent(limit); },
    subscribeEvents: (listener) => d.feed.events.subscribe(listener),
    connections: () => { d.sock.drainEvents(); return d.feed.connections.list(); },
    checkPolicy: (request) => decide(d.policy(), parseId(request.from, 'from'), destinationOf(request), request.port),
    applyPolicy: async (yamlText): Promise<PolicyApplied> => {
      try {
        parsePolicy(yamlText, d.policyPath, d.trustDomain); // whole, before anything is written
      } catch (err) {
        if (err instanceof EnforceError) throw new AdminError('BAD_POLICY', err.message, { cause: err });
        throw err;
      }
      const tmp = join(dirname(d.policyPath), `.${Date.now()}.policy.tmp`);
      writeFileSync(tmp, yamlText, { mode: 0o600 });
      renameSync(tmp, d.policyPath); // the watched file and the kernel agree: a restart keeps this policy
      const reloaded = d.policies.reload();
      if (!reloaded.ok) throw new AdminError('BAD_POLICY', reloaded.error.message, { cause: reloaded.error });
      return { ...d.enforce(), path: d.policyPath };
    },
    suggestPolicy: () => suggestPolicy(readFlows(d.sock.maps.flows), d.idOf, { unidentified: d.policy().unidentified, observedSince: d.observedSince }),
    unusedRules: () => unusedRules(d.policy(), readFlows(d.sock.maps.flows), d.idOf),
  };
}

function destinationOf(request: PolicyCheckRequest): Destination {
  if (isIP(request.to) !== 0) {
    const parsed = parseCidr(request.to);
    if (!parsed.ok) throw new AdminError('BAD_REQUEST', `to: ${parsed.reason}`);
    return { kind: 'address', family: parsed.value.family, address: parsed.value.address };
  }
  return { kind: 'identity', id: parseId(request.to, 'to') };
}

function parseId(text: string, field: string): SpiffeId {
  try {
    return SpiffeId.parse(text);
  } catch (err) {
    if (err instanceof SpiffeError) throw new AdminError('BAD_REQUEST', `${field}: ${err.message}`);
    throw err;
  }
}
