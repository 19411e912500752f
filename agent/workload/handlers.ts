/**
 * The seven SpiffeWorkloadAPI methods. Every call checks the security header first; requests
 * are validated next (SPIRE's order), then the caller is attested on its own connection.
 * Errors become statuses only through status.ts.
 */
import { status as Status, type Metadata, type sendUnaryData, type ServerUnaryCall, type ServerWritableStream } from '@grpc/grpc-js';
import { SpiffeError, SpiffeId } from '../spiffe/index.js';
import type { Caller, WorkloadBackend, WorkloadLog } from './backend.js';
import { attestCall, checkSecurityHeader, identifyCaller, type PeerLookup } from './call-context.js';
import { WorkloadError } from './errors.js';
import { statusName, type WorkloadMethod, type WorkloadObserver } from './observer.js';
import type { JWTSVIDRequest__Output } from './gen/JWTSVIDRequest.js';
import type { JWTSVIDResponse } from './gen/JWTSVIDResponse.js';
import type { SpiffeWorkloadAPIDefinition, SpiffeWorkloadAPIHandlers } from './gen/SpiffeWorkloadAPI.js';
import type { ValidateJWTSVIDRequest__Output } from './gen/ValidateJWTSVIDRequest.js';
import type { ValidateJWTSVIDResponse } from './gen/ValidateJWTSVIDResponse.js';
import { jwtBundlesResponse, jwtSvidResponse, x509BundlesResponse, x509SvidResponse } from './messages.js';
import { serviceError, toStatus, type StatusAnswer } from './status.js';
import { toStruct } from './struct.js';
import { WatchStream, type OpenStreams, type StreamSource } from './watch-stream.js';

export interface HandlerDeps {
  readonly backend: WorkloadBackend;
  readonly peers: PeerLookup;
  readonly log: WorkloadLog;
  readonly service: SpiffeWorkloadAPIDefinition;
  readonly open: OpenStreams;
  readonly observer?: WorkloadObserver | undefined;
}

const WIT_UNIMPLEMENTED = 'the WIT-SVID profile is not implemented by this server';

export function workloadHandlers(deps: HandlerDeps): SpiffeWorkloadAPIHandlers {
  const { backend, service } = deps;
  return {
    FetchX509SVID: (call) => stream('FetchX509SVID', call, deps, {
      message: async (caller) => {
        const { svids, federatedBundles } = await backend.x509(caller);
        if (svids.length === 0) throw noIdentity(caller);
        return x509SvidResponse(svids, federatedBundles);
      },
      serialize: (m) => service.FetchX509SVID.responseSerialize(m),
    }),
    FetchX509Bundles: (call) => stream('FetchX509Bundles', call, deps, {
      message: async (caller) => x509BundlesResponse((await entitled(backend, caller)).x509Bundles()),
      serialize: (m) => service.FetchX509Bundles.responseSerialize(m),
    }),
    FetchJWTBundles: (call) => stream('FetchJWTBundles', call, deps, {
      message: async (caller) => jwtBundlesResponse((await entitled(backend, caller)).jwtBundles()),
      serialize: (m) => service.FetchJWTBundles.responseSerialize(m),
    }),
    FetchJWTSVID: (call, callback) => unary('FetchJWTSVID', callback, deps, () => fetchJwtSvid(call, deps)),
    ValidateJWTSVID: (call, callback) => unary('ValidateJWTSVID', callback, deps, () => validateJwtSvid(call, deps)),
    FetchWITSVID: (call) => refuse(call, deps, answerer('FetchWITSVID', deps), witRefusal(call.metadata)),
    FetchWITBundles: (call) => refuse(call, deps, answerer('FetchWITBundles', deps), witRefusal(call.metadata)),
  };
}

