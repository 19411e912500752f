/**
 * The admin API client, for `tether status|healthcheck|ps|entry match|posture|ca|events|conns|policy` and tests. Each method returns
 * backend.ts values; a failed call becomes an AdminError: the agent's own code when it sent one
 * (BAD_POLICY, NOT_ENFORCING...), UNREACHABLE when the socket cannot be connected to (with the
 * errno and what to do about it), else RPC_FAILED with the status name.
 */
import { credentials, status as Status, type Client, type ClientReadableStream, type Metadata, type StatusObject } from '@grpc/grpc-js';
import { connect } from 'node:net';
import { readCaState, readMatch, readProcess, readRotation, readStatus } from './agent-messages.js';
import { readPostureReport } from './posture-messages.js';
import {
  readDeviation, readProfile, readQuarantine, type DeviationView, type ProfileMode, type ProfileView, type QuarantineView,
} from './profile-messages.js';
import type { ProfileView__Output } from './gen/tether/admin/v1/ProfileView.js';
import type { ProfileDiffResponse__Output } from './gen/tether/admin/v1/ProfileDiffResponse.js';
import type { ListQuarantineResponse__Output } from './gen/tether/admin/v1/ListQuarantineResponse.js';
import type { QuarantinedProcess__Output } from './gen/tether/admin/v1/QuarantinedProcess.js';
import type { PostureReport__Output } from './gen/tether/admin/v1/PostureReport.js';
import type {
  AgentStatus, CaStatus, ConnectionView, EntryMatch, PolicyApplied, PolicyCheckRequest, PolicyDecision, PolicyEvent, PostureReport,
  ProcessInfo, RotationReport, TunnelInfo, UnusedRule,
} from './backend.js';
import { AdminError } from './errors.js';
import type { AdminClient as AdminStub } from './gen/tether/admin/v1/Admin.js';
import type { AgentStatus__Output } from './gen/tether/admin/v1/AgentStatus.js';
import type { CaRotation__Output } from './gen/tether/admin/v1/CaRotation.js';
import type { CaState__Output } from './gen/tether/admin/v1/CaState.js';
import type { EntryMatch__Output } from './gen/tether/admin/v1/EntryMatch.js';
import type { ListProcessesResponse__Output } from './gen/tether/admin/v1/ListProcessesResponse.js';
import type { ConnectionsResponse__Output } from './gen/tether/admin/v1/ConnectionsResponse.js';
import type { PolicyApplied__Output } from './gen/tether/admin/v1/PolicyApplied.js';
import type { PolicyDecision__Output } from './gen/tether/admin/v1/PolicyDecision.js';
import type { SuggestPolicyResponse__Output } from './gen/tether/admin/v1/SuggestPolicyResponse.js';
import type { UnusedRulesResponse__Output } from './gen/tether/admin/v1/UnusedRulesResponse.js';
import { badResponse, readApplied, readConnection, readDecision, readEvent, readTunnel, readUnusedRule } from './messages.js';
import { loadAdminApi } from './proto-loader.js';
import { ERROR_DETAILS_TRAILER, adminCodeOf } from './status.js';

export interface AdminClientOptions {
  /** Deadline of each unary call, and of a non-follow Events call. */
  readonly timeoutMs?: number;
}

export interface EventsOptions {
  /** Keep receiving new events after the recent ones, until cancelled. */
  readonly follow?: boolean;
  /** How many recent events first; the agent's default (100) when absent. */
  readonly limit?: number;
  /** Aborting ends the iteration (as breaking out of the loop does). */
  readonly signal?: AbortSignal;
}

/** What a failed call leaves: a unary call's ServiceError and a stream's StatusObject both fit. */
interface Failure {
  readonly code: Status;
  readonly details: string;
  readonly metadata?: Metadata | null;
}

export class AdminClient {
  readonly #socketPath: string;
  readonly #client: AdminStub;
  readonly #timeoutMs: number;

  constructor(socketPath: string, options: AdminClientOptions = {}) {
    this.#socketPath = socketPath;
    const { Client } = loadAdminApi();
    this.#client = new Client(`unix:${socketPath}`, credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
    this.#timeoutMs = options.timeoutMs ?? 10_000;
  }

  async connections(): Promise<ConnectionView[]> {
    return (await this.connectionsAndTunnels()).connections;
  }

