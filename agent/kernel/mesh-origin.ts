import { isIP } from 'node:net';
import type { MeshOrigin, MeshOriginKey } from './abi.gen.js';
import { KernelError } from './errors.js';
import { formatIp, ipv4Bytes, ipv6Bytes } from './ip-address.js';

/**
 * Where a connection the kernel redirected to the agent's tunnel listener was going, and who made
 * it: written by bpf/sock.bpf.c (lib/sock_mesh.h) in the caller's connect(), never by the workload.
 */
export interface MeshDestination {
  /** The original destination; a v4-mapped one is IPv4. */
  readonly family: 4 | 6;
  readonly address: string;
  readonly port: number;
  /** The caller's identity number; 0: unidentified. */
  readonly sourceId: number;
  /** The connecting process: tgid with its leader's start time (task->start_boottime, ns). */
  readonly process: { readonly tgid: number; readonly startNs: bigint };
  readonly cgroupId: bigint;
  /** The workload's socket (bpf_get_socket_cookie). */
  readonly cookie: bigint;
}

/** The key for an accepted socket's peer as Node reports it ("127.0.0.1", "::ffff:127.0.0.1", "::1"). */
export function meshOriginKey(peerAddress: string, peerPort: number): MeshOriginKey {
  if (!Number.isInteger(peerPort) || peerPort < 1 || peerPort > 65535) {
    throw new KernelError('MAP', `mesh origin: peer port ${peerPort} is not a TCP port`);
  }
  const v = isIP(peerAddress);
  if (v === 0) throw new KernelError('MAP', `mesh origin: peer address "${peerAddress}" is not an IP address`);
  const addr = Buffer.alloc(16);
  if (v === 4) {
    ipv4Bytes(peerAddress).copy(addr);
    return { addr, port: peerPort, family: 4 };
  }
  const b = ipv6Bytes(peerAddress);
  if (b.subarray(0, 10).equals(Buffer.alloc(10)) && b.readUInt16BE(10) === 0xffff) { // v4-mapped: IPv4, as the kernel keys it
    b.copy(addr, 0, 12, 16);
    return { addr, port: peerPort, family: 4 };
  }
  return { addr: b, port: peerPort, family: 6 };
}

export function meshDestination(o: MeshOrigin): MeshDestination {
  const family = o.family === 6 ? 6 : 4;
  return {
    family, address: formatIp(family, o.addr), port: o.port, sourceId: o.srcId,
    process: { tgid: o.tgid, startNs: o.startNs }, cgroupId: o.cgroupId, cookie: o.cookie,
  };
}
