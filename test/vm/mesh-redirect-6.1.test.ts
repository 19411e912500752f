import { release } from 'node:os';
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostTracker, type HostTracker } from '../../agent/attest/index.js';
import { MeshInbound, SockPrograms, ensureBpffs, meshCidrKey, uninstall, type MeshDestination } from '../../agent/kernel/index.js';
import { SockWorkloads } from '../support/sock-workload.js';
import { TestCgroup } from '../support/test-cgroup.js';
import { waitFor } from '../support/wait.js';

// Runs inside ../shared/vm/vm-run (Debian's 6.1 kernel; loopback only), started by `make test-vm`:
// the mesh redirect of connect4 (rewriting the context's address), the sockops hand-over to
// mesh_origins and the agent's lookup-and-delete, as test/kernel/mesh-redirect.test.ts does on 6.18.
const PIN_DIR = `/sys/fs/bpf/tether-test-vm-mesh-${process.pid}`;
const A = 901;

const CONNECT = (host: string, port: number): string => `import errno, socket, sys
s = socket.socket(socket.AF_INET6 if ":" in ${JSON.stringify(host)} else socket.AF_INET)
s.settimeout(30)
try:
    s.connect((${JSON.stringify(host)}, ${port}))
    print("ok", s.getsockname()[1], flush=True)
    sys.stdin.readline()
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)), flush=True)
s.close()
`;

describe('mesh redirect on Debian 6.1 (vm-run)', () => {
  let host: HostTracker;
  let cg: TestCgroup;
  let sock: SockPrograms;
  let run: SockWorkloads;
  let tunnel: Server;
  let tunnelPort: number;
  const seen: Array<{ port: number; origin: MeshDestination | undefined; again: MeshDestination | undefined }> = [];
  const sockets: Socket[] = [];

  beforeAll(async () => {
    expect(release()).toMatch(/^6\.1\./);
    host = hostTracker();
    host.tracker.start();
    ensureBpffs(PIN_DIR);
    cg = TestCgroup.create('tether-vm-mesh');
    sock = SockPrograms.open({ pinDir: PIN_DIR, cgroup: cg.path });
    run = new SockWorkloads({ host, cg, identities: () => sock.maps.identities });
    tunnel = createServer((s: Socket) => {
      const [address, port] = [s.remoteAddress as string, s.remotePort as number];
      seen.push({ port, origin: sock.meshOrigin(address, port), again: sock.meshOrigin(address, port) });
      s.on('error', () => {});
      sockets.push(s);
    });
    await new Promise<void>((r) => tunnel.listen(0, '127.0.0.1', () => r()));
    tunnelPort = (tunnel.address() as { port: number }).port;
    sock.maps.meshCidrs.update(meshCidrKey({ port: 0, family: 4, address: Buffer.from([198, 51, 100, 0]), prefixLength: 24 }), 1);
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    tunnel?.close();
    host?.tracker.stop();
    sock?.release();
    try { uninstall(PIN_DIR); } finally { await cg?.destroy(); }
  });

  it('redirects A\'s connect to 198.51.100.10:8080 to the tunnel listener, which takes its origin once', async () => {
    sock.maps.meshConfig.update(0, { tunnelPort, enabled: 1, inbound: MeshInbound.OFF, peerPort: 15008 });
    const w = await run.python(A, CONNECT('198.51.100.10', 8080));
    const port = Number((await w.line('ok ')).split(' ')[1]);
    const got = await waitFor('the accept', () => seen.find((s) => s.port === port), 60_000);
    expect(got.origin).toMatchObject({ family: 4, address: '198.51.100.10', port: 8080, sourceId: A, process: { tgid: w.pid } });
    expect(got.again).toBeUndefined();
    w.say('');
    await w.done;
  });

  it('never redirects a connect on the peer agents\' port (no network in the guest: unreachable)', async () => {
    const before = seen.length;
    expect(await run.connect(A, '198.51.100.10', 15008)).toBe('ENETUNREACH');
    expect(seen.length).toBe(before);
  });

  it('leaves the connect alone with the mesh disabled (no network in the guest: unreachable)', async () => {
    sock.maps.meshConfig.update(0, { tunnelPort, enabled: 0, inbound: MeshInbound.OFF, peerPort: 15008 });
    const before = seen.length;
    expect(await run.connect(A, '198.51.100.10', 8080)).toBe('ENETUNREACH');
    expect(seen.length).toBe(before);
  });
});
