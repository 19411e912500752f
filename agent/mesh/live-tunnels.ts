import type { SpiffeId } from '../spiffe/index.js';
import type { ConnectTarget } from './connect-line.js';

/** Bytes a tunnel has relayed so far, read live. */
export interface TunnelBytes {
  readonly toDestination: number;
  readonly fromDestination: number;
}

/** One relaying tunnel as `tether conns` shows it. */
export interface TunnelView {
  readonly since: Date;
  readonly side: 'client' | 'server';
  readonly sourceId: SpiffeId;
  readonly destId: SpiffeId;
  /** The original destination (client: what the workload dialled; server: what CONNECT named). */
  readonly destination: ConnectTarget;
  /** The other agent's end, "10.0.0.2:15008" or "[fd00::2]:40100". */
  readonly peer: string;
  readonly mode: 'ktls' | 'userspace';
  readonly bytes: TunnelBytes;
}

type Entry = Omit<TunnelView, 'bytes'> & { readonly bytes: () => TunnelBytes };

/** The tunnels one end relays now; each is added after OK and removed when its relay is over. */
export class LiveTunnels {
  readonly #live = new Set<Entry>();

  add(entry: Entry): () => void {
    this.#live.add(entry);
    return () => { this.#live.delete(entry); };
  }

  get size(): number {
    return this.#live.size;
  }

  list(): TunnelView[] {
    return [...this.#live].map((e) => ({ ...e, bytes: e.bytes() }));
  }
}

/** "host:port", brackets around an IPv6 host; a v4-mapped address (a dual-stack listener's IPv4
 * peer) as the IPv4 address it is. */
export function endpointText(host: string | undefined, port: number | undefined): string {
  const h = (host ?? '?').replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/i, '$1');
  return `${h.includes(':') ? `[${h}]` : h}:${port ?? 0}`;
}
