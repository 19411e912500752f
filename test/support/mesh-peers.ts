/**
 * What test/e2e/mesh-agents.test.ts runs on its two hosts besides curl and http.server: python
 * workloads that hold or pace a connection, and a tunnel peer of our own (node) that speaks the
 * agents' exchange (MESH.md §2) or breaks it; plus reading Prometheus text and polling.
 */
import { setTimeout as sleep } from 'node:timers/promises';

/** Connects, GETs /marker.txt (HTTP/1.1, kept alive), prints "held <bytes>", holds it until a line on stdin. */
export const HOLD_PY = `import re, socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
s.sendall(b"GET /marker.txt HTTP/1.1\\r\\nHost: b\\r\\n\\r\\n")
buf = b""
while b"\\r\\n\\r\\n" not in buf:
    d = s.recv(65536)
    if not d: sys.exit("closed before the headers")
    buf += d
head, body = buf.split(b"\\r\\n\\r\\n", 1)
n = int(re.search(rb"Content-Length: (\\d+)", head).group(1))
while len(body) < n:
    d = s.recv(65536)
    if not d: sys.exit("closed in the body")
    body += d
print("held", len(body), flush=True)
sys.stdin.readline()
s.close()
`;

/** GETs a path (HTTP/1.1, Connection: close), stops after pause_at body bytes until a line on stdin. */
export const FETCH_PY = `import hashlib, re, socket, sys
host, port, path, pause_at = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
s = socket.create_connection((host, port))
s.sendall(f"GET {path} HTTP/1.1\\r\\nHost: b\\r\\nConnection: close\\r\\n\\r\\n".encode())
buf = b""
while b"\\r\\n\\r\\n" not in buf:
    d = s.recv(65536)
    if not d: sys.exit("closed before the headers")
    buf += d
head, body = buf.split(b"\\r\\n\\r\\n", 1)
n = int(re.search(rb"Content-Length: (\\d+)", head).group(1))
h = hashlib.sha256(body)
got, paused = len(body), False
while got < n:
    if not paused and got >= pause_at:
        print("mid", got, flush=True)
        sys.stdin.readline()
        paused = True
    d = s.recv(1 << 20)
    if not d: break
    h.update(d)
    got += len(d)
print("done", got, h.hexdigest(), flush=True)
`;

/** A peer of our own against B's tunnel port, run in A's namespace outside A's cgroup: TLS (with
 * a certificate or none) or plain TCP; sends `send`, then once "OK\n" came `GO <n>\n` and `afterOk`
 * (the exchange of MESH.md §2 as the agent's client runs it); prints what it saw. */
export const PROBE_MJS = `import { readFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
const o = JSON.parse(process.argv[2]);
const out = { secure: false, chain: [], received: '', error: null };
const finish = () => { process.stdout.write(JSON.stringify(out) + '\\n'); process.exit(0); };
setTimeout(() => { out.error = 'PROBE_TIMEOUT'; finish(); }, o.timeoutMs);
const bytes = (b64) => Buffer.from(b64, 'base64');
let s;
if (o.tls) {
  s = tlsConnect({ host: o.host, port: o.port, servername: o.sni, minVersion: 'TLSv1.3', rejectUnauthorized: false,
    ...(o.cert ? { cert: readFileSync(o.cert), key: readFileSync(o.key) } : {}) });
  s.on('secureConnect', () => {
    out.secure = true;
    const seen = new Set();
    for (let c = s.getPeerCertificate(true); c && c.fingerprint256 && !seen.has(c.fingerprint256); c = c.issuerCertificate) {
      seen.add(c.fingerprint256);
      out.chain.push({ fingerprint256: c.fingerprint256, uri: c.subjectaltname ?? null });
    }
    if (o.send) s.write(bytes(o.send));
  });
} else {
  s = netConnect({ host: o.host, port: o.port }, () => { if (o.send) s.write(bytes(o.send)); });
}
let sent = false;
let tickets = 0; // NewSessionTickets before OK: GO's count, as the agent's client sends it
s.on('session', () => { tickets++; });
s.on('data', (d) => {
  out.received += d.toString('latin1');
  if (o.afterOk && !sent && out.received.startsWith('OK\\n')) { sent = true; s.write(\`GO \${tickets + 1}\\n\`); s.write(bytes(o.afterOk)); }
});
s.on('error', (e) => { out.error = e.code ?? e.message; });
s.on('close', finish);
`;

