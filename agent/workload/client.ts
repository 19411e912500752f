/**
 * A Workload API client over grpc-js, for the CLI and tests: it always sends the security
 * header, turns a failed call into WorkloadError RPC_FAILED carrying the gRPC status name and
 * details, and reads every response into spiffe/ values, refusing one that breaks the
 * Workload API's rules (BAD_RESPONSE) as a client SHOULD (SPIFFE.md a.3).
 */
import {
  Metadata, credentials, status as Status, type Client, type ClientReadableStream, type ServiceError,
} from '@grpc/grpc-js';
import { JwtBundle, SpiffeError, SpiffeId, TrustDomain, X509Bundle, parseEndpointAddress } from '../spiffe/index.js';
import { SECURITY_HEADER } from './call-context.js';
import { WorkloadError } from './errors.js';
import type { SpiffeWorkloadAPIClient } from './gen/SpiffeWorkloadAPI.js';
import type { X509SVIDResponse__Output } from './gen/X509SVIDResponse.js';
import { loadWorkloadApi } from './proto-loader.js';
import { fromStruct } from './struct.js';

export interface FetchedX509Svid {
  readonly spiffeId: SpiffeId;
  /** DER certificates, leaf first. */
  readonly chain: readonly Buffer[];
  readonly privateKeyPkcs8: Buffer;
  /** The SVID's own trust domain's authorities. */
  readonly bundle: X509Bundle;
  readonly hint: string;
}

/** One FetchX509SVID message; svids[0] is the default identity. */
export interface X509Context {
  readonly svids: readonly FetchedX509Svid[];
  readonly federatedBundles: ReadonlyMap<string, X509Bundle>;
  readonly crl: readonly Buffer[];
}

export interface FetchedJwtSvid {
  readonly spiffeId: SpiffeId;
  readonly token: string;
  readonly hint: string;
}

export interface WorkloadClientOptions {
  /** "unix:///path" or "tcp://IP:port" (SPIFFE_ENDPOINT_SOCKET form). */
  readonly address: string;
  /** Deadline of a unary call, and of the first message of a fetch. */
  readonly timeoutMs?: number;
}

export class WorkloadClient {
  readonly #client: SpiffeWorkloadAPIClient;
  readonly #timeoutMs: number;

  constructor(options: WorkloadClientOptions) {
    const { Client } = loadWorkloadApi();
    // A connection of its own: the server attests each connection, so two clients in one
    // process must not share grpc-js's global subchannel pool.
    this.#client = new Client(grpcTarget(options.address), credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
    this.#timeoutMs = options.timeoutMs ?? 5000;
  }

  /** The first FetchX509SVID message. */
  async fetchX509(): Promise<X509Context> {
    return readX509(await this.#first(this.#client.FetchX509SVID({}, header(), this.#deadline())));
  }

  /** Every FetchX509SVID message until `signal` aborts (resolves) or the stream fails (rejects). */
  watchX509(onResponse: (context: X509Context) => void, signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const call = this.#client.FetchX509SVID({}, header());
      const abort = (): void => call.cancel();
      signal.addEventListener('abort', abort, { once: true });
      const settle = (err?: unknown): void => {
        signal.removeEventListener('abort', abort);
        if (err === undefined) resolve();
        else reject(err);
      };
      call.on('data', (message: X509SVIDResponse__Output) => {
        try {
          onResponse(readX509(message));
        } catch (err) {
          call.cancel();
          settle(err);
        }
      });
      call.on('error', (err: ServiceError) => settle(signal.aborted && err.code === Status.CANCELLED ? undefined : rpcError(err)));
      call.on('end', () => settle());
      if (signal.aborted) abort();
    });
  }

  async fetchJwt(audience: readonly string[], spiffeId?: string): Promise<FetchedJwtSvid[]> {
    const response = await this.#unary<{ svids: Array<{ spiffe_id: string; svid: string; hint: string }> }>((done) =>
      this.#client.FetchJWTSVID({ audience: [...audience], spiffe_id: spiffeId ?? '' }, header(), this.#deadline(), done));
    if (response.svids.length === 0) throw badResponse('FetchJWTSVID answered with no JWT-SVID');
    return response.svids.map((s) => ({ spiffeId: parseId(s.spiffe_id), token: required(s.svid, 'svid'), hint: s.hint }));
  }

  /** The first FetchX509Bundles message, by trust domain SPIFFE ID. */
  async fetchX509Bundles(): Promise<Map<string, X509Bundle>> {
    const message = await this.#first(this.#client.FetchX509Bundles({}, header(), this.#deadline()));
    return bundleMap(message.bundles, (td, bytes) => X509Bundle.parseDer(td, bytes));
  }

  /** The first FetchJWTBundles message, by trust domain SPIFFE ID. */
  async fetchJwtBundles(): Promise<Map<string, JwtBundle>> {
    const message = await this.#first(this.#client.FetchJWTBundles({}, header(), this.#deadline()));
    return bundleMap(message.bundles, (td, bytes) => JwtBundle.parseJwks(td, bytes));
  }

  async validate(token: string, audience: string): Promise<{ spiffeId: SpiffeId; claims: Record<string, unknown> }> {
    const response = await this.#unary<{ spiffe_id: string; claims: Parameters<typeof fromStruct>[0] }>((done) =>
      this.#client.ValidateJWTSVID({ svid: token, audience }, header(), this.#deadline(), done));
    return { spiffeId: parseId(response.spiffe_id), claims: fromStruct(response.claims) };
  }

  close(): void {
    (this.#client as Client).close();
  }

  #deadline(): { deadline: Date } {
    return { deadline: new Date(Date.now() + this.#timeoutMs) };
  }

  #unary<T>(start: (done: (err: ServiceError | null, value?: T) => void) => void): Promise<T> {
    return new Promise((resolve, reject) => {
      start((err, value) => (err !== null ? reject(rpcError(err)) : value === undefined ? reject(badResponse('empty answer')) : resolve(value)));
    });
  }

  /** The first message of a stream, then cancels it. */
  #first<T>(call: ClientReadableStream<T>): Promise<T> {
    return new Promise((resolve, reject) => {
      let done = false;
      call.once('data', (message: T) => {
        done = true;
        call.cancel();
        resolve(message);
      });
      call.on('error', (err: ServiceError) => {
        if (!done) reject(rpcError(err));
      });
      call.on('end', () => {
        if (!done) reject(badResponse('the stream ended before its first message'));
      });
    });
  }
}

