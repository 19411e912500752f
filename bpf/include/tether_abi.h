/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * Every struct, enum and constant shared between the BPF programs and user space.
 * Fixed-width fields, explicit padding, no bool/long/pointers/bitfields: the same bytes
 * in C, C++ (native/src/layout.cc) and TypeScript (agent/kernel/abi.gen.ts, generated
 * from this file's BTF by agent/kernel/gen-abi.ts).
 */
#ifndef TETHER_ABI_H
#define TETHER_ABI_H

#ifdef __cplusplus
#include <linux/types.h>
#define TETHER_ABI_ASSERT(cond) static_assert(cond, #cond)
#elif defined(__bpf__)
#define TETHER_ABI_ASSERT(cond) _Static_assert(cond, #cond)
#else
#include <linux/types.h>
#define TETHER_ABI_ASSERT(cond) _Static_assert(cond, #cond)
#endif

#define TETHER_COMM_LEN 16
#define TETHER_FILENAME_LEN 256

/* What happened to a process (not a thread: thread creation and exit are filtered in BPF). */
enum tether_proc_kind {
	TETHER_PROC_EXEC = 1,
	TETHER_PROC_FORK = 2,
	TETHER_PROC_EXIT = 3,
	TETHER_PROC_CGROUP = 4,	/* moved to another cgroup (no exec, fork or exit says so) */
};

/* Indexes of the per-CPU `proc_counters` array. */
enum tether_counter {
	TETHER_CTR_PROC_EVENTS = 0,	/* events written to the ring buffer */
	TETHER_CTR_PROC_DROPS = 1,	/* events lost: the ring buffer was full */
	TETHER_CTR_MAX = 2,
};

/* Codes of the per-CPU `errors` map: a helper or reserve that failed, by file and line. */
enum tether_err {
	TETHER_ERR_RINGBUF_FULL = 1,
	TETHER_ERR_READ_FILENAME = 2,
	TETHER_ERR_MAP_FULL = 3,
	TETHER_ERR_SK_STORAGE = 4,	/* bpf_sk_storage_get() could not create a socket's storage */
};

/* Source files that count errors (FILE_ID in each .bpf.c). */
enum tether_file_id {
	TETHER_FILE_PROC = 1,
	TETHER_FILE_SOCK = 2,
};

/* One process event. `start_ns` is the thread-group leader's task->start_boottime: with the
 * tgid it names one process for its whole life (exec keeps it), and /proc/<pid>/stat field 22
 * reports the same value in clock ticks. */
struct tether_proc_event {
	__u32 kind;		/* enum tether_proc_kind */
	__u32 tgid;
	__u32 pid;		/* the thread that caused the event */
	__u32 ppid;		/* real_parent's tgid */
	__u64 start_ns;
	__u64 parent_start_ns;	/* real_parent's leader start_boottime: exact lineage */
	__u64 cgroup_id;	/* cgroup v2 id: the inode number of its directory */
	__u64 exe_ino;
	__u64 ktime_ns;		/* bpf_ktime_get_boot_ns() when the event was made */
	__u64 lost;		/* events lost ring-wide before this one: a rise tells user space to
				 * resync without a syscall per batch */
	__u32 exe_dev;		/* super_block->s_dev: major << 20 | minor, not stat's st_dev packing */
	__u32 uid;		/* effective uid, as SO_PEERCRED reports */
	__u32 gid;		/* effective gid */
	__u32 exit_code;	/* task->exit_code on exit, 0 otherwise */
	char comm[TETHER_COMM_LEN];
	char filename[TETHER_FILENAME_LEN];	/* bprm->filename on exec, as the caller wrote it */
};
TETHER_ABI_ASSERT(sizeof(struct tether_proc_event) == 352);

/* A process's identity number as the kernel keeps it (sock.bpf.c's proc_identity, keyed by tgid):
 * valid only while the task's leader start time is `start_ns`, so a reused pid is unidentified. */
struct tether_proc_identity {
	__u32 id;		/* 0: no identity */
	__u8 coarse;		/* start_ns known to a clock tick only (a process seeded from /proc) */
	__u8 _pad[3];
	__u64 start_ns;
};
TETHER_ABI_ASSERT(sizeof(struct tether_proc_identity) == 16);

/* An executable (and optionally the effective uid) whose exec gives a process an identity in the
 * kernel, before the new program runs: what registry entries with unix:path (+ unix:uid) say. */
struct tether_exe_key {
	__u64 ino;
	__u32 dev;		/* super_block->s_dev: major << 20 | minor */
	__u32 uid;		/* effective uid, or TETHER_ANY_UID */
};
TETHER_ABI_ASSERT(sizeof(struct tether_exe_key) == 16);

#define TETHER_ANY_UID 0xffffffffu

/* One allowed (source identity, destination identity, port) of one policy generation; port 0
 * allows every port. Two generations let a new policy be written whole, then switched to at once. */
struct tether_policy_key {
	__u32 src;
	__u32 dst;
	__u16 port;		/* host order */
	__u8 generation;	/* 0 or 1: which policy this rule belongs to */
	__u8 _pad;
};
TETHER_ABI_ASSERT(sizeof(struct tether_policy_key) == 12);

/* Runtime settings of sock.bpf.c (a one-entry array): switched as a whole. */
struct tether_sock_config {
	__u8 mode;		/* enum tether_mode */
	__u8 unidentified;	/* enum tether_unidentified */
	__u8 generation;	/* the policy generation in force */
	__u8 enabled;		/* 0: no policy loaded: allow everything, report nothing */
	__u32 agent_tgid;	/* the agent's own connects (it dials peer agents and, for tunnels, local
				 * workloads) are neither decided nor redirected; host pid namespace; 0: none */
};
TETHER_ABI_ASSERT(sizeof(struct tether_sock_config) == 8);

enum tether_mode {
	TETHER_MODE_ENFORCE = 0,
	TETHER_MODE_AUDIT = 1,
};

enum tether_unidentified {
	TETHER_UNIDENTIFIED_ALLOW = 0,
	TETHER_UNIDENTIFIED_DENY = 1,
};

/* Indexes of the per-CPU `verdicts` array. */
enum tether_verdict {
	TETHER_VERDICT_ALLOW = 0,
	TETHER_VERDICT_DENY = 1,
	TETHER_VERDICT_AUDIT = 2,	/* would have been denied; allowed in audit mode */
	TETHER_VERDICT_MAX = 3,
};

/* bpf/sock.bpf.c's load-time settings (.rodata.config, set between open and load). */
struct tether_sock_rodata {
	__u64 tick_ns;		/* ns per USER_HZ tick: the unit of a /proc-seeded (coarse) start time */
	__u32 wakeup_bytes;	/* wake the event reader once this much is waiting (0: every event) */
	__u8 _pad[4];
};
TETHER_ABI_ASSERT(sizeof(struct tether_sock_rodata) == 16);

/* One of this host's addresses (sock.bpf.c's `local_addrs`, filled by user space): a connect to it
 * reaches a local listener, whose identity the `listeners` map knows. */
struct tether_addr_key {
	__u8 family;		/* 4 or 6 */
	__u8 _pad[3];
	__u8 addr[16];		/* network order; IPv4 in addr[0..3], the rest zero */
};
TETHER_ABI_ASSERT(sizeof(struct tether_addr_key) == 20);

/* One allowed (source identity, port, remote CIDR) of one policy generation: an LPM trie key.
 * prefixlen counts bits after itself: 64 (src, port, generation, family always match whole) plus
 * the CIDR's prefix length. Port 0 allows every port. A v4-mapped IPv6 address is family 4. */
struct tether_cidr_key {
	__u32 prefixlen;
	__u32 src;
	__u16 port;		/* host order */
	__u8 generation;
	__u8 family;		/* 4 or 6 */
	__u8 addr[16];		/* network order; IPv4 in addr[0..3] */
};
TETHER_ABI_ASSERT(sizeof(struct tether_cidr_key) == 28);

enum tether_cidr_prefix {
	TETHER_CIDR_PREFIX_FIXED = 64,	/* bits of src, port, generation and family in every prefixlen */
};

/* Who connected to whom (`flows`, an LRU hash): what `policy suggest` and `unused` read. dst != 0:
 * an identified local listener (family 0, addr zero); dst == 0: the external address. */
struct tether_flow_key {
	__u32 src;
	__u32 dst;
	__u16 port;		/* host order */
	__u8 family;		/* 0 (dst != 0), 4 or 6 */
	__u8 _pad;
	__u8 addr[16];
};
TETHER_ABI_ASSERT(sizeof(struct tether_flow_key) == 28);

struct tether_flow_stats {
	__u64 count;		/* connects decided, allowed or not */
	__u64 last_ns;		/* bpf_ktime_get_boot_ns() of the last one */
	__u8 verdict;		/* enum tether_verdict of the last one */
	__u8 _pad[7];
};
TETHER_ABI_ASSERT(sizeof(struct tether_flow_stats) == 24);

enum tether_sock_event_kind {
	TETHER_SOCK_VERDICT = 0,	/* a deny, or a would-deny in audit mode: see verdict */
	TETHER_SOCK_OPEN = 1,		/* a connection established (sockops), one event per side */
	TETHER_SOCK_CLOSE = 2,		/* that socket reached TCP_CLOSE */
	TETHER_SOCK_INBOUND = 3,	/* a SYN from another host straight to a meshed listener
					 * (cgroup_skb/ingress, mesh.inbound): verdict DENY, dropped
					 * (strict), or ALLOW: allowed, unauthenticated (permissive) */
};

/* One event of the `sock_events` ring buffer. */
struct tether_sock_event {
	__u64 ktime_ns;		/* bpf_ktime_get_boot_ns() */
	__u64 cookie;		/* bpf_get_socket_cookie(): joins a connection's open and close */
	__u64 cgroup_id;	/* 0 where unknown (softirq) */
	__u32 kind;		/* enum tether_sock_event_kind */
	__u32 tgid;		/* the connecting process (verdicts); 0 in softirq (open/close, inbound) */
	__u32 local_id;		/* verdict: the caller's identity; open/close: this socket's side;
				 * inbound: the listener's */
	__u32 peer_id;		/* verdict: the destination's identity (0: external/unidentified);
				 * open/close: the other side's; inbound: 0 (the remote is unknown) */
	__u16 family;		/* 4 or 6 (a v4-mapped IPv6 address is 4) */
	__u16 local_port;	/* host order; 0 for verdicts (not bound yet); inbound: the listener's */
	__u16 peer_port;	/* host order; inbound: the remote source's */
	__u8 verdict;		/* enum tether_verdict (verdict and inbound events) */
	__u8 mode;		/* enum tether_mode in force (verdict and inbound events) */
	__u8 local_addr[16];	/* network order; IPv4 in the first 4 bytes; zero for verdicts;
				 * inbound: the address the SYN was sent to */
	__u8 peer_addr[16];	/* inbound: the remote source */
	char comm[TETHER_COMM_LEN];	/* verdicts: the caller's comm; zero for inbound */
	__u8 role;		/* enum tether_sock_role: which end this socket is (verdicts: client;
				 * inbound: server) */
	__u8 _pad[7];
};
TETHER_ABI_ASSERT(sizeof(struct tether_sock_event) == 104);

enum tether_sock_role {
	TETHER_SOCK_ROLE_CLIENT = 0,	/* connected (verdict events, ACTIVE_ESTABLISHED) */
	TETHER_SOCK_ROLE_SERVER = 1,	/* accepted (PASSIVE_ESTABLISHED) */
};

/* Indexes of the per-CPU `sock_counters` array. */
enum tether_sock_counter {
	TETHER_SOCK_EVENTS_LOST = 0,	/* sock_events was full */
	TETHER_SOCK_INBOUND_DENIED = 1,	/* direct SYNs to a meshed listener dropped (strict) */
	TETHER_SOCK_INBOUND_UNAUTHENTICATED = 2, /* the same, let through unauthenticated (permissive) */
	TETHER_SOCK_PROFILE_EVENTS_LOST = 3,	/* profile_events was full */
	TETHER_SOCK_EXECS_KILLED = 4,	/* execs outside an enforced profile, killed (lib/sock_profile.h) */
	TETHER_SOCK_QUARANTINE_DENIED = 5, /* connects of quarantined processes refused */
	TETHER_SOCK_COUNTER_MAX = 6,
};

/* Identities of one socket (`sock_ids`, socket-local storage): written by connect4/6 in the
 * caller's context, by sockops for an accepted socket. */
struct tether_sock_identity {
	__u32 local_id;
	__u32 peer_id;
	__u8 role;		/* enum tether_sock_role, for the close event */
	__u8 _pad[3];
};
TETHER_ABI_ASSERT(sizeof(struct tether_sock_identity) == 12);

/* A connection as its client sees it (`conn_clients`, LRU hash → the client's identity): the
 * accepting side looks its reversed tuple up to learn its peer. IPv4 in the first 4 bytes. */
struct tether_conn_key {
	__u8 client_addr[16];
	__u8 server_addr[16];
	__u16 client_port;	/* host order */
	__u16 server_port;	/* host order */
	__u8 family;		/* 4 or 6 */
	__u8 _pad[3];
};
TETHER_ABI_ASSERT(sizeof(struct tether_conn_key) == 40);

/* A meshed remote network (`mesh_cidrs`, an LPM trie → 1): a connect there is redirected to the
 * local agent's tunnel listener. prefixlen counts bits after itself: 32 (port, family and _pad
 * always match whole) plus the CIDR's prefix length. Port 0 meshes every port. A v4-mapped IPv6
 * destination is family 4. */
struct tether_mesh_cidr_key {
	__u32 prefixlen;
	__u16 port;		/* host order; 0: every port */
	__u8 family;		/* 4 or 6 */
	__u8 _pad;
	__u8 addr[16];		/* network order; IPv4 in addr[0..3] */
};
TETHER_ABI_ASSERT(sizeof(struct tether_mesh_cidr_key) == 24);

enum tether_mesh_prefix {
	TETHER_MESH_PREFIX_FIXED = 32,	/* bits of port, family and _pad in every prefixlen */
};

/* The mesh's runtime settings (`mesh_config`, a one-entry array), switched as a whole. */
struct tether_mesh_config {
	__u16 tunnel_port;	/* host order: the agent's outbound listener on 127.0.0.1 and ::1 */
	__u8 enabled;		/* 0: nothing is redirected, no inbound SYN is looked at */
	__u8 inbound;		/* enum tether_mesh_inbound */
	__u16 peer_port;	/* host order: peer agents' tunnel port (15008); a connect there is
				 * never redirected, so an agent in the cgroup can dial its peers */
	__u8 _pad[2];
};
TETHER_ABI_ASSERT(sizeof(struct tether_mesh_config) == 8);

/* mesh.inbound: what a SYN from another host gets when it goes straight to an identified
 * listener instead of through the listener's agent. */
enum tether_mesh_inbound {
	TETHER_MESH_INBOUND_OFF = 0,		/* not looked at */
	TETHER_MESH_INBOUND_PERMISSIVE = 1,	/* let through, counted and reported unauthenticated */
	TETHER_MESH_INBOUND_STRICT = 2,		/* dropped, counted and reported */
};

/* A redirected connection's client end as the agent's accepted socket sees its peer
 * (`mesh_origins` key). A v4-mapped address is family 4. */
struct tether_mesh_origin_key {
	__u8 addr[16];		/* network order; IPv4 in addr[0..3] */
	__u16 port;		/* host order */
	__u8 family;		/* 4 or 6 */
	__u8 _pad;
};
TETHER_ABI_ASSERT(sizeof(struct tether_mesh_origin_key) == 20);

/* Where a redirected connect was going and who made it, recorded by connect4/6 in the caller's
 * context (`mesh_pending`, by socket cookie), moved by sockops to `mesh_origins` once the
 * connection is established: what the agent learns on accept, from the kernel alone. */
struct tether_mesh_origin {
	__u64 cookie;		/* the client socket's bpf_get_socket_cookie() */
	__u64 start_ns;		/* the caller's leader start_boottime: with tgid, one process */
	__u64 cgroup_id;	/* the caller's cgroup v2 id */
	__u32 tgid;
	__u32 src_id;		/* the caller's identity; 0: unidentified */
	__u16 port;		/* original destination port, host order */
	__u8 family;		/* 4 or 6 (a v4-mapped destination is 4) */
	__u8 _pad[5];
	__u8 addr[16];		/* original destination, network order; IPv4 in addr[0..3] */
};
TETHER_ABI_ASSERT(sizeof(struct tether_mesh_origin) == 56);

/* Behaviour profiles (lib/sock_profile.h): what the exec tracepoint does for a process whose
 * identity has a profile (`profile_mode`, by identity; no entry: nothing). */
enum tether_profile_mode {
	TETHER_PROFILE_LEARN = 1,	/* every exec is reported (EXEC_SEEN): the profile is being learned */
	TETHER_PROFILE_MONITOR = 2,	/* an exec outside `profile_exes` is reported (EXEC_DEVIATION) */
	TETHER_PROFILE_ENFORCE = 3,	/* ... is killed before it runs (EXEC_KILLED), its parent of the
					 * same identity quarantined */
};

/* An enforced profile's destinations: `profile_peers` (a tether_policy_key: src the profiled
 * identity, dst a local listener's identity, port; generation 0) and `profile_cidrs` (a
 * tether_cidr_key LPM trie: src the profiled identity, port, CIDR; generation 0), as connect4/6
 * decide a destination: an identified local listener by identity, anything else by address. */

/* One allowed executable of one identity's profile (`profile_exes` → 1), by file identity. */
struct tether_profile_exe_key {
	__u32 id;
	__u32 dev;		/* super_block->s_dev: major << 20 | minor */
	__u64 ino;
};
TETHER_ABI_ASSERT(sizeof(struct tether_profile_exe_key) == 16);

enum tether_quarantine_reason {
	TETHER_QUARANTINE_EXEC = 1,	/* the kernel: a child's exec was killed (enforce) */
	TETHER_QUARANTINE_AGENT = 2,	/* user space: a deviation the agent saw */
	TETHER_QUARANTINE_CONNECT = 3,	/* the kernel: its own connect outside the profile (enforce) */
};

/* A quarantined process (`quarantined`, by tgid): its connects get EPERM in the cgroup, and its
 * forks inherit the entry. Valid only while the task's leader start time is `start_ns`. */
struct tether_quarantine {
	__u64 start_ns;
	__u64 since_ns;		/* bpf_ktime_get_boot_ns() when quarantined */
	__u32 id;		/* the identity whose profile it deviated from */
	__u8 reason;		/* enum tether_quarantine_reason */
	__u8 coarse;		/* start_ns known to a clock tick only (user space, from /proc) */
	__u8 _pad[2];
};
TETHER_ABI_ASSERT(sizeof(struct tether_quarantine) == 24);

enum tether_profile_event_kind {
	TETHER_PROFILE_EXEC_SEEN = 1,		/* learn: an exec by a process of the identity */
	TETHER_PROFILE_EXEC_DEVIATION = 2,	/* monitor: an exec outside the profile, let run */
	TETHER_PROFILE_EXEC_KILLED = 3,		/* enforce: the same, killed before its first instruction */
	TETHER_PROFILE_CONNECT_REFUSED = 4,	/* enforce: a connect outside `profile_peers` and
						 * `profile_cidrs`, refused (EPERM), the caller quarantined */
};

/* One event of the `profile_events` ring: an exec (or, enforced, a refused connect) by a process
 * of a profiled identity, in the enforcement cgroup. Its own ring: the path and lineage do not
 * fit a tether_sock_event, and widening that would cost every connect event. */
struct tether_profile_event {
	__u64 ktime_ns;		/* bpf_ktime_get_boot_ns() */
	__u64 start_ns;		/* the exec'ing process's leader start_boottime */
	__u64 parent_start_ns;	/* real_parent's: with ppid, the exact parent */
	__u64 exe_ino;
	__u64 cgroup_id;
	__u32 kind;		/* enum tether_profile_event_kind */
	__u32 tgid;
	__u32 ppid;
	__u32 id;		/* the identity whose profile the exec was checked against */
	__u32 exe_dev;		/* super_block->s_dev */
	__u8 mode;		/* enum tether_profile_mode */
	__u8 parent_quarantined; /* 1: the kernel quarantined the parent (enforce) */
	__u8 _pad[2];
	__u32 peer_id;		/* CONNECT_REFUSED: the local listener's identity; 0: by address */
	__u16 port;		/* CONNECT_REFUSED: destination port, host order */
	__u8 family;		/* CONNECT_REFUSED: 4 or 6 (a v4-mapped address is 4) */
	__u8 _pad2;
	__u8 addr[16];		/* CONNECT_REFUSED: destination, network order; IPv4 in addr[0..3] */
	char comm[TETHER_COMM_LEN];	/* exec: the new program's name (exec has set it already) */
	char filename[TETHER_FILENAME_LEN];	/* exec: bprm->filename, as the caller wrote it */
};
TETHER_ABI_ASSERT(sizeof(struct tether_profile_event) == 360);

/* bpf/proc.bpf.c's load-time settings (.rodata.config, set between open and load). */
struct tether_proc_config {
	__u32 wakeup_bytes;	/* wake the consumer once this much is waiting (0: every event) */
	__u8 _pad[4];
};
TETHER_ABI_ASSERT(sizeof(struct tether_proc_config) == 8);

struct tether_err_key {
	__u16 file;		/* enum tether_file_id */
	__u16 line;
	__u32 err;		/* enum tether_err */
};
TETHER_ABI_ASSERT(sizeof(struct tether_err_key) == 8);

#endif /* TETHER_ABI_H */