export interface ProbeResult { secure: boolean; chain: Array<{ fingerprint256: string; uri: string | null }>; received: string; error: string | null }
export interface ProbeSpec { tls: boolean; cert?: string; send?: string | Buffer; afterOk?: string }

/** The sum of a metric's samples whose labels include `labels` (0 when there are none). */
export function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m === null || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1], l[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) sum += Number(m[3]);
  }
  return sum;
}

/** Polls an asynchronous condition; the deadline only turns a hang into a failure naming it. */
export async function until<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 20_000, detail?: () => string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${detail === undefined ? '' : `: ${detail()}`}`);
    await sleep(100);
  }
}

/**
 * A destination for test/vm/mesh-agents-6.1.test.ts (argv: port, reply file). Per connection, a
 * first line picks what it does: `PUT` reads to EOF, prints `put <n> <sha256>`, answers with the
 * reply file and FIN; `ECHO` echoes until EOF, then FIN. Whatever happens it prints
 * `end <conn> <mode> <bytes> <eof|reset|error-E>` (mode `none` when no line came): a tunnel
 * that breaks shows as a reset here.
 */
export const DEST_PY = `import errno, hashlib, socket, sys, threading
port, reply = int(sys.argv[1]), open(sys.argv[2], "rb").read()
srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("0.0.0.0", port))
srv.listen(64)
lock = threading.Lock()
def say(*a):
    with lock: print(*a, flush=True)
say("listening", port)
def handle(c, n):
    mode, got, end, buf = "none", 0, "eof", b""
    try:
        while mode == "none":
            d = c.recv(65536)
            if not d: break
            buf += d
            if b"\\n" in buf:
                line, buf = buf.split(b"\\n", 1)
                mode = line.decode("latin1")[:16] or "empty"
        got = len(buf)
        if mode == "PUT":
            h = hashlib.sha256(buf)
            while True:
                d = c.recv(1 << 20)
                if not d: break
                h.update(d)
                got += len(d)
            say("put", n, got, h.hexdigest())
            c.sendall(reply)
            c.shutdown(socket.SHUT_WR)
            while c.recv(65536): pass
        elif mode == "ECHO":
            if buf: c.sendall(buf)
            while True:
                d = c.recv(65536)
                if not d: break
                c.sendall(d)
                got += len(d)
            c.shutdown(socket.SHUT_WR)
    except ConnectionResetError:
        end = "reset"
    except OSError as e:
        end = "error-" + errno.errorcode.get(e.errno, str(e.errno))
    say("end", n, mode, got, end)
    c.close()
n = 0
while True:
    c, _ = srv.accept()
    n += 1
    threading.Thread(target=handle, args=(c, n), daemon=True).start()
`;

/** Sends `PUT\\n` and a file (argv: host, port, file), half-closes, reads the answer to EOF: prints `got <n> <sha256>`. */
export const PUT_PY = `import hashlib, socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
s.sendall(b"PUT\\n")
s.sendall(open(sys.argv[3], "rb").read())
s.shutdown(socket.SHUT_WR)
h, got = hashlib.sha256(), 0
while True:
    d = s.recv(1 << 20)
    if not d: break
    h.update(d)
    got += len(d)
