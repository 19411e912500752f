import {
  CidrPrefix, LAYOUT, MeshPrefix, decodeAddrKey, decodeCidrKey, decodeExeKey, decodeFlowKey, decodeFlowStats, decodePolicyKey, decodeProcIdentity,
  decodeMeshCidrKey, decodeMeshConfig, decodeMeshOrigin, decodeMeshOriginKey, decodeSockConfig, encodeAddrKey, encodeCidrKey, encodeExeKey, encodeFlowKey, encodeFlowStats, encodePolicyKey,
  encodeMeshCidrKey, encodeMeshConfig, encodeMeshOrigin, encodeMeshOriginKey, encodeProcIdentity, encodeSockConfig,
  type AddrKey, type MeshCidrKey, type MeshConfig, type MeshOrigin, type MeshOriginKey, type CidrKey, type ExeKey, type FlowKey, type FlowStats, type PolicyKey,
  type ProcIdentity, type SockConfig,
} from './abi.gen.js';
import { decodeProfileExeKey, decodeQuarantine, encodeProfileExeKey, encodeQuarantine, type ProfileExeKey, type Quarantine } from './abi.gen.js';
import type { BpfMap } from './bpf-map.js';
import type { BpfObject } from './bpf-object.js';
import { perCpu, structCodec, u32, u64, type Codec } from './codec.js';
import { KernelError } from './errors.js';
import { native } from './native.js';

const byte: Codec<number> = { size: 1, encode: (v) => Buffer.from([v]), decode: (b, o = 0) => b[o] ?? 0 };

/** bpf/sock.bpf.c's maps, typed. They are pinned by name under the pin dir, so a restarted agent
 * (or one killed with -9) finds the state the kernel has been enforcing. */
export interface SockMaps {
  /** tgid → identity, valid for one start time (exec/fork give it, exit takes it). */
  readonly identities: BpfMap<number, ProcIdentity>;
  /** executable (and uid) → identity given at exec. */
  readonly executables: BpfMap<ExeKey, number>;
  /** cgroup v2 id → identity given at exec to programs started there (when no executable names one). */
  readonly cgroups: BpfMap<bigint, number>;
  /** local TCP port → identity listening there (bind4/6 write it). */
  readonly listeners: BpfMap<number, number>;
  /** (src, dst, port, generation) → 1: identity rules; port 0 = any. */
  readonly policy: BpfMap<PolicyKey, number>;
  /** this host's addresses (family 4 or 6, IPv4 in addr[0..3]) → 1: connects there are local. */
  readonly localAddresses: BpfMap<AddrKey, number>;
  /** LPM trie (src, port, generation, family, CIDR) → 1: rules to destinations without an identity;
   * prefixlen is 64 + the CIDR's prefix length. */
  readonly cidrs: BpfMap<CidrKey, number>;
  readonly config: BpfMap<number, SockConfig>;
  /** per-CPU counts by enum tether_verdict. */
  readonly verdicts: BpfMap<number, bigint[]>;
  /** (src, dst, port[, external address]) → count, last time, last verdict: an LRU of what connected. */
  readonly flows: BpfMap<FlowKey, FlowStats>;
  /** per-CPU counts by enum tether_sock_counter (events lost: the ring was full; mesh.inbound's
   * SYNs denied and let through unauthenticated). */
  readonly counters: BpfMap<number, bigint[]>;
  /** LPM trie (port, family, CIDR) → 1: meshed remotes, whose connects go to the tunnel listener;
   * port 0 = any; prefixlen is 32 + the CIDR's prefix length (meshCidrKey). */
  readonly meshCidrs: BpfMap<MeshCidrKey, number>;
  /** index 0: { tunnelPort, enabled, inbound (MeshInbound), peerPort }. */
  readonly meshConfig: BpfMap<number, MeshConfig>;
  /** a redirected connection's client end (the accepted socket's peer) → its original destination
   * and caller; taken on accept (SockPrograms.meshOrigin), dropped by the kernel at close. */
  readonly meshOrigins: BpfMap<MeshOriginKey, MeshOrigin>;
  /** identity → enum tether_profile_mode (ProfileMode): what the exec tracepoint does for its
   * processes in the cgroup (lib/sock_profile.h); no entry: nothing. */
  readonly profileModes: BpfMap<number, number>;
  /** (identity, exe dev, exe ino) → 1: the executables an identity's processes may exec. */
  readonly profileExes: BpfMap<ProfileExeKey, number>;
  /** An enforced profile's destinations by identity: (profiled id as src, listener id as dst,
   * port, generation 0) → 1. */
  readonly profilePeers: BpfMap<PolicyKey, number>;
  /** An enforced profile's destinations by address: LPM trie (profiled id as src, port,
   * generation 0, family, CIDR) → 1; prefixlen 64 + the CIDR's (cidrKey). */
  readonly profileCidrs: BpfMap<CidrKey, number>;
  /** tgid → quarantine (start time, identity, reason): connects refused; forks inherit it. */
  readonly quarantined: BpfMap<number, Quarantine>;
}

