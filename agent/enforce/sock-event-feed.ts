import type { SpiffeId } from '../spiffe/index.js';
import { ConnectionTable } from './connection-table.js';
import { formatAddress } from './policy-values.js';
import { RecentEvents } from './recent-events.js';

/** A connect the policy denied, or (audit mode) would have denied. */
export interface PolicyEvent {
  /** ISO 8601, ms precision. */
  readonly time: string;
  readonly verdict: 'deny' | 'audit';
  readonly mode: 'enforce' | 'audit';
  readonly pid: number;
  readonly comm: string;
  /** The caller's SPIFFE ID; null: an unidentified process. */
  readonly from: string | null;
  /** The destination's SPIFFE ID (a local listener's); null: external or unidentified. */
  readonly to: string | null;
  /** "127.0.0.1:8080", "[::1]:443". */
  readonly destination: string;
  /** What was refused: a connect (the kernel's hooks; the default), a mesh tunnel (either end),
   * or a direct connection from another host to a meshed workload (inbound: deny when strict,
   * audit when permissive: allowed, unauthenticated), or a deviation from a behaviour profile
   * (profile: deny when the exec was killed, audit when only reported; `reason` says what). */
  readonly kind?: 'connect' | 'tunnel' | 'inbound' | 'profile';
  /** Tunnels and inbound: a code and what happened ("DENIED: policy denies ..."). */
  readonly reason?: string;
  /** Inbound: where the direct connection came from, "10.0.0.1:40212". */
  readonly source?: string;
}

/** The fields of kernel/'s SockEvent this feed reads (the kernel's enums as plain values). */
export interface RawSockEvent {
  readonly ktimeNs: bigint;
  readonly cookie: bigint;
  /** inbound: a SYN from another host to an identified listener while the mesh's inbound check is on. */
  readonly kind: 'verdict' | 'open' | 'close' | 'inbound';
  /** Open events: which side this socket is. */
  readonly role: 'client' | 'server';
  readonly tgid: number;
  readonly localId: number;
  readonly peerId: number;
  readonly family: number;
  readonly localPort: number;
  readonly peerPort: number;
  readonly verdict: 'allow' | 'deny' | 'audit';
  readonly mode: 'enforce' | 'audit';
  readonly localAddr: Buffer;
  readonly peerAddr: Buffer;
  readonly comm: string;
}

export interface SockEventFeedOptions {
  readonly idOf: (n: number) => SpiffeId | undefined;
  /** CLOCK_BOOTTIME now (the events' clock), and the wall clock in ms: events get wall time. */
  readonly bootNs: () => bigint;
  readonly nowMs: () => number;
  /** Told of each deny and would-deny (the log, metrics). */
  readonly onPolicyEvent?: (event: PolicyEvent) => void;
  readonly recentEvents?: number;
  readonly connections?: number;
}

/**
 * What the kernel reports about connections, as an SRE reads it: denies and would-denies with
 * SPIFFE IDs and addresses (kept for `tether events`, streamed to followers), and the live
 * connections (`tether conns`) from sockops' open and close events.
 */
export class SockEventFeed {
  readonly events: RecentEvents<PolicyEvent>;
  readonly connections: ConnectionTable;
  readonly #o: SockEventFeedOptions;

  constructor(options: SockEventFeedOptions) {
    this.#o = options;
    this.events = new RecentEvents(options.recentEvents ?? 1000);
    this.connections = new ConnectionTable(options.connections);
  }

  /** One batch from the ring, in order. */
  apply(batch: readonly RawSockEvent[]): void {
    if (batch.length === 0) return;
    const bootNow = this.#o.bootNs();
    const nowMs = this.#o.nowMs();
    const timeOf = (e: RawSockEvent): string => new Date(nowMs - Number((bootNow - e.ktimeNs) / 1_000_000n)).toISOString();
    for (const e of batch) {
      if (e.kind === 'close') { this.connections.closed(e.cookie); continue; }
      const family = e.family === 6 ? 6 : 4;
      const peer = endpoint(family, e.peerAddr, e.peerPort);
      if (e.kind === 'open') {
        this.connections.opened(e.cookie, {
          since: timeOf(e), role: e.role,
          local: endpoint(family, e.localAddr, e.localPort), peer, localId: this.#name(e.localId), peerId: this.#name(e.peerId),
        });
        continue;
      }
      if (e.kind === 'inbound') {
        // Strict drops it (deny); permissive lets it in unauthenticated: an audit, allowed and reported.
        const event: PolicyEvent = {
          time: timeOf(e), kind: 'inbound', verdict: e.verdict === 'deny' ? 'deny' : 'audit', mode: e.mode, pid: 0, comm: '',
          from: null, to: this.#name(e.localId), destination: endpoint(family, e.localAddr, e.localPort), source: peer,
          reason: e.verdict === 'deny' ? 'DIRECT_REFUSED: mesh.inbound strict: a meshed workload is reached through its agent only'
            : 'UNAUTHENTICATED: mesh.inbound permissive: a direct plaintext connection from another host',
        };
        this.events.push(event);
        this.#o.onPolicyEvent?.(event);
        continue;
      }
      if (e.verdict === 'allow') continue; // the kernel reports only denies and would-denies; never log an allow as one
      const event: PolicyEvent = {
        time: timeOf(e), verdict: e.verdict, mode: e.mode, pid: e.tgid, comm: e.comm,
        from: this.#name(e.localId), to: this.#name(e.peerId), destination: peer,
      };
      this.events.push(event);
      this.#o.onPolicyEvent?.(event);
    }
  }

  #name(n: number): string | null {
    return n === 0 ? null : this.#o.idOf(n)?.toString() ?? `#${n}`;
  }
}

function endpoint(family: 4 | 6, address: Buffer, port: number): string {
  const text = formatAddress(family, address.subarray(0, family === 4 ? 4 : 16));
  return family === 4 ? `${text}:${port}` : `[${text}]:${port}`;
}
