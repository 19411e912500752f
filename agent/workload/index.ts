/**
 * workload/: the SPIFFE Workload API (proto/workload.proto, no package: /SpiffeWorkloadAPI/*)
 * on a Unix socket any local process may connect to, and a client for it.
 * Invariants: a pid alone is never trusted. Every call is attested on its own connection: our
 * listener reads SO_PEERCRED and a pidfd from each accepted socket and tags it; grpc-js reports
 * that server-chosen tag as the call's peer, and the call is served for the process the kernel
 * named, attested again by the backend at the call. Streams carry full state, the first message
 * at once; a caller's exit ends its streams Unauthenticated. Statuses come from status.ts only.
 * Telemetry is told, never kept here: each call's answer to an optional WorkloadObserver, each
 * attestation's duration to an optional AttestationObserver (daemon/ turns both into metrics).
 * Posture (posture-gate.ts): after selectors match, each entry's posture is judged by attest/'s
 * checker; refused entries are not issued, and a caller left with none ends PermissionDenied with
 * the failed check named. Streams are judged again on exec, on any change, and when the
 * executable's directory reports its name changed (inotify, while some entry asks exeImmutable).
 * Handles: each connection owns its pidfd (closed with the socket); WorkloadServer owns the
 * listener and the socket file; close() drains, then forces.
 * May import: attest, svid, registry (and what they reach: kernel, ca, spiffe).
 */
export { WorkloadError, type WorkloadErrorCode } from './errors.js';
export type {
  Caller, ChangeReason, ConnectionPeer, PeerPidFd, WorkloadBackend, WorkloadLog, X509SvidItem,
} from './backend.js';
export { WorkloadServer, DEFAULT_MAX_REQUEST_BYTES, type WorkloadServerOptions } from './server.js';
export {
  IdentityBackend, type AttestationObserver, type IdentityBackendOptions, type EntrySource, type BundleSource,
} from './identity-backend.js';
export type { QuarantineSource } from './identity-backend.js';
export { passPosture, type PostureGate, type PostureObserver } from './posture-gate.js';
export { WORKLOAD_METHODS, statusName, type StatusName, type WorkloadMethod, type WorkloadObserver } from './observer.js';
export type { PeerCredentialsReaderLike } from './connection-tags.js';
export { SECURITY_HEADER } from './call-context.js';
export { toStatus, type StatusAnswer } from './status.js';
export {
  WorkloadClient, type FetchedJwtSvid, type FetchedX509Svid, type WorkloadClientOptions, type X509Context,
} from './client.js';
export { toStruct, fromStruct } from './struct.js';
export { PROTO_LOADER_OPTIONS } from './proto-options.js';
export { loadWorkloadApi, workloadProtoPath, type WorkloadApi } from './proto-loader.js';
export { clearStaleSocket, type SocketPathRefusal } from './socket-path.js';
