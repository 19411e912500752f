import { AdminError, type AdminBackend } from '../admin/index.js';
import type { Enforcement } from './enforcement.js';

/**
 * What the admin API serves: the enforcement's answers, or, for an agent started without
 * --policy, a clear refusal (FAILED_PRECONDITION) rather than empty lists that look like "nothing
 * happened".
 */
export function adminBackend(enforcement: Enforcement | undefined): AdminBackend {
  if (enforcement !== undefined) return enforcement.admin;
  const refuse = (): never => {
    throw new AdminError('NOT_ENFORCING', 'the agent runs without --policy: no hooks are attached, so there are no events, connections or policy (start it with --policy FILE --cgroup DIR)');
  };
  return {
    recentEvents: refuse, subscribeEvents: refuse, connections: refuse, checkPolicy: refuse,
    applyPolicy: async () => refuse(), suggestPolicy: refuse, unusedRules: refuse,
  };
}
