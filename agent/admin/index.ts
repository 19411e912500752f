/**
 * admin/: tether's admin API (proto/admin.proto, package tether.admin.v1, service Admin) on a
 * Unix socket only root may connect to, and the client every `tether` command that reads or
 * changes the running agent uses (status, healthcheck, ps, entry match, posture, ca, events, conns,
 * policy); tether's version (package.json's), which both the CLI and the agent report.
 * Invariants: the socket is never wider than 0600, not even while it is being made (bound in a
 * private directory, then linked into place); a live socket is never taken over, a stale one is
 * replaced. Requests are checked before the backend sees them (BAD_REQUEST names the field);
 * statuses come from status.ts only, with the AdminError code in a trailer, and an unexpected
 * error is logged and answered INTERNAL without its text.
 * Handles: AdminServer owns the listener, the socket file and every connection; close() ends
 * follow streams UNAVAILABLE, drains to a deadline, then forces. An AdminClient owns its channel.
 * May import: every folder above it in ARCHITECTURE.md (it uses spiffe, kernel's packageRoot and
 * feature types, attest's ProcessInfo, ca's status types, enforce's values and workload's proto
 * options); the daemon implements AdminBackend.
 */
export type {
  AdminBackend, AgentCounts, AgentStatus, CaStatus, ConnectionView, EntryMatch, FeatureView, Lifecycle, PolicyApplied, PolicyCheckRequest,
  MeshStatus, PolicyDecision, PolicyEvent, PolicyStatus, PostureCheckView, PostureReport, ProcessInfo, RotationReport, TunnelInfo, UnusedRule,
} from './backend.js';
export type { DeviationView, ProfileMode, ProfileView, QuarantineView } from './profile-messages.js';
export { PROFILE_MODES } from './profile-messages.js';
export { tetherVersion } from './version.js';
export { AdminError, type AdminErrorCode, type AdminErrorOptions } from './errors.js';
export { AdminServer, DEFAULT_MAX_BACKLOG, type AdminServerOptions } from './server.js';
export { ADMIN_SOCKET_MODE } from './admin-socket.js';
export { AdminClient, type AdminClientOptions, type EventsOptions } from './client.js';
export { DEFAULT_EVENTS_LIMIT, MAX_EVENTS_LIMIT, MAX_POLICY_BYTES } from './requests.js';
export { ERROR_CODE_TRAILER, INTERNAL_DETAILS, toStatus, type AdminLog, type AdminStatus } from './status.js';
export { adminProtoPath, loadAdminApi, type AdminApi } from './proto-loader.js';
