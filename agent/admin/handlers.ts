/**
 * The Admin methods: each request is checked (requests.ts), handed to the backend, and its
 * answer made a message (messages.ts, agent-messages.ts). Errors become statuses only through
 * status.ts.
 */
import type { sendUnaryData } from '@grpc/grpc-js';
import type { AdminBackend } from './backend.js';
import { EventStream, type OpenStreams } from './event-stream.js';
import type { AdminHandlers } from './gen/tether/admin/v1/Admin.js';
import { caStateMessage, matchMessage, processMessage, rotationMessage, statusMessage } from './agent-messages.js';
import { appliedMessage, connectionMessage, tunnelMessage, decisionMessage, unusedRuleMessage } from './messages.js';
import { postureReportMessage } from './posture-messages.js';
import {
  deviationMessage, deviationSeq, profileId, profileMessage, profileMode, quarantineMessage, quarantinePid,
} from './profile-messages.js';
import { checkRequest, eventsLimit, matchPid, policyText } from './requests.js';
import { serviceError, toStatus, type AdminLog } from './status.js';

export interface HandlerDeps {
  readonly backend: AdminBackend;
  readonly log: AdminLog;
  readonly open: OpenStreams;
  readonly maxBacklog: number;
}

export function adminHandlers(deps: HandlerDeps): AdminHandlers {
  const { backend } = deps;
  return {
    Events: (call) => {
      let limit: number;
      try {
        limit = eventsLimit(call.request.limit);
      } catch (err) {
        call.emit('error', serviceError(toStatus(err, deps.log)));
        return;
      }
      new EventStream(call, deps).start(limit, call.request.follow);
    },
    Connections: (_call, callback) => unary(callback, deps, () => ({
      connections: backend.connections().map(connectionMessage), tunnels: backend.tunnels().map(tunnelMessage),
    })),
    CheckPolicy: (call, callback) => unary(callback, deps, () => decisionMessage(backend.checkPolicy(checkRequest(call.request)))),
    ApplyPolicy: (call, callback) => unary(callback, deps, async () => appliedMessage(await backend.applyPolicy(policyText(call.request.yaml)))),
    SuggestPolicy: (_call, callback) => unary(callback, deps, () => ({ yaml: backend.suggestPolicy() })),
    UnusedRules: (_call, callback) => unary(callback, deps, () => ({ rules: backend.unusedRules().map(unusedRuleMessage) })),
    Status: (_call, callback) => unary(callback, deps, () => statusMessage(backend.status())),
    ListProcesses: (_call, callback) => unary(callback, deps, () => ({ processes: backend.processes().map(processMessage) })),
    MatchEntries: (call, callback) => unary(callback, deps, async () => matchMessage(await backend.matchEntries(matchPid(call.request.pid)))),
    CaStatus: (_call, callback) => unary(callback, deps, () => caStateMessage(backend.caStatus())),
    RotateCa: (_call, callback) => unary(callback, deps, async () => rotationMessage(await backend.rotateCa())),
    Posture: (call, callback) => unary(callback, deps, async () => postureReportMessage(await backend.posture(matchPid(call.request.pid)))),
    ShowProfile: (call, callback) => unary(callback, deps, () => profileMessage(backend.profile(profileId(call.request.spiffe_id)))),
    ProfileDiff: (call, callback) => unary(callback, deps, () => ({
      deviations: backend.profileDiff(profileId(call.request.spiffe_id)).map(deviationMessage),
    })),
    SetProfileMode: (call, callback) => unary(callback, deps, () =>
      profileMessage(backend.setProfileMode(profileId(call.request.spiffe_id), profileMode(call.request.mode)))),
    AcceptDeviation: (call, callback) => unary(callback, deps, () =>
      profileMessage(backend.acceptDeviation(profileId(call.request.spiffe_id), deviationSeq(call.request.seq)))),
    ListQuarantine: (_call, callback) => unary(callback, deps, () => ({ processes: backend.quarantined().map(quarantineMessage) })),
    ReleaseQuarantine: (call, callback) => unary(callback, deps, () => quarantineMessage(backend.releaseQuarantine(quarantinePid(call.request.pid)))),
  };
}

/** Runs `answer` (sync or async; a throw of either kind is the call's error) and ends the call. */
function unary<Res>(callback: sendUnaryData<Res>, deps: HandlerDeps, answer: () => Res | Promise<Res>): void {
  Promise.resolve().then(answer).then(
    (response) => callback(null, response),
    (err: unknown) => callback(serviceError(toStatus(err, deps.log))),
  );
}