  /** The live connections and, with mesh, the tunnels relaying now: one answer, one moment. */
  async connectionsAndTunnels(): Promise<{ connections: ConnectionView[]; tunnels: TunnelInfo[] }> {
    const m = await this.#unary<ConnectionsResponse__Output>((done) => this.#client.Connections({}, this.#deadline(), done));
    return { connections: m.connections.map(readConnection), tunnels: m.tunnels.map(readTunnel) };
  }

  async checkPolicy(request: PolicyCheckRequest): Promise<PolicyDecision> {
    return readDecision(await this.#unary<PolicyDecision__Output>((done) => this.#client.CheckPolicy({ ...request }, this.#deadline(), done)));
  }

  async applyPolicy(yaml: string): Promise<PolicyApplied> {
    return readApplied(await this.#unary<PolicyApplied__Output>((done) => this.#client.ApplyPolicy({ yaml }, this.#deadline(), done)));
  }

  async suggestPolicy(): Promise<string> {
    return (await this.#unary<SuggestPolicyResponse__Output>((done) => this.#client.SuggestPolicy({}, this.#deadline(), done))).yaml;
  }

  async unusedRules(): Promise<UnusedRule[]> {
    return (await this.#unary<UnusedRulesResponse__Output>((done) => this.#client.UnusedRules({}, this.#deadline(), done))).rules.map(readUnusedRule);
  }

  async status(): Promise<AgentStatus> {
    return readStatus(await this.#unary<AgentStatus__Output>((done) => this.#client.Status({}, this.#deadline(), done)));
  }

  async processes(): Promise<ProcessInfo[]> {
    const m = await this.#unary<ListProcessesResponse__Output>((done) => this.#client.ListProcesses({}, this.#deadline(), done));
    return m.processes.map(readProcess);
  }

  async matchEntries(pid: number): Promise<EntryMatch> {
    return readMatch(await this.#unary<EntryMatch__Output>((done) => this.#client.MatchEntries({ pid }, this.#deadline(), done)));
  }

  async profile(spiffeId: string): Promise<ProfileView> {
    return readProfile(await this.#unary<ProfileView__Output>((done) => this.#client.ShowProfile({ spiffe_id: spiffeId }, this.#deadline(), done)));
  }

  async profileDiff(spiffeId: string): Promise<DeviationView[]> {
    const m = await this.#unary<ProfileDiffResponse__Output>((done) => this.#client.ProfileDiff({ spiffe_id: spiffeId }, this.#deadline(), done));
    return m.deviations.map(readDeviation);
  }

  async setProfileMode(spiffeId: string, mode: ProfileMode): Promise<ProfileView> {
    return readProfile(await this.#unary<ProfileView__Output>((done) => this.#client.SetProfileMode({ spiffe_id: spiffeId, mode }, this.#deadline(), done)));
  }

  async acceptDeviation(spiffeId: string, seq: number): Promise<ProfileView> {
    return readProfile(await this.#unary<ProfileView__Output>((done) => this.#client.AcceptDeviation({ spiffe_id: spiffeId, seq }, this.#deadline(), done)));
  }

  async quarantined(): Promise<QuarantineView[]> {
    const m = await this.#unary<ListQuarantineResponse__Output>((done) => this.#client.ListQuarantine({}, this.#deadline(), done));
    return m.processes.map(readQuarantine);
  }

  async releaseQuarantine(pid: number): Promise<QuarantineView> {
    return readQuarantine(await this.#unary<QuarantinedProcess__Output>((done) => this.#client.ReleaseQuarantine({ pid }, this.#deadline(), done)));
  }

  async posture(pid: number): Promise<PostureReport> {
    return readPostureReport(await this.#unary<PostureReport__Output>((done) => this.#client.Posture({ pid }, this.#deadline(), done)));
  }

  async caStatus(): Promise<CaStatus> {
    return readCaState(await this.#unary<CaState__Output>((done) => this.#client.CaStatus({}, this.#deadline(), done)));
  }

  async rotateCa(): Promise<RotationReport> {
    return readRotation(await this.#unary<CaRotation__Output>((done) => this.#client.RotateCa({}, this.#deadline(), done)));
  }

  /** The recent events, oldest first, then (follow) each new one. Breaking out of the loop or
   * aborting `signal` cancels the call and ends the iteration quietly; the agent stopping ends it,
   * after every event it sent, with AdminError UNAVAILABLE. */
  async *events(options: EventsOptions = {}): AsyncGenerator<PolicyEvent, void, undefined> {
    const follow = options.follow ?? false;
    const call = this.#client.Events({ follow, limit: options.limit ?? 0 }, follow ? {} : this.#deadline());
    const abort = (): void => call.cancel();
    options.signal?.addEventListener('abort', abort, { once: true });
    if (options.signal?.aborted) abort();
    let settled = false;
    try {
      const messages = received(call);
      for (;;) {
        const next = await messages.next();
        if (next.done) {
          settled = true;
          const status = next.value;
          const ended = endedBy(status);
          if (ended !== undefined) throw ended;
          if (status.code === Status.OK || (status.code === Status.CANCELLED && options.signal?.aborted === true)) return;
          throw await this.#failure(status);
        }
        yield readEvent(next.value);
      }
    } finally {
      options.signal?.removeEventListener('abort', abort);
      if (!settled) call.cancel();
    }
  }

  close(): void {
    (this.#client as Client).close();
  }

  #deadline(): { deadline: Date } {
    return { deadline: new Date(Date.now() + this.#timeoutMs) };
  }

  #unary<T>(start: (done: (err: Failure | null, value?: T) => void) => void): Promise<T> {
    return new Promise((resolve, reject) => {
      start((err, value) => {
        if (err !== null) this.#failure(err).then(reject, reject);
        else if (value === undefined) reject(badResponse('an empty answer'));
        else resolve(value);
      });
    });
  }

  /** The AdminError for a failed call. UNAVAILABLE without the agent's code is most likely no
   * connection at all: the socket is probed to say exactly why, rather than reading grpc-js's text. */
  async #failure(err: Failure): Promise<AdminError> {
    const name = Status[err.code] ?? String(err.code);
    const code = adminCodeOf(err.metadata ?? undefined);
    if (code !== undefined) return new AdminError(code, err.details, { status: name, details: err.details });
    if (err.code === Status.UNAVAILABLE) {
      const errno = await connectError(this.#socketPath);
      if (errno !== undefined) {
        return new AdminError('UNREACHABLE', `cannot reach the agent's admin socket ${this.#socketPath}: ${errno} (${hint(errno)})`, {
          status: name, details: err.details, errno,
        });
      }
    }
    return new AdminError('RPC_FAILED', `${name}: ${err.details}`, { status: name, details: err.details });
  }
}

/** A stream the server ended OK for a reason of its own (status.ts, endTrailers): that reason. */
function endedBy(status: StatusObject): AdminError | undefined {
  if (status.code !== Status.OK) return undefined;
  const code = adminCodeOf(status.metadata);
  if (code === undefined) return undefined;
  const details = status.metadata.get(ERROR_DETAILS_TRAILER)[0];
  const message = typeof details === 'string' && details !== '' ? details : 'the agent ended the stream';
  return new AdminError(code, message, { details: message });
}

function hint(errno: string): string {
  if (errno === 'EACCES' || errno === 'EPERM') return 'the admin socket is root-only';
  if (errno === 'ENOENT' || errno === 'ECONNREFUSED') return 'is `tether agent run` running?';
  return 'is `tether agent run` running? the admin socket is root-only';
}

/** What connecting to the socket fails with now ('ENOENT', 'EACCES'...), or undefined if it connects. */
function connectError(path: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const probe = connect(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(undefined);
    });
    probe.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

/**
 * A server stream's messages, then its final status. At most READ_AHEAD messages wait here (the
 * stream is paused until the consumer takes them), so a slow consumer holds the agent back through
 * HTTP/2 flow control instead of buffering without bound. grpc-js pushes the end of the messages before it
 * reports the status, and may report the status while messages are still buffered: both are
 * waited for, so no message sent before an error is lost.
 */
const READ_AHEAD = 64;

async function* received<M>(call: ClientReadableStream<M>): AsyncGenerator<M, StatusObject, undefined> {
  const queue: M[] = [];
  let ended = false;
  let status: StatusObject | undefined;
  let wake: (() => void) | undefined;
  const notify = (): void => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  call.on('data', (m: M) => {
    queue.push(m);
    if (queue.length >= READ_AHEAD) call.pause();
    notify();
  });
  call.on('end', () => { ended = true; notify(); });
  call.on('status', (s: StatusObject) => { status = s; notify(); });
  call.on('error', () => {}); // the status carries it
  for (;;) {
    const next = queue.shift();
    if (next !== undefined) {
      yield next;
      continue;
    }
    if (ended && status !== undefined) return status;
    call.resume();
    await new Promise<void>((resolve) => { wake = resolve; });
  }
}
