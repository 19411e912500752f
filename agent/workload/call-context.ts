/**
 * What every Workload API call does first (SPIFFE.md e.1): the security header, then the
 * connection's peer by the tag grpc-js reports, then attestation of that process now.
 */
import type { Metadata } from '@grpc/grpc-js';
import type { Caller, ConnectionPeer, WorkloadBackend } from './backend.js';
import { WorkloadError } from './errors.js';

/** Required on every request, with exactly one value "true" (SPIFFE Workload Endpoint 4). */
export const SECURITY_HEADER = 'workload.spiffe.io';

export interface PeerLookup {
  peer(tag: string): ConnectionPeer | undefined;
}

export function checkSecurityHeader(metadata: Metadata): void {
  const values = metadata.get(SECURITY_HEADER);
  if (values.length !== 1 || values[0] !== 'true') {
    throw new WorkloadError('MISSING_SECURITY_HEADER', `the ${SECURITY_HEADER} header must be sent once, with the value "true"`);
  }
}

/** Attests the process on the call's connection, found only by the server-chosen tag grpc-js
 * reports as the call's peer: nothing the client sends counts. */
export async function identifyCaller(call: { getPeer(): string }, peers: PeerLookup, backend: WorkloadBackend): Promise<Caller> {
  const peer = peers.peer(call.getPeer());
  if (peer === undefined) throw new WorkloadError('UNKNOWN_CONNECTION', `call on an untagged connection (${call.getPeer()})`);
  return backend.identify(peer);
}

/** Header, peer, attestation: the Caller a handler may serve, or the error the call ends with. */
export async function attestCall(
  call: { getPeer(): string; readonly metadata: Metadata }, peers: PeerLookup, backend: WorkloadBackend,
): Promise<Caller> {
  checkSecurityHeader(call.metadata);
  return identifyCaller(call, peers, backend);
}
