import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PeerCredentialReader, PidFd } from '../../agent/kernel/index.js';
import { exited, waitFor } from '../support/wait.js';
import { openFds } from '../support/fd-count.js';

// A real client process (Debian's python3, as uid 65534) connects to a real Unix socket; the
// server reads the kernel's view of it from the accepted fd.
const SOCK = join(tmpdir(), `tether-peer-${process.pid}.sock`);

/** The fd of an accepted socket: libuv's handle has it; the addon reads the peer from it. */
const fdOf = (s: Socket): number => (s as unknown as { _handle: { fd: number } })._handle.fd;

describe('peer credentials and pidfds on a Unix socket', () => {
  let server: Server;
  const accepted: Socket[] = [];

  beforeAll(async () => {
    server = createServer((s) => { accepted.push(s); });
    await new Promise<void>((r) => server.listen(SOCK, () => r()));
    const { chmodSync } = await import('node:fs');
    chmodSync(SOCK, 0o666);
  });
  afterAll(() => {
    for (const s of accepted) s.destroy();
    server.close();
    rmSync(SOCK, { force: true });
  });

  it('reads the connecting process, and its pidfd polls dead once it exits', async () => {
    const fds = await openFds();
    const client = spawn('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '/usr/bin/python3', '-c',
      `import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect("${SOCK}"); sys.stdin.read()`], { stdio: ['pipe', 'ignore', 'inherit'] });
    const sock = await waitFor('the connection', () => accepted.at(-1));
    const reader = new PeerCredentialReader();
    const peer = reader.read(fdOf(sock));
    try {
      expect(peer.pid).toBe(client.pid); // setpriv exec'd python: same pid
      expect([peer.uid, peer.gid]).toEqual([65534, 65534]);
      // this kernel (6.18) has SO_PEERPIDFD; the VM suite tests the pidfd_open fallback on 6.1
      expect(reader.source).toBe('SO_PEERPIDFD');
      expect(peer.source).toBe('SO_PEERPIDFD');
      expect(peer.pidfd.pid()).toBe(client.pid);
      expect(peer.pidfd.alive()).toBe(true);
      client.stdin?.end();
      await exited(client);
      expect(peer.pidfd.alive()).toBe(false);
    } finally {
      peer.pidfd.close();
    }
    sock.destroy();
    expect(await openFds()).toBeLessThanOrEqual(fds);
  });

  it('pidfd_open names exactly one process', async () => {
    const child = spawn('/bin/sleep', ['300'], { stdio: 'ignore' });
    await new Promise((r) => child.once('spawn', r));
    const pidfd = PidFd.open(child.pid as number);
    try {
      expect(pidfd.alive()).toBe(true);
      child.kill('SIGKILL');
      await exited(child);
      expect(pidfd.alive()).toBe(false);
      expect(pidfd.pid()).toBeNull(); // the kernel reports -1 once the process is gone
    } finally {
      pidfd.close();
    }
  });
});