/** A grpc-js target for an endpoint address; the path is used as is (grpc-js does not decode). */
function grpcTarget(address: string): string {
  let parsed;
  try {
    parsed = parseEndpointAddress(address);
  } catch (cause) {
    throw new WorkloadError('BAD_ADDRESS', `bad Workload API address ${JSON.stringify(address)}: ${(cause as Error).message}`, { cause });
  }
  if (parsed.kind === 'unix') return `unix:${parsed.path}`;
  return parsed.host.includes(':') ? `ipv6:[${parsed.host}]:${parsed.port}` : `ipv4:${parsed.host}:${parsed.port}`;
}

function header(): Metadata {
  const metadata = new Metadata();
  metadata.set(SECURITY_HEADER, 'true');
  return metadata;
}

function rpcError(err: ServiceError): WorkloadError {
  const name = Status[err.code] ?? String(err.code);
  return new WorkloadError('RPC_FAILED', `${name}: ${err.details}`, { cause: err, status: name, details: err.details });
}

function badResponse(message: string, cause?: unknown): WorkloadError {
  return new WorkloadError('BAD_RESPONSE', `Workload API response refused: ${message}`, cause === undefined ? undefined : { cause });
}

function required<T extends { length: number }>(value: T, field: string): T {
  if (value.length === 0) throw badResponse(`${field} is empty`);
  return value;
}

function parseId(value: string): SpiffeId {
  try {
    return SpiffeId.parse(value);
  } catch (cause) {
    throw badResponse(`spiffe_id ${JSON.stringify(value)}: ${(cause as Error).message}`, cause);
  }
}

/** Runs a spiffe/ parse of response data, refusing the response if it throws. */
function parsed<T>(what: string, parse: () => T): T {
  try {
    return parse();
  } catch (cause) {
    if (!(cause instanceof SpiffeError)) throw cause;
    throw badResponse(`${what}: ${cause.message}`, cause);
  }
}

function readX509(message: X509SVIDResponse__Output): X509Context {
  if (message.svids.length === 0) throw badResponse('FetchX509SVID answered with no X509-SVID');
  const svids = message.svids.map((s): FetchedX509Svid => {
    const spiffeId = parseId(s.spiffe_id);
    const td = spiffeId.trustDomain;
    return {
      spiffeId,
      // The chain is concatenated DER like a bundle: split and parsed the same way (no CA rules).
      chain: parsed(`x509_svid of ${spiffeId}`, () => X509Bundle.parseDer(td, required(s.x509_svid, 'x509_svid')).authorities()),
      privateKeyPkcs8: required(s.x509_svid_key, 'x509_svid_key'),
      bundle: parsed(`bundle of ${spiffeId}`, () => X509Bundle.parseDer(td, required(s.bundle, 'bundle'))),
      hint: s.hint,
    };
  });
  const federatedBundles = bundleMap(message.federated_bundles, (td, bytes) => X509Bundle.parseDer(td, bytes));
  return { svids, federatedBundles, crl: message.crl };
}

/** A bundle map keyed "spiffe://td", each value parsed for its trust domain. */
function bundleMap<B>(bundles: Record<string, Buffer>, parse: (td: TrustDomain, bytes: Buffer) => B): Map<string, B> {
  const out = new Map<string, B>();
  for (const key of Object.keys(bundles).sort()) {
    const id = parseId(key);
    if (!id.isRoot()) throw badResponse(`bundle key ${JSON.stringify(key)} is not a trust domain's SPIFFE ID`);
    out.set(key, parsed(`bundle of ${key}`, () => parse(id.trustDomain, bundles[key] as Buffer)));
  }
  return out;
}
