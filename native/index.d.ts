/**
 * The raw surface of tether's native addon (build/Release/tether_native.node): numbers,
 * bigints and Buffers only. Nothing here decodes structs or decides anything; agent/kernel/
 * wraps every handle in a class that owns it.
 *
 * Every function throws a NativeError on failure (Node's system-error shape plus the names of
 * what was being worked on). Handles are type-tagged externals: passing the wrong kind, or a
 * handle already closed, throws a TypeError.
 */

export interface NativeError extends Error {
  /** errno name, e.g. "EPERM", "ENOENT". */
  readonly code: string;
  /** negative errno, as Node reports it. */
  readonly errno: number;
  /** the syscall or libbpf call that failed, e.g. "bpf_object__load", "pidfd_open". */
  readonly syscall: string;
  /** the path of the object, pin, cgroup or socket the call worked on, when there is one. */
  readonly path?: string;
  readonly object?: string;
  readonly program?: string;
  readonly map?: string;
  /** what libbpf printed during the call (e.g. the verifier log of a failed load). */
  readonly log?: string;
}

declare const objectTag: unique symbol;
declare const linkTag: unique symbol;
declare const ringTag: unique symbol;
/** A bpf_object, from objectOpen until objectClose. */
export type ObjectHandle = { readonly [objectTag]: true };
/** A bpf_link, from an attach until linkDestroy (or linkDisconnect + linkDestroy to leave it pinned). */
export type LinkHandle = { readonly [linkTag]: true };
/** A libbpf ring_buffer watched on the libuv loop, until ringbufClose. */
export type RingHandle = { readonly [ringTag]: true };

export interface ProgramInfo {
  readonly name: string;
  readonly section: string;
  /** enum bpf_prog_type */
  readonly type: number;
  /** enum bpf_attach_type the section implies */
  readonly expectedAttachType: number;
}

export interface MapInfo {
  readonly name: string;
  /** enum bpf_map_type */
  readonly type: number;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
}

// ---- objects -------------------------------------------------------------------------------

/** bpf_object__open_file; pinRoot sets the pin_root_path for maps declared with LIBBPF_PIN_BY_NAME. */
export function objectOpen(path: string, options?: { pinRoot?: string }): ObjectHandle;
/** bpf_map__set_max_entries on a not yet loaded object. */
export function objectSetMapMaxEntries(obj: ObjectHandle, mapName: string, maxEntries: number): void;
/** bpf_map__set_initial_value (e.g. ".rodata" settings) on a not yet loaded object. */
export function objectSetInitialValue(obj: ObjectHandle, mapName: string, data: Buffer): void;
/** bpf_program__set_autoload(false) for a program that must not be loaded. */
export function objectSetAutoload(obj: ObjectHandle, progName: string, autoload: boolean): void;
/** bpf_object__load; a failure carries the verifier log in `log`. */
export function objectLoad(obj: ObjectHandle): void;
export function objectPrograms(obj: ObjectHandle): ProgramInfo[];
/** Each map with the path it is pinned at (LIBBPF_PIN_BY_NAME under pinRoot), null when not pinned. */
export function objectMaps(obj: ObjectHandle): Array<MapInfo & { readonly pinPath: string | null }>;
/** The fd of a loaded map; owned by the object (do not close it). */
export function objectMapFd(obj: ObjectHandle, mapName: string): number;
/** The fd of a loaded program; owned by the object (do not close it). */
export function objectProgramFd(obj: ObjectHandle, progName: string): number;
/** bpf_object__close; links made from it stay valid. Closing twice is a no-op. */
export function objectClose(obj: ObjectHandle): void;

// ---- links ---------------------------------------------------------------------------------

/** bpf_program__attach: by the program's section (tp_btf/, raw_tp/, tp/ ...). */
export function attachAuto(obj: ObjectHandle, progName: string): LinkHandle;
/** bpf_program__attach_tracepoint (needs tracefs). */
export function attachTracepoint(obj: ObjectHandle, progName: string, category: string, name: string): LinkHandle;
/** bpf_program__attach_raw_tracepoint. */
export function attachRawTracepoint(obj: ObjectHandle, progName: string, name: string): LinkHandle;
/**
 * bpf_program__attach_cgroup: a link-based (so multi-attach) cgroup attach of a cgroup_sock_addr,
 * cgroup_sock, cgroup_skb or sockops program to the cgroup v2 directory `cgroupPath`; the attach
 * type is the one the section implies.
 */