print("got", got, h.hexdigest(), flush=True)
s.close()
`;

/** ECHOes argv[3] (argv: host, port, text), prints `held <n>` once it came back, holds until a line on stdin, then half-closes and reads to EOF. */
export const ECHO_HOLD_PY = `import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])))
msg = sys.argv[3].encode()
s.sendall(b"ECHO\\n" + msg)
got = b""
while len(got) < len(msg):
    d = s.recv(65536)
    if not d: sys.exit("closed before the echo")
    got += d
if got != msg: sys.exit("the echo differs")
print("held", len(got), flush=True)
sys.stdin.readline()
s.shutdown(socket.SHUT_WR)
while s.recv(65536): pass
print("closed", flush=True)
`;

/**
 * The agent's own tunnel client (agent/mesh TunnelClient, from the build), run with node in a
 * host's namespace against a peer agent: kTLS as probed (optionally `rxSeqSkew`, the test-only
 * wrong RX sequence), the SVID given as PEM files, the bundle from the root's PEM. A local
 * workload socket sends `send`, ends once `expect` bytes came back; prints what it saw: probe
 * mode, workload error, bytes received, the client's events.
 */
export const TUNNEL_CLIENT_MJS = `import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
const o = JSON.parse(process.argv[2]);
const out = { mode: null, opened: null, error: null, received: '', events: [], tunnels: [] };
const finish = () => { process.stdout.write(JSON.stringify(out) + '\\n'); process.exit(0); };
setTimeout(() => { out.error = out.error ?? 'SCRIPT_TIMEOUT'; finish(); }, o.timeoutMs);
const [mesh, kernel, spiffe] = await Promise.all([o.modules.mesh, o.modules.kernel, o.modules.spiffe].map((m) => import(m)));
const probe = await kernel.probeKtls({ cryptoInfoSize: mesh.cryptoInfoSize });
out.mode = probe.mode;
if (probe.mode !== 'ktls') finish();
const td = spiffe.TrustDomain.parse(o.trustDomain);
const bundle = spiffe.X509Bundle.parsePem(td, readFileSync(o.root));
const svid = { chain: [new X509Certificate(readFileSync(o.cert)).raw], privateKeyPkcs8: createPrivateKey(readFileSync(o.key)).export({ type: 'pkcs8', format: 'der' }) };
let ended;
const terminal = new Promise((resolve) => { ended = resolve; });
const client = new mesh.TunnelClient({
  trust: { trustDomain: td, bundle: () => bundle, now: () => new Date() }, handshakeTimeoutMs: o.timeoutMs,
  ktls: { ciphers: probe.ciphers, ...(o.rxSeqSkew === undefined ? {} : { rxSeqSkew: BigInt(o.rxSeqSkew) }) },
  onEvent: (e) => {
    out.events.push({ kind: e.kind, side: e.side, reason: e.reason ?? null, message: e.message ?? null, destId: e.destId?.toString() ?? null, bytes: e.bytes ?? null });
    if (e.kind !== 'opened') ended();
  },
});
const entry = createServer({ pauseOnConnect: true, allowHalfOpen: true }, (socket) => {
  void client.open({ workload: socket, destination: { host: o.host, port: o.port }, peer: { host: o.host, port: o.tunnelPort }, svid }).then((r) => {
    out.opened = r.ok;
    if (r.ok) out.tunnels = client.tunnels().map((t) => ({ side: t.side, mode: t.mode }));
  });
});
await new Promise((r) => entry.listen(0, '127.0.0.1', r));
const w = connect({ port: entry.address().port, host: '127.0.0.1', allowHalfOpen: true });
const chunks = [];
let got = 0;
w.on('connect', () => w.write(Buffer.from(o.send, 'latin1')));
w.on('data', (d) => { chunks.push(d); got += d.length; if (got >= o.expect) w.end(); });
w.on('end', () => w.end());
w.on('error', (e) => { out.error = e.code ?? e.message; });
w.on('close', async () => { out.received = Buffer.concat(chunks).toString('latin1'); await terminal; entry.close(); finish(); });
`;
