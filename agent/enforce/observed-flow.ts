/**
 * A connection attempt the kernel saw (sock.bpf.c's `flows` map), aggregated by who, to what and
 * which port: what `policy suggest` learns from and `policy unused` checks rules against.
 */
export interface ObservedFlow {
  /** The caller's identity number (only identified callers are recorded). */
  readonly src: number;
  /** The local listener's identity number; 0: a destination without one (then `external` is set). */
  readonly dst: number;
  readonly port: number;
  readonly external: { readonly family: 4 | 6; readonly address: Buffer } | null;
  readonly count: bigint;
  /** The verdict of the last attempt. */
  readonly verdict: 'allow' | 'deny' | 'audit';
}