const struct = <K extends keyof typeof LAYOUT, T>(name: K, encode: (v: T) => Buffer, decode: (b: Buffer, o?: number) => T): Codec<T> =>
  structCodec(LAYOUT[name].size, encode, decode);

/** Typed views of the object's maps (they borrow its fds). */
export function sockMaps(object: BpfObject): SockMaps {
  const cpus = native().possibleCpus();
  return {
    identities: object.map('proc_identity', u32, struct('tether_proc_identity', encodeProcIdentity, decodeProcIdentity)),
    executables: object.map('exe_identity', struct('tether_exe_key', encodeExeKey, decodeExeKey), u32),
    cgroups: object.map('cgroup_identity', u64, u32),
    listeners: object.map('listeners', u32, u32),
    policy: object.map('policy', struct('tether_policy_key', encodePolicyKey, decodePolicyKey), byte),
    localAddresses: object.map('local_addrs', struct('tether_addr_key', encodeAddrKey, decodeAddrKey), byte),
    cidrs: object.map('cidr_policy', struct('tether_cidr_key', encodeCidrKey, decodeCidrKey), byte),
    config: object.map('sock_config', u32, struct('tether_sock_config', encodeSockConfig, decodeSockConfig)),
    verdicts: object.map('verdicts', u32, perCpu(u64, cpus)),
    flows: object.map('flows', struct('tether_flow_key', encodeFlowKey, decodeFlowKey), struct('tether_flow_stats', encodeFlowStats, decodeFlowStats)),
    counters: object.map('sock_counters', u32, perCpu(u64, cpus)),
    meshCidrs: object.map('mesh_cidrs', struct('tether_mesh_cidr_key', encodeMeshCidrKey, decodeMeshCidrKey), byte),
    meshConfig: object.map('mesh_config', u32, struct('tether_mesh_config', encodeMeshConfig, decodeMeshConfig)),
    meshOrigins: object.map('mesh_origins', struct('tether_mesh_origin_key', encodeMeshOriginKey, decodeMeshOriginKey),
      struct('tether_mesh_origin', encodeMeshOrigin, decodeMeshOrigin)),
    profileModes: object.map('profile_mode', u32, byte),
    profileExes: object.map('profile_exes', struct('tether_profile_exe_key', encodeProfileExeKey, decodeProfileExeKey), byte),
    profilePeers: object.map('profile_peers', struct('tether_policy_key', encodePolicyKey, decodePolicyKey), byte),
    profileCidrs: object.map('profile_cidrs', struct('tether_cidr_key', encodeCidrKey, decodeCidrKey), byte),
    quarantined: object.map('quarantined', u32, struct('tether_quarantine', encodeQuarantine, decodeQuarantine)),
  };
}

/** One rule of `cidrs`: the trie's prefix covers (src, port, generation, family) whole, then the
 * CIDR's own bits. `address` is 4 or 16 bytes, network order (host bits are the caller's to clear). */
export function cidrKey(rule: {
  readonly src: number; readonly port: number; readonly generation: number;
  readonly family: 4 | 6; readonly address: Buffer; readonly prefixLength: number;
}): CidrKey {
  const max = rule.family === 4 ? 32 : 128;
  if (rule.address.length !== max / 8 || rule.prefixLength < 0 || rule.prefixLength > max) {
    throw new KernelError('MAP', `CIDR rule: a ${rule.address.length}-byte address with prefix ${rule.prefixLength} is not IPv${rule.family}`);
  }
  return {
    prefixlen: CidrPrefix.FIXED + rule.prefixLength, src: rule.src, port: rule.port, generation: rule.generation,
    family: rule.family, addr: rule.address,
  };
}

/** One meshed network of `meshCidrs`: (port, family) whole, then the CIDR's own bits. `address` is
 * 4 or 16 bytes, network order (host bits are the caller's to clear); port 0 meshes every port. */
export function meshCidrKey(net: {
  readonly port: number; readonly family: 4 | 6; readonly address: Buffer; readonly prefixLength: number;
}): MeshCidrKey {
  const max = net.family === 4 ? 32 : 128;
  if (net.address.length !== max / 8 || net.prefixLength < 0 || net.prefixLength > max) {
    throw new KernelError('MAP', `meshed network: a ${net.address.length}-byte address with prefix ${net.prefixLength} is not IPv${net.family}`);
  }
  return { prefixlen: MeshPrefix.FIXED + net.prefixLength, port: net.port, family: net.family, addr: net.address };
}
