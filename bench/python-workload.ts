/**
 * A brand-new workload for the benches: Debian's python3 (python3-grpcio), exec'd per run, asking
 * the agent for its first X509-SVID with raw bytes (no stubs), with or without the security
 * header. The agent must see the exec (the tracker) and match the new process's path.
 */
import { spawn } from 'node:child_process';
import { realpathSync } from 'node:fs';

export const PYTHON = realpathSync('/usr/bin/python3'); // not a pyenv shim on PATH

// argv: socket, "1" to send the header. Prints: the answer (or status), seconds in the call, seconds since start.
const SCRIPT = `import time; t0 = time.monotonic()
import sys, grpc
t1 = time.monotonic()
ch = grpc.insecure_channel("unix:" + sys.argv[1])
fetch = ch.unary_stream("/SpiffeWorkloadAPI/FetchX509SVID", request_serializer=lambda b: b, response_deserializer=lambda b: b)
try:
    r = "ok" if len(next(fetch(b"", metadata=[("workload.spiffe.io", "true")] if sys.argv[2] == "1" else [], timeout=30))) > 0 else "empty"
except grpc.RpcError as e:
    r = e.code().name
t2 = time.monotonic()
print(r, t2 - t1, t2 - t0, flush=True)
ch.close()`;

export interface ExecRun { readonly result: string; readonly spawnToLineMs: number; readonly callMs: number }
export interface ExecRuns { readonly real: ExecRun[]; readonly base: ExecRun[] }

/** One fresh python3 process: from spawn() to its first line, and its own timing of the call. */
function execOnce(socket: string, attest: boolean): Promise<ExecRun> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(PYTHON, ['-c', SCRIPT, socket, attest ? '1' : '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    let line: ExecRun | undefined;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      if (line !== undefined || !out.includes('\n')) return;
      const [result = '', call = 'NaN'] = out.split(/\s+/);
      line = { result, spawnToLineMs: performance.now() - t0, callMs: Number(call) * 1000 };
    });
    child.once('error', reject);
    child.once('exit', (code) => (line !== undefined ? resolve(line) : reject(new Error(`python3 exited with ${code} and no line`))));
  });
}

/** `runs` with the header (expected "ok") interleaved with `runs` without (expected
 * INVALID_ARGUMENT), after one unreported run that warms the page cache. */
export async function execToSvid(socket: string, runs: number): Promise<ExecRuns> {
  await execOnce(socket, true);
  const real: ExecRun[] = [];
  const base: ExecRun[] = [];
  for (let i = 0; i < runs; i++) {
    real.push(await execOnce(socket, true));
    base.push(await execOnce(socket, false));
  }
  return { real, base };
}
