import { execFileSync, type ChildProcess } from 'node:child_process';
import { SockPrograms, ensureBpffs, uninstall, type SockEvent } from '../../agent/kernel/index.js';
import { NetnsHosts, type NetnsHost } from './netns-hosts.js';
import { TestCgroup } from './test-cgroup.js';
import { waitFor } from './wait.js';

/** Dual-stack listeners on the ports given; each accepted connection gets "hi" and a close. */
const SERVER_PY = `import select, socket, sys
socks = []
for port in map(int, sys.argv[1:]):
    s = socket.socket(socket.AF_INET6)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("::", port)); s.listen(64); socks.append(s)
print("listening", flush=True)
while True:
    for s in select.select(socks, [], [])[0]:
        c = s.accept()[0]; c.sendall(b"hi"); c.close()
`;

/** One connect with a 2 s timeout: "ok" once the server's greeting came, "timeout", or an errno name. */
const DIAL_PY = `import errno, socket, sys
host, port = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
s.settimeout(2)
try:
    s.connect((host, port)); print("ok" if s.recv(2) == b"hi" else "no greeting")
except socket.timeout: print("timeout")
except OSError as e: print(errno.errorcode.get(e.errno, str(e.errno)))
`;

/** IPv6 on the veth pair (the hosts have IPv4 only), without duplicate address detection's wait. */
const V6 = { a: 'fd00:231::1', b: 'fd00:231::2' };

/** Host B serves, inside a test cgroup the sock programs are attached to, one port whose listener
 * has an identity (by the cgroup, given at exec) and one whose listener has none; host A is
 * another host, outside the cgroup. */
export interface InboundRig {
  readonly hosts: NetnsHosts;
  readonly v6: typeof V6;
  readonly cg: TestCgroup;
  readonly sock: SockPrograms;
  readonly meshedPort: number;
  readonly plainPort: number;
  /** Every sock event delivered so far (drained on each call). */
  events(): SockEvent[];
  /** One connect from `from` (outside the cgroup) to `address`:`port`. */
  dial(from: NetnsHost, address: string, port: number): Promise<string>;
  /** Kills the servers, removes the namespaces, uninstalls the pin dir, removes the cgroup. */
  close(): Promise<void>;
}

async function serve(hosts: NetnsHosts, cg: TestCgroup, ports: number[]): Promise<ChildProcess> {
  const child = hosts.run(hosts.b, ['/usr/bin/python3', '-c', SERVER_PY, ...ports.map(String)], { cgroup: cg.path });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr?.on('data', (d: Buffer) => { out += d.toString(); });
  await waitFor(`B's listeners on ${ports.join(', ')} (${out})`, () => out.includes('listening') || child.exitCode !== null);
  if (!out.includes('listening')) throw new Error(`B's server on ${ports.join(', ')} exited: ${out}`);
  return child;
}

export async function openInboundRig(o: { name: string; pinDir: string; listenerId: number }): Promise<InboundRig> {
  const seen: SockEvent[] = [];
  let hosts: NetnsHosts | undefined;
  let sock: SockPrograms | undefined;
  ensureBpffs(o.pinDir);
  const cg = TestCgroup.create(o.name);
  const close = async (): Promise<void> => {
    try {
      try { hosts?.destroy(); } finally { sock?.release(); uninstall(o.pinDir); }
    } finally {
      await cg.destroy();
    }
  };
  try {
    hosts = NetnsHosts.create();
    for (const [h, addr] of [[hosts.a, V6.a], [hosts.b, V6.b]] as const) {
      execFileSync('ip', ['-n', h.name, 'addr', 'add', `${addr}/64`, 'dev', h.veth, 'nodad']);
    }
    const opened = SockPrograms.open({ pinDir: o.pinDir, cgroup: cg.path, onEvents: (e) => seen.push(...e) });
    sock = opened;
    const [meshedPort, plainPort] = [8080, 8081]; // B's namespace is new: both are free there
    await serve(hosts, cg, [plainPort]); // before the cgroup has an identity: an unidentified listener
    opened.maps.cgroups.update(cg.id, o.listenerId);
    await serve(hosts, cg, [meshedPort]);
    if (opened.maps.listeners.lookup(meshedPort) !== o.listenerId) throw new Error('bind6 did not record the identified listener');
    const h = hosts;
    return {
      hosts: h, v6: V6, cg, sock: opened, meshedPort, plainPort, close,
      events: () => { opened.drainEvents(); return seen; },
      dial: async (from, address, port) => (await h.exec(from, ['/usr/bin/python3', '-c', DIAL_PY, address, String(port)])).stdout.trim(),
    };
  } catch (err) {
    await close(); // a failed start leaves no namespaces, pins, hooks or cgroup behind
    throw err;
  }
}