async function fetchJwtSvid(call: ServerUnaryCall<JWTSVIDRequest__Output, JWTSVIDResponse>, deps: HandlerDeps): Promise<JWTSVIDResponse> {
  checkSecurityHeader(call.metadata);
  const audience = call.request.audience;
  if (audience.length === 0) throw new WorkloadError('BAD_REQUEST', 'audience must be specified');
  if (audience.some((a) => a === '')) throw new WorkloadError('BAD_REQUEST', 'audience must not contain an empty value');
  const wanted = requestedId(call.request.spiffe_id);
  const caller = await identifyCaller(call, deps.peers, deps.backend);
  // The backend answers for `wanted` only; filtered again so no other identity's token leaks.
  const svids = (await deps.backend.jwtSvids(caller, audience, wanted)).filter((s) => wanted === undefined || s.spiffeId === wanted);
  if (svids.length === 0) throw noIdentity(caller);
  return jwtSvidResponse(svids);
}

async function validateJwtSvid(
  call: ServerUnaryCall<ValidateJWTSVIDRequest__Output, ValidateJWTSVIDResponse>, deps: HandlerDeps,
): Promise<ValidateJWTSVIDResponse> {
  checkSecurityHeader(call.metadata);
  if (call.request.audience === '') throw new WorkloadError('BAD_REQUEST', 'audience must be specified');
  if (call.request.svid === '') throw new WorkloadError('BAD_REQUEST', 'svid must be specified');
  await identifyCaller(call, deps.peers, deps.backend); // any attested caller may validate
  const { spiffeId, claims } = await deps.backend.validateJwt(call.request.svid, call.request.audience);
  return { spiffe_id: spiffeId, claims: toStruct(claims) };
}

/** Bundle streams answer only a caller with an identity (SPIRE's default, without
 * allow_unauthenticated_verifiers). */
async function entitled(backend: WorkloadBackend, caller: Caller): Promise<WorkloadBackend> {
  if ((await backend.x509(caller)).svids.length === 0) throw noIdentity(caller);
  return backend;
}

function noIdentity(caller: Caller): WorkloadError {
  return new WorkloadError('NO_IDENTITY', `${caller.description} is entitled to no identity`);
}

/** An optional spiffe_id: empty means every identity; otherwise it must parse (SPIRE's text). */
function requestedId(value: string): string | undefined {
  if (value === '') return undefined;
  try {
    return SpiffeId.parse(value).toString();
  } catch (err) {
    if (!(err instanceof SpiffeError)) throw err;
    throw new WorkloadError('BAD_REQUEST', `invalid requested SPIFFE ID: ${err.message}`, { cause: err });
  }
}

function stream<Req, M>(method: WorkloadMethod, call: ServerWritableStream<Req, M>, deps: HandlerDeps, source: StreamSource<M>): void {
  const answered = answerer(method, deps);
  attestCall(call, deps.peers, deps.backend).then(
    (caller) => new WatchStream(call, caller, source, { ...deps, answered }).start(),
    (err: unknown) => refuse(call, deps, answered, err),
  );
}

function unary<Res>(method: WorkloadMethod, callback: sendUnaryData<Res>, deps: HandlerDeps, answer: () => Promise<Res>): void {
  const answered = answerer(method, deps);
  answer().then(
    (response) => {
      answered(Status.OK);
      callback(null, response);
    },
    (err: unknown) => {
      const status = toStatus(err, deps.log);
      answered(status.code);
      callback(serviceError(status));
    },
  );
}

/** Ends a stream before its first message. */
function refuse<Req, M>(call: ServerWritableStream<Req, M>, deps: HandlerDeps, answered: (code: StatusAnswer['code']) => void, err: unknown): void {
  const status = toStatus(err, deps.log);
  answered(status.code);
  call.emit('error', serviceError(status));
}

/** Tells the observer, if any, how one call of `method` was answered. */
function answerer(method: WorkloadMethod, deps: HandlerDeps): (code: StatusAnswer['code']) => void {
  const { observer } = deps;
  return observer === undefined ? () => undefined : (code) => observer.answered(method, statusName(code));
}

/** The WIT profile: Unimplemented (the client must not retry), after the header check as every method. */
function witRefusal(metadata: Metadata): WorkloadError {
  try {
    checkSecurityHeader(metadata);
  } catch (err) {
    if (err instanceof WorkloadError) return err;
    throw err;
  }
  return new WorkloadError('UNIMPLEMENTED', WIT_UNIMPLEMENTED);
}
