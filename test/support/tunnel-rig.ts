import { createServer, connect as netConnect, type AddressInfo, type Server } from 'node:net';

/** Listens on a free port of 127.0.0.1; resolves with it. */
export async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return (server.address() as AddressInfo).port;
}

/** A TCP relay that keeps every byte either way: what a capture of the tunnel's link would show.
 * `listenOn` is the caller's own (to close the server with its other ones). */
export async function countingProxy(target: number, listenOn: (s: Server) => Promise<number> = listen): Promise<{ port: number; bytes: () => Buffer }> {
  const seen: Buffer[] = [];
  const server = createServer({ allowHalfOpen: true }, (c) => {
    const up = netConnect({ port: target, host: '127.0.0.1', allowHalfOpen: true });
    c.on('data', (b: Buffer) => { seen.push(b); up.write(b); });
    up.on('data', (b: Buffer) => { seen.push(b); c.write(b); });
    c.on('end', () => up.end());
    up.on('end', () => c.end());
    c.on('error', () => up.destroy());
    up.on('error', () => c.destroy());
    c.on('close', () => up.destroy());
    up.on('close', () => c.destroy());
  });
  return { port: await listenOn(server), bytes: () => Buffer.concat(seen) };
}
