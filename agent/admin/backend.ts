/**
 * What the admin API serves, as plain values: the daemon implements it over enforce/ (and, with
 * the operations issue, the rest of the agent). Every method may throw an AdminError; its code
 * decides the gRPC status (admin/status.ts).
 */

import type { ConnectionView, PolicyDecision, PolicyEvent, UnusedRule } from '../enforce/index.js';

/** The values enforce/ makes (a deny event, a live connection, a decision, an unused rule), served as they are. */
export type { ConnectionView, PolicyDecision, PolicyEvent, UnusedRule };

export interface PolicyCheckRequest {
  readonly from: string;
  /** A SPIFFE ID, or an IP address (an external destination). */
  readonly to: string;
  readonly port: number;
}

export interface PolicyApplied {
  readonly mode: 'enforce' | 'audit';
  /** (source, destination, port) tuples and CIDR rules written to the kernel. */
  readonly rules: number;
  readonly generation: number;
  /** Where the policy was written (the agent's --policy file: the watched file and the kernel agree). */
  readonly path: string;
}

export interface AdminBackend {
  /** The most recent events, oldest first (at most `limit`). */
  recentEvents(limit: number): PolicyEvent[];
  /** Every event from now on; returns unsubscribe. */
  subscribeEvents(listener: (event: PolicyEvent) => void): () => void;
  connections(): ConnectionView[];
  checkPolicy(request: PolicyCheckRequest): PolicyDecision;
  /** Validates the YAML text whole (AdminError BAD_POLICY naming line and reason), then writes it
   * to the policy file and switches the kernel to it. */
  applyPolicy(yamlText: string): Promise<PolicyApplied>;
  /** The least-privilege policy (YAML text) that allows exactly the connections observed. */
  suggestPolicy(): string;
  unusedRules(): UnusedRule[];
}
