import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Metadata, credentials, type ServiceError, type StatusObject } from '@grpc/grpc-js';
import {
  WorkloadClient, WorkloadServer, type WorkloadLog, type WorkloadObserver, type X509SvidItem,
} from '../../agent/workload/index.js';
import { FakePeerReader } from '../fakes/fake-peer-reader.js';
import { FakeWorkloadBackend } from '../fakes/fake-workload-backend.js';
import { leaf, root, type Issued } from './x509-certs.js';

/** Log lines kept for assertions. */
export class RecordingLog implements WorkloadLog {
  readonly lines: Array<{ level: string; obj: object; msg: string }> = [];
  debug(obj: object, msg: string): void { this.lines.push({ level: 'debug', obj, msg }); }
  info(obj: object, msg: string): void { this.lines.push({ level: 'info', obj, msg }); }
  warn(obj: object, msg: string): void { this.lines.push({ level: 'warn', obj, msg }); }
  error(obj: object, msg: string): void { this.lines.push({ level: 'error', obj, msg }); }
}

export interface WorkloadHarness {
  readonly dir: string;
  readonly socketPath: string;
  /** "unix:///…" as SPIFFE_ENDPOINT_SOCKET has it. */
  readonly address: string;
  readonly backend: FakeWorkloadBackend;
  readonly peers: FakePeerReader;
  readonly log: RecordingLog;
  readonly server: WorkloadServer;
  client(): WorkloadClient;
  /** A grpc-js client with no service: hostile and raw calls. */
  raw(): Client;
  close(): Promise<void>;
}

/** A real WorkloadServer on a real Unix socket in a fresh temp dir, over the fakes. */
export async function startWorkloadServer(options: { maxRequestBytes?: number; observer?: WorkloadObserver } = {}): Promise<WorkloadHarness> {
  const dir = mkdtempSync(join(tmpdir(), 'tether-workload-'));
  const socketPath = join(dir, 'public', 'agent.sock');
  const backend = new FakeWorkloadBackend();
  const peers = new FakePeerReader();
  const log = new RecordingLog();
  const server = new WorkloadServer({ socketPath, backend, peers, log, ...options });
  await server.start();
  const clients: Array<{ close(): void }> = [];
  const track = <C extends { close(): void }>(c: C): C => {
    clients.push(c);
    return c;
  };
  return {
    dir, socketPath, address: `unix://${socketPath}`, backend, peers, log, server,
    client: () => track(new WorkloadClient({ address: `unix://${socketPath}`, timeoutMs: 5000 })),
    raw: () => track(new Client(`unix:${socketPath}`, credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 })),
    close: async () => {
      for (const c of clients) c.close();
      await server.close(1000);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function securityHeader(value: string | null = 'true'): Metadata {
  const md = new Metadata();
  if (value !== null) md.set('workload.spiffe.io', value);
  return md;
}

const pass = (b: Buffer): Buffer => b;

/** A server-streaming call with raw request bytes: the messages received and the final status.
 * Cancels after `take` messages; `onMessage` sees each as it arrives. */
export function rawStream(
  client: Client, method: string, request: Buffer, metadata: Metadata,
  options: { take?: number; onMessage?: (m: Buffer, index: number) => void } = {},
): Promise<{ messages: Buffer[]; status: StatusObject }> {
  return new Promise((resolve) => {
    const messages: Buffer[] = [];
    const call = client.makeServerStreamRequest(method, pass, pass, request, metadata, {});
    call.on('data', (m: Buffer) => {
      messages.push(m);
      options.onMessage?.(m, messages.length - 1);
      if (messages.length >= (options.take ?? Infinity)) call.cancel();
    });
    call.on('status', (status: StatusObject) => resolve({ messages, status }));
    call.on('error', () => {}); // the status event carries it
  });
}

/** A unary call with raw request bytes: its answer or its error. */
export function rawUnary(client: Client, method: string, request: Buffer, metadata: Metadata):
  Promise<{ response?: Buffer; error?: ServiceError }> {
  return new Promise((resolve) => {
    client.makeUnaryRequest(method, pass, pass, request, metadata, {}, (error, response) =>
      resolve(error ? { error } : { response: response as Buffer }));
  });
}

export interface SvidFixture {
  readonly root: Issued;
  readonly leaf: Issued;
  readonly item: X509SvidItem;
}

/** A real root and leaf for `id`, as the backend hands them to the server. */
export async function svidFixture(id: string, hint = '', ca?: Issued): Promise<SvidFixture> {
  const td = new URL(id).host;
  const authority = ca ?? await root(td);
  const cert = await leaf(authority, id);
  return {
    root: authority,
    leaf: cert,
    item: {
      spiffeId: id, chain: [cert.der], privateKeyPkcs8: cert.privateKey.export({ type: 'pkcs8', format: 'der' }),
      bundle: authority.der, hint,
    },
  };
}

/** A JWKS document with one P-256 key of `kid`, as FetchJWTBundles carries it. */
export function jwks(kid: string): Buffer {
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return Buffer.from(JSON.stringify({ keys: [{ ...publicKey.export({ format: 'jwk' }), kid, use: 'jwt-svid' }] }));
}
