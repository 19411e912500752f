import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { workloadProtoPath } from '../../../agent/workload/index.js';
import { startWorkloadServer, svidFixture, type SvidFixture, type WorkloadHarness } from '../../support/workload-server.js';

/**
 * An independent gRPC stack against the real socket: Debian's python3-grpcio (it imports only
 * under /usr/bin/python3, DESIGN.md "Toolchain"). Once with raw bytes decoded by hand (nothing
 * of our .proto involved), once with stubs protoc compiles from proto/workload.proto.
 */
const PYTHON = '/usr/bin/python3';

function python(script: string, args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, ['-c', script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

async function runJson(script: string, args: readonly string[]): Promise<Record<string, unknown>> {
  const { code, stdout, stderr } = await python(script, args);
  expect(code, `python failed:\n${stderr}`).toBe(0);
  return JSON.parse(stdout) as Record<string, unknown>;
}

const RAW_CLIENT = String.raw`
import grpc, hashlib, json, sys

def varint(b, i):
    shift = n = 0
    while True:
        c = b[i]; i += 1
        n |= (c & 0x7f) << shift; shift += 7
        if c < 0x80:
            return n, i

def fields(b):
    i, out = 0, []
    while i < len(b):
        key, i = varint(b, i)
        if key & 7 != 2:
            raise ValueError('unexpected wire type %d' % (key & 7))
        n, i = varint(b, i)
        out.append((key >> 3, b[i:i + n])); i += n
    return out

channel = grpc.insecure_channel('unix:' + sys.argv[1])
fetch = channel.unary_stream('/SpiffeWorkloadAPI/FetchX509SVID',
                             request_serializer=lambda b: b, response_deserializer=lambda b: b)
result = {}
try:
    next(fetch(b'', timeout=5))
except grpc.RpcError as e:
    result['without_header'] = [e.code().name, e.details()]
stream = fetch(b'', metadata=[('workload.spiffe.io', 'true')], timeout=5)
message = next(stream)
stream.cancel()
result['svids'], result['federated'] = [], {}
for number, value in fields(message):
    if number == 1:
        names = {1: 'spiffe_id', 2: 'x509_svid', 3: 'x509_svid_key', 4: 'bundle', 5: 'hint'}
        svid = {names[n]: v for n, v in fields(value)}
        result['svids'].append({
            'spiffe_id': svid['spiffe_id'].decode(), 'hint': svid.get('hint', b'').decode(),
            'x509_svid': hashlib.sha256(svid['x509_svid']).hexdigest(),
            'x509_svid_key': hashlib.sha256(svid['x509_svid_key']).hexdigest(),
            'bundle': hashlib.sha256(svid['bundle']).hexdigest()})
    elif number == 3:
        entry = dict(fields(value))
        result['federated'][entry[1].decode()] = hashlib.sha256(entry[2]).hexdigest()
print(json.dumps(result))
`;

const STUB_CLIENT = String.raw`
import grpc, hashlib, json, os, sys
import grpc_tools
from grpc_tools import protoc

proto, out, socket = sys.argv[1], sys.argv[2], sys.argv[3]
well_known = os.path.join(os.path.dirname(grpc_tools.__file__), '_proto')
if protoc.main(['protoc', '-I' + os.path.dirname(proto), '-I' + well_known,
                '--python_out=' + out, '--grpc_python_out=' + out, proto]) != 0:
    sys.exit('protoc failed')
sys.path.insert(0, out)
import workload_pb2, workload_pb2_grpc
from google.protobuf import json_format

stub = workload_pb2_grpc.SpiffeWorkloadAPIStub(grpc.insecure_channel('unix:' + socket))
md = [('workload.spiffe.io', 'true')]
stream = stub.FetchX509SVID(workload_pb2.X509SVIDRequest(), metadata=md, timeout=5)
x509 = next(stream)
stream.cancel()
jwt = stub.FetchJWTSVID(workload_pb2.JWTSVIDRequest(audience=['db']), metadata=md, timeout=5)
valid = stub.ValidateJWTSVID(workload_pb2.ValidateJWTSVIDRequest(audience='db', svid='tok'), metadata=md, timeout=5)
try:
    next(stub.FetchWITSVID(workload_pb2.WITSVIDRequest(), metadata=md, timeout=5))
    wit = 'served'
except grpc.RpcError as e:
    wit = e.code().name
print(json.dumps({
    'svids': [[s.spiffe_id, s.hint, hashlib.sha256(s.x509_svid).hexdigest()] for s in x509.svids],
    'jwt': [s.spiffe_id for s in jwt.svids],
    'validated': valid.spiffe_id,
    'claims': json_format.MessageToDict(valid.claims),
    'wit': wit,
}))
`;

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const ID = 'spiffe://example.org/py';

let svid: SvidFixture;
let foreign: SvidFixture;
let h: WorkloadHarness;
let scratch: string;

beforeAll(async () => {
  const probe = await python('import grpc, grpc_tools', []);
  expect(probe.code, `Debian's python3-grpcio and python3-grpc-tools must import under ${PYTHON}:\n${probe.stderr}`).toBe(0);
  svid = await svidFixture(ID, 'py-hint');
  foreign = await svidFixture('spiffe://other.org/x');
  scratch = mkdtempSync(join(tmpdir(), 'tether-pyproto-'));
});

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

beforeEach(async () => {
  h = await startWorkloadServer();
  h.backend.programs.set(4242, '/usr/bin/python3');
  h.backend.entitlements.set('/usr/bin/python3', [svid.item]);
  h.backend.federatedBundles = new Map([['spiffe://other.org', foreign.root.der]]);
});

afterEach(async () => {
  await h.close();
});

describe('python3-grpcio as the client', () => {
  it('gets the SVID with raw bytes decoded by hand, and INVALID_ARGUMENT without the header', async () => {
    const result = await runJson(RAW_CLIENT, [h.socketPath]);
    expect(result.without_header).toEqual(['INVALID_ARGUMENT', 'security header missing from request']);
    expect(result.svids).toEqual([{
      spiffe_id: ID, hint: 'py-hint', x509_svid: sha256(svid.leaf.der),
      x509_svid_key: sha256(svid.item.privateKeyPkcs8), bundle: sha256(svid.root.der),
    }]);
    expect(result.federated).toEqual({ 'spiffe://other.org': sha256(foreign.root.der) });
  }, 30_000);

  it('with stubs protoc compiles from proto/workload.proto: X509, JWT, Struct claims, WIT', async () => {
    const claims = { sub: ID, aud: ['db'], exp: 1_900_000_000, nested: { ok: true, list: [1, 'a', null] } };
    h.backend.tokens.set('tok', { spiffeId: ID, audience: ['db'], claims });
    const result = await runJson(STUB_CLIENT, [workloadProtoPath(), scratch, h.socketPath]);
    expect(result).toEqual({
      svids: [[ID, 'py-hint', sha256(svid.leaf.der)]],
      jwt: [ID],
      validated: ID,
      claims,
      wit: 'UNIMPLEMENTED',
    });
  }, 30_000);
});
