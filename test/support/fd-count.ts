import { readdirSync } from 'node:fs';

/**
 * Open fds of this process, once the loop has passed its close phase (a closed ring buffer's
 * epoll fd is released in libuv's close callback, after setImmediate callbacks of the same
 * turn): kernel tests check that what they open, they close.
 */
export async function openFds(): Promise<number> {
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setTimeout(r, 1));
  return readdirSync('/proc/self/fd').length;
}
