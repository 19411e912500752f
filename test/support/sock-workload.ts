import { hostTracker, type HostTracker } from '../../agent/attest/index.js';
import { SockPrograms, ensureBpffs, uninstall, type SockEvent, type SockMaps } from '../../agent/kernel/index.js';
import { execRecord } from './exec-record.js';
import { TestCgroup } from './test-cgroup.js';
import { exited, waitFor } from './wait.js';

/** A python3 in a test cgroup, holding on its first stdin line until its identity is in place. */
export interface Workload {
  readonly pid: number;
  output(): string;
  /** The first output line that starts with `prefix`, once printed. */
  line(prefix: string): Promise<string>;
  /** Writes one line to its stdin. */
  say(text: string): void;
  readonly done: Promise<number | null>;
  kill(): void;
}

/** Python that prints the outcome of one connect: "ok" or an errno name ("EPERM", "EINPROGRESS"). */
export const CONNECT_PY = `import errno, socket, sys
def attempt(host, port, wait=True, hold=False):
    s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(5) if wait else s.setblocking(False)
    try:
        s.connect((host, port))
        out = "ok"
    except BlockingIOError:
        out = "EINPROGRESS"
    except OSError as e:
        out = errno.errorcode.get(e.errno, str(e.errno))
    if hold and out == "ok":
        print(out, s.getsockname()[1], flush=True)
        sys.stdin.readline()
    s.close()
    return out
`;

export class SockWorkloads {
  readonly #host: HostTracker;
  readonly #cg: TestCgroup;
  readonly #identities: () => SockMaps['identities'];

  constructor(options: { host: HostTracker; cg: TestCgroup; identities: () => SockMaps['identities'] }) {
    this.#host = options.host;
    this.#cg = options.cg;
    this.#identities = options.identities;
  }

  /** Starts `script` as identity `id` (none: unidentified); it runs once that identity is set. */
  async python(id: number | undefined, script: string): Promise<Workload> {
    const child = this.#cg.spawn(['/usr/bin/python3', '-c', `import sys\nsys.stdin.readline()\n${script}`], 'pipe');
    let out = '';
    child.stdout?.on('data', (b: Buffer) => { out += b.toString(); });
    await new Promise((r) => child.once('spawn', r));
    const pid = child.pid as number;
    const rec = await execRecord(this.#host, pid);
    if (id !== undefined) this.#identities().update(pid, { id, coarse: 0, startNs: rec.key.startNs });
    child.stdin?.write('go\n');
    // The exit tracepoint clears the entry; this covers a test that gave one by hand. After
    // the maps were released (a server killed in afterAll) there is nothing to clear.
    const done = exited(child).finally(() => { if (id !== undefined) try { this.#identities().delete(pid); } catch { /* released */ } });
    return {
      pid, done, output: () => out,
      line: (prefix) => waitFor(`a line "${prefix}…" from ${pid}`, () => out.split('\n').find((l) => l.startsWith(prefix))),
      say: (text) => { child.stdin?.write(`${text}\n`); },
      kill: () => { child.kill('SIGKILL'); },
    };
  }

  /** One connect as `id`: "ok", or the errno name connect() failed with. */
  async connect(id: number | undefined, host: string, port: number, wait = true): Promise<string> {
    const w = await this.python(id, `${CONNECT_PY}print(attempt(${JSON.stringify(host)}, ${port}, ${wait ? 'True' : 'False'}))`);
    await w.done;
    return w.output().trim();
  }
}

/** The parts of a socket-hook test: a tracker, a test cgroup with the hooks on it, workloads, and
 * a dual-stack python server of identity `serverId` on `port` (bind6 records it). */
export interface SockRig {
  readonly host: HostTracker;
  readonly cg: TestCgroup;
  readonly sock: SockPrograms;
  readonly run: SockWorkloads;
  readonly server: Workload;
  /** Kills the server, stops the tracker, releases the hooks, uninstalls the pin dir, removes the cgroup. */
  close(): Promise<void>;
}

export async function openSockRig(o: {
  name: string; pinDir: string; serverId: number; port: number; onEvents?: (events: SockEvent[]) => void;
}): Promise<SockRig> {
  const host = hostTracker();
  host.tracker.start();
  ensureBpffs(o.pinDir);
  const cg = TestCgroup.create(o.name);
  let sock: SockPrograms | undefined;
  let server: Workload | undefined;
  const close = async (): Promise<void> => {
    server?.kill();
    host.tracker.stop();
    sock?.release();
    try { uninstall(o.pinDir); } finally { await cg.destroy(); }
  };
  try {
    const opened = SockPrograms.open({ pinDir: o.pinDir, cgroup: cg.path, ...(o.onEvents ? { onEvents: o.onEvents } : {}) });
    sock = opened;
    const run = new SockWorkloads({ host, cg, identities: () => opened.maps.identities });
    server = await run.python(o.serverId, `import socket
s = socket.socket(socket.AF_INET6); s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("::", ${o.port})); s.listen(64)
print("listening", flush=True)
while True: s.accept()[0].close()`);
    await server.line('listening');
    return { host, cg, sock: opened, run, server, close };
  } catch (err) {
    await close(); // a failed start leaves no pins, hooks or cgroup behind
    throw err;
  }
}
