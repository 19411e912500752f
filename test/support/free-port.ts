import { spawnSync } from 'node:child_process';

/**
 * A TCP port free now on both 127.0.0.1 and ::1, chosen by the kernel from the ephemeral range
 * (which it cycles through before handing a port out again). Test files run side by side in
 * several workers: fixed or pid-derived ports collided between them; this is synchronous so a
 * module-level `const PORT` can use it.
 */
export function freePortSync(): number {
  const r = spawnSync('/usr/bin/python3', ['-c', `import socket
s = socket.socket(socket.AF_INET6); s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.bind(("::", 0)); print(s.getsockname()[1])`], { encoding: 'utf8' });
  const port = Number(r.stdout.trim());
  if (r.status !== 0 || !Number.isInteger(port) || port <= 0) throw new Error(`no free port: ${r.stderr}`);
  return port;
}