export function attachCgroup(obj: ObjectHandle, progName: string, cgroupPath: string): LinkHandle;
/** bpf_link__pin */
export function linkPin(link: LinkHandle, path: string): void;
/** bpf_link__unpin */
export function linkUnpin(link: LinkHandle): void;
/** bpf_link__disconnect: destroying the handle afterwards closes the fd but leaves a pinned link attached. */
export function linkDisconnect(link: LinkHandle): void;
/** bpf_link__detach: detach now, whoever else holds it. */
export function linkDetach(link: LinkHandle): void;
/** bpf_link__destroy; destroying twice is a no-op. */
export function linkDestroy(link: LinkHandle): void;
/** bpf_link__open: a pinned link adopted by a restarted agent. */
export function linkOpenPinned(path: string): LinkHandle;
export function linkFd(link: LinkHandle): number;
/**
 * bpf_obj_get_info_by_fd on the link: what the kernel reports of it now. A cgroup link detached
 * (BPF_LINK_DETACH, or its cgroup removed) reports cgroupId 0n. Raw tracepoint (tp_btf/, raw_tp/)
 * and tracing links have no detach operation on 6.1 or 6.18 (BPF_LINK_DETACH gives EOPNOTSUPP):
 * they stay attached while any fd or pin holds them.
 */
export function linkInfo(link: LinkHandle): LinkInfo;

export interface LinkInfo {
  readonly id: number;
  /** enum bpf_link_type */
  readonly type: number;
  /** libbpf's name for the type ("cgroup", "raw_tracepoint", "tracing"); "" when libbpf 1.1 has none. */
  readonly typeName: string;
  readonly progId: number;
  /** cgroup links: the cgroup v2 id attached to; 0n once detached. */
  readonly cgroupId?: bigint;
  /** cgroup and tracing links: enum bpf_attach_type. */
  readonly attachType?: number;
  /** raw tracepoint links: the tracepoint's name. */
  readonly tpName?: string;
}

// ---- maps (by fd) --------------------------------------------------------------------------

/** bpf_obj_get: a pinned map, program or link as a new fd the caller owns (closeFd). */
export function objGet(path: string): number;
/** bpf_obj_pin */
export function objPin(fd: number, path: string): void;
/** bpf_obj_get_info_by_fd on a map fd. */
export function mapInfoByFd(fd: number): MapInfo & { readonly id: number };
/** bpf_map_lookup_elem; null when the key is absent. `valueSize` is the whole value (per-CPU: rounded size × possible CPUs). */
export function mapLookup(fd: number, key: Buffer, valueSize: number): Buffer | null;
/** bpf_map_lookup_and_delete_elem (hash maps): the value, or null when the key was absent. */
export function mapLookupAndDelete(fd: number, key: Buffer, valueSize: number): Buffer | null;
/** bpf_map_update_elem with BPF_ANY (0), BPF_NOEXIST (1) or BPF_EXIST (2). */
export function mapUpdate(fd: number, key: Buffer, value: Buffer, flags: number): void;
/** bpf_map_delete_elem; false when the key was absent. */
export function mapDelete(fd: number, key: Buffer): boolean;
/** bpf_map_get_next_key; null key asks for the first; returns null after the last. */
export function mapNextKey(fd: number, key: Buffer | null, keySize: number): Buffer | null;
/**
 * bpf_map_lookup_batch: up to `count` entries after the opaque `cursor` (null: from the start).
 * Throws code "ENOTSUPP" (the kernel's 524), "EOPNOTSUPP" or "EINVAL" where the map type has no batch ops. `done` when the map is exhausted.
 */
export function mapLookupBatch(
  fd: number, keySize: number, valueSize: number, cursor: Buffer | null, count: number,
): { keys: Buffer; values: Buffer; count: number; cursor: Buffer; done: boolean };
/** bpf_map_update_batch of `count` packed keys and values. */
export function mapUpdateBatch(fd: number, keys: Buffer, values: Buffer, count: number, flags: number): void;
/** bpf_map_delete_batch of `count` packed keys; returns how many were deleted. */
export function mapDeleteBatch(fd: number, keys: Buffer, count: number): number;
/** libbpf_num_possible_cpus */
export function possibleCpus(): number;

// ---- ring buffers --------------------------------------------------------------------------

/**
 * ring_buffer__new on a BPF_MAP_TYPE_RINGBUF map fd, its epoll fd watched with uv_poll on the
 * libuv loop (no thread, no busy poll). On each wake-up every available sample is copied into
 * one Buffer, framed as [u32 length (host order)][sample][pad to 8 bytes]..., and `onBatch` is
 * called once with it. Back-pressure lands in the ring, where BPF counts drops.
 */
export function ringbufOpen(mapFd: number, onBatch: (batch: Buffer) => void): RingHandle;
/** ring_buffer__consume now, delivering through onBatch synchronously; returns samples consumed. */
export function ringbufConsume(ring: RingHandle): number;
/** Stop watching and ring_buffer__free; closing twice is a no-op. */
export function ringbufClose(ring: RingHandle): void;

// ---- processes and sockets -----------------------------------------------------------------

