/**
 * kernel/: the typed TypeScript face of the native addon. Every kernel resource has one owner
 * class here (BpfObject, BpfMap, BpfLink, RingBuffer, PidFd, ProcEventSource): who opens it
 * closes it. Struct layouts come from abi.gen.ts (generated from bpf/include/tether_abi.h) and are
 * checked against the addon's at load; nothing above this folder sees raw bytes. What the
 * running kernel offers (features.ts) is read from /sys and /proc and probed through the addon
 * (SO_PEERPIDFD, an fentry load), each probe's handle closed before it returns.
 * May import: the native addon only.
 */
export { KernelError, type KernelErrorCode } from './errors.js';
export { checkAbi } from './abi-check.js';
export { BpfObject, type BpfObjectOptions } from './bpf-object.js';
export { BpfMap, type UpdateFlag } from './bpf-map.js';
export { BpfLink } from './bpf-link.js';
export type { LinkCheck } from './link-set.js';
export type { LinkInfo } from './native.js';
export { RingBuffer } from './ring-buffer.js';
export { PidFd } from './pid-fd.js';
export { PeerCredentialReader, type PeerCredentials, type PidfdSource } from './peer-credentials.js';
export { ProcEventSource, type ProcEventSourceOptions, type ProcCounters, type BpfErrorCount } from './proc-events.js';
export { readMounts, findCgroupV2Mount, ensureBpffs, type Mount } from './mounts.js';
export { bpfObjectPath, packageRoot } from './paths.js';
export { uninstall } from './uninstall.js';
export {
  FALLBACKS, detectKernelFeatures, probeFentry, probePeerPidfd, type FeatureName, type FeatureOptions, type FeatureState, type KernelFeature, type Probe,
} from './features.js';
export { SockPrograms, type SockProgramsOptions } from './sock-programs.js';
export { cidrKey, meshCidrKey, type SockMaps } from './sock-maps.js';
export { meshOriginKey, type MeshDestination } from './mesh-origin.js';
export { native } from './native.js';
export { bootTimeNs } from './clock.js';
export { u32, u64, perCpu, structCodec, type Codec } from './codec.js';
export {
  LAYOUT, ProcKind, Mode, Unidentified, Verdict, SockEventKind, SockCounter, SockRole, CidrPrefix, MeshPrefix, type ProcEvent, type PolicyKey, type ProcIdentity,
  type SockConfig, type ExeKey, type AddrKey, type CidrKey, type FlowKey, type FlowStats, type SockEvent, type SockIdentity,
  type MeshCidrKey, type MeshConfig, type MeshOriginKey, type MeshOrigin,
} from './abi.gen.js';
export { formatIp, ipv4Bytes, ipv6Bytes } from './ip-address.js';
export { MeshInbound } from './abi.gen.js';
export type { InboundCounts } from './sock-programs.js';
export {
  KTLS_CIPHERS, KtlsSocket, OwnedSocket, RecordType, ktlsCryptoInfoSizes, relayKtls,
  type KtlsCipherName, type KtlsDirection, type KtlsRecord, type KtlsRelay, type KtlsRelayEnd, type KtlsRelayReason,
} from './ktls.js';
export { probeKtls, type KtlsMode, type KtlsProbeOptions, type KtlsProbeResult } from './ktls-probe.js';
export {
  ProfileMode, ProfileEventKind, QuarantineReason, type ProfileEvent, type ProfileExeKey, type Quarantine,
} from './abi.gen.js';
