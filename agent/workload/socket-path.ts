import { lstat, unlink } from 'node:fs/promises';
import { connect } from 'node:net';

/** Why a socket path cannot be taken: the caller turns it into its own typed error. */
export type SocketPathRefusal =
  | { readonly reason: 'stat' | 'probe' | 'unlink'; readonly cause: unknown }
  | { readonly reason: 'not-a-socket' | 'in-use' };

/**
 * Readies `path` for a new listening socket: nothing there is fine; a socket file nobody answers
 * on (an agent that died) is removed; a live socket (another agent) or any other file is refused.
 * The Workload API and the admin API share this, each with its own error for a refusal.
 */
export async function clearStaleSocket(path: string): Promise<SocketPathRefusal | undefined> {
  let isSocket: boolean;
  try {
    isSocket = (await lstat(path)).isSocket();
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT' ? undefined : { reason: 'stat', cause: err };
  }
  if (!isSocket) return { reason: 'not-a-socket' };
  let live: boolean;
  try {
    live = await answers(path);
  } catch (cause) {
    return { reason: 'probe', cause };
  }
  if (live) return { reason: 'in-use' };
  try {
    await unlink(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') return { reason: 'unlink', cause: err };
  }
  return undefined;
}

/** Whether something accepts connections on the socket: refused or gone means stale. */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const probe = connect(path);
    // A full backlog leaves the connect pending: someone is there.
    const timer = setTimeout(() => finish(true), 1000);
    let settled = false;
    const finish = (live: boolean, err?: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      probe.destroy();
      if (err) reject(err);
      else resolve(live);
    };
    probe.once('connect', () => finish(true));
    probe.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNREFUSED' || err.code === 'ENOENT') finish(false);
      else finish(false, err);
    });
  });
}