/** pidfd_open(2); the caller owns the fd. */
export function pidfdOpen(pid: number): number;
/** poll(2) with a zero timeout: true while the process lives (POLLIN means it exited). */
export function pidfdAlive(fd: number): boolean;
/** pidfd_send_signal(2). */
export function pidfdSendSignal(fd: number, signal: number): void;
/** getsockopt SO_PEERCRED: the peer's credentials when it connected. */
export function peerCred(sockFd: number): { pid: number; uid: number; gid: number };
/** getsockopt SO_PEERPIDFD (Linux 6.5+): a pidfd of the peer the caller owns; throws code "ENOPROTOOPT" where missing. */
export function peerPidfd(sockFd: number): number;
/** close(2) of an fd this surface handed out. */
export function closeFd(fd: number): void;
/** fcntl(F_DUPFD_CLOEXEC): a second fd on the same socket, owned by the caller (Node may then close its own). */
export function dupFd(fd: number): number;
/** setsockopt SO_LINGER {1, 0} then close(2): the peer sees RST. The fd is closed even if the option fails. */
export function resetFd(fd: number): void;
/** ioctl SIOCINQ: bytes queued for reading on a socket. */
export function socketInq(fd: number): number;

// ---- kTLS (linux/tls.h): syscalls only; keys, sequence numbers and record meaning are mesh/'s ----

/** setsockopt(SOL_TCP, TCP_ULP, "tls"): ENOENT where the tls module is absent or cannot be loaded. */
export function ktlsUlp(fd: number): void;
/**
 * setsockopt(SOL_TLS, TLS_TX or TLS_RX) with an opaque tls12_crypto_info_* the caller packed.
 * ENOPROTOOPT without the tls ULP; EINVAL for a wrong size or cipher; EBUSY when already set.
 */
export function ktlsSetCrypto(fd: number, direction: 'tx' | 'rx', cryptoInfo: Buffer): void;
/** sizeof each tls12_crypto_info_* as linux/tls.h lays it out: start-up checks the TypeScript packing. */
export function ktlsCryptoInfoSizes(): { aesGcm128: number; aesGcm256: number; chacha20Poly1305: number };
/** sendmsg(MSG_DONTWAIT) of one record of `type` (TLS_SET_RECORD_TYPE cmsg); returns the bytes sent. EAGAIN when the buffer is full. */
export function ktlsSendRecord(fd: number, type: number, data: Buffer): number;
/**
 * recvmsg of one record with its TLS_GET_RECORD_TYPE (a data read may join consecutive data
 * records, up to maxBytes). Never blocks the JS thread: the fd is watched on the libuv loop, so it
 * must not be an fd libuv watches already (pass a dupFd of a Node socket's fd). Resolves null at
 * EOF; rejects with the NativeError (EBADMSG: a record failed to decrypt or authenticate), or
 * ETIMEDOUT after timeoutMs (0: no limit).
 */
export function ktlsRecvRecord(fd: number, maxBytes: number, timeoutMs: number): Promise<{ type: number; data: Buffer } | null>;

/** Why a relay ended. Clean: "eof" (the plain side's EOF, carried as close_notify then FIN, came last) or "close_notify" (the peer's, carried as FIN, came last). */
export type KtlsRelayReason =
  | 'eof' | 'close_notify'
  /** the kTLS side's EOF without close_notify */
  | 'truncated'
  /** a record failed to decrypt or authenticate (a wrong key or sequence number) */
  | 'EBADMSG'
  /** an alert other than close_notify: "alert:<description>"; a handshake message other than a whole NewSessionTicket: "handshake:<type>" (-1: cut short); another record type: "record:<type>" */
  | `alert:${number}` | `handshake:${number}` | `record:${number}`
  /** a syscall failed: "error:ECONNRESET", "error:EPIPE"... */
  | `error:${string}`
  /** ktlsRelayCancel */
  | 'cancelled';

/**
 * Relays a plain socket and a kTLS socket (ULP and both keys set) both ways with splice(2)
 * through a pipe per direction, on the one relay thread of the process. From the call on it owns
 * both fds and closes them; a synchronous throw (bad arguments, no pipe) leaves them the caller's.
 * Half-close is carried: plain EOF → close_notify then FIN on the kTLS side; close_notify → FIN on
 * the plain side; each direction ends on its own. NewSessionTickets are skipped. Any failure
 * (truncation, EBADMSG, another alert or record, a socket error) resets BOTH sockets (RST).
 * `onEnd` runs once on the JS thread with the bytes moved each way. Returns the relay's id.
 */
export function ktlsRelay(
  plainFd: number, tlsFd: number, onEnd: (end: { toTls: number; fromTls: number; reason: KtlsRelayReason }) => void,
): number;
/** Bytes delivered each way so far by a live relay; null once it has ended (onEnd has the totals). */
export function ktlsRelayCounts(relay: number): { toTls: number; fromTls: number } | null;
/** Ends a live relay as a failure ("cancelled": both sockets reset); a relay already ended is ignored. */
export function ktlsRelayCancel(relay: number): void;

// ---- layout --------------------------------------------------------------------------------

/** sizeof and offsetof of every struct in bpf/include/tether_abi.h, as the C++ compiler lays them out. */
export function layout(): Record<string, { size: number; fields: Record<string, number> }>;

// ---- clocks --------------------------------------------------------------------------------

/** clock_gettime(CLOCK_BOOTTIME) in ns: the clock of bpf_ktime_get_boot_ns() and task->start_boottime. */
export function clockBoottimeNs(): bigint;
