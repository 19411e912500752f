/**
 * mesh/: connections between hosts, one mutual-TLS 1.3 tunnel per workload connection, each end
 * presenting its workload's X509-SVID (../shared/MESH.md): the key schedule (pure), tunnel TLS
 * options and the peer check, the CONNECT/OK/GO exchange, then either the kTLS switch and the
 * addon's splice relay (`ktls` option, MESH.md §2-3) or a Node relay (the fallback of §5); the
 * two interoperate both ways. Once a tunnel switched, its sockets are the relay's (closed by it).
 * Invariants: a peer is trusted only after its chain verifies against our trust domain's bundle
 * (exactly one spiffe:// URI SAN, valid now); nothing is read from a workload's socket before the
 * peer answered OK; any failure resets the workload's socket, never ends it cleanly; keys and
 * keylog lines are zeroed once used and never logged.
 * Handles: TunnelServer owns its listening socket and live tunnels until close(); TunnelClient
 * holds nothing between tunnels. May import: kernel/, svid/, enforce/ (and spiffe/ through them).
 */
export { MeshError, type MeshErrorCode } from './errors.js';

// The key schedule and kTLS's crypto_info (pure).
export {
  TUNNEL_SUITES, cipherOfSuite, cryptoInfo, cryptoInfoSize, hkdfExpandLabel, parseKeylogLine, trafficKeys, zero, zeroKeys,
  type KeylogSecret, type KtlsCipher, type TrafficKeys, type TrafficSecretLabel,
} from './key-schedule.js';

// Tunnels: TLS options and peer checks, the CONNECT line, both ends.
export { checkPeer, portOfSni, sniForPort, tunnelContextOptions, type PeerCheck, type TunnelSvid, type TunnelTrust } from './tunnel-tls.js';
export {
  CONNECT_MAX_BYTES, GO_MAX_BYTES, formatConnect, formatGo, formatReply, parseConnect, parseGo, parseReply, type ConnectTarget, type Reply,
} from './connect-line.js';
export { DEFAULT_HANDSHAKE_TIMEOUT_MS, DEFAULT_TUNNEL_PORT, type TunnelEvent, type TunnelEventSink } from './tunnel-event.js';
export { TunnelServer, type Authorization, type TunnelServerOptions } from './tunnel-server.js';
export { TunnelClient, type TunnelOpened, type TunnelRequest, type TunnelClientOptions } from './tunnel-client.js';
export { LiveTunnels, type TunnelBytes, type TunnelView } from './live-tunnels.js';
export {
  ServerKeylog, TrafficSecrets, captureKeylog, clientSwitch, ktlsCipherOf, serverSwitch, switchedToKtls, type ClientSwitched, type KtlsDataPath,
} from './ktls-switch.js';
export { relayNative, type NativeRelay } from './ktls-relay.js';
