/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/* The maps of bpf/sock.bpf.c. Every one is pinned by name under the agent's pin dir: a restarted
 * agent adopts the pinned links, whose programs keep using these very maps, so the new loader must
 * find the same ones (a layout change needs `tether uninstall`). */
#ifndef TETHER_LIB_SOCK_MAPS_H
#define TETHER_LIB_SOCK_MAPS_H

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);			/* tgid */
	__type(value, struct tether_proc_identity);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} proc_identity SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct tether_exe_key);
	__type(value, __u32);			/* identity given at exec */
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} exe_identity SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);			/* cgroup v2 id: what registry entries with one cgroup:path say */
	__type(value, __u32);			/* identity given at exec to a program started in it */
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} cgroup_identity SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);			/* local TCP port, host order */
	__type(value, __u32);			/* identity listening there */
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} listeners SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 131072);		/* two generations of 65,536 rules */
	__type(key, struct tether_policy_key);
	__type(value, __u8);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} policy SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct tether_addr_key);	/* this host's addresses, from user space */
	__type(value, __u8);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} local_addrs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 65536);		/* two generations */
	__uint(map_flags, BPF_F_NO_PREALLOC);	/* the kernel refuses an LPM trie without it */
	__type(key, struct tether_cidr_key);
	__type(value, __u8);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} cidr_policy SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tether_sock_config);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sock_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TETHER_VERDICT_MAX);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} verdicts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);	/* the oldest flows go first when full */
	__uint(max_entries, 65536);
	__type(key, struct tether_flow_key);
	__type(value, struct tether_flow_stats);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 << 10);
	__uint(pinning, LIBBPF_PIN_BY_NAME);	/* adopted programs write here: the new agent reads it */
} sock_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TETHER_SOCK_COUNTER_MAX);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sock_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);	/* required: storage lives and dies with its socket */
	__type(key, int);
	__type(value, struct tether_sock_identity);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} sock_ids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);	/* a client whose server never looked is evicted */
	__uint(max_entries, 65536);
	__type(key, struct tether_conn_key);
	__type(value, __u32);			/* the client's identity */
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} conn_clients SEC(".maps");

/* The mesh (lib/sock_mesh.h): which remotes are meshed, the switch and tunnel port, and where
 * each redirected connect was going, by socket until established, then by its client end. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 16384);
	__uint(map_flags, BPF_F_NO_PREALLOC);	/* the kernel refuses an LPM trie without it */
	__type(key, struct tether_mesh_cidr_key);
	__type(value, __u8);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mesh_cidrs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tether_mesh_config);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mesh_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);	/* a connect that never completed is evicted */
	__uint(max_entries, 65536);
	__type(key, __u64);			/* socket cookie */
	__type(value, struct tether_mesh_origin);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mesh_pending SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);	/* taken by the agent on accept; dropped at close */
	__uint(max_entries, 65536);
	__type(key, struct tether_mesh_origin_key);
	__type(value, struct tether_mesh_origin);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} mesh_origins SEC(".maps");

#endif /* TETHER_LIB_SOCK_MAPS_H */
